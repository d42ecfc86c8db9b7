# shellcheck shell=bash
# A throwaway OpenSSH server for tests: its own host key, an authorized
# key for the current user, on a free loopback port, run as a child of
# the test (sshd -D) and killed by p11a_sshd_stop.  Source after lib.sh
# and p11a_setup_dir.
#
#   p11a_sshd_start         start it; sets P11A_SSHD_PID, P11A_SSH_PORT
#   "${P11A_SSH[@]}" ARGS   ssh to it as the current user, batch mode,
#                           the throwaway key, the host key pinned
#   p11a_sshd_stop

P11A_SSHD_PID=
P11A_SSH_PORT=

p11a_sshd_require() {
	local t
	for t in sshd ssh ssh-keygen; do
		command -v "$t" >/dev/null 2>&1 ||
			[[ -x /usr/sbin/$t ]] ||
			p11a_skip "$t not installed (openssh-server, openssh-client)"
	done
}

# A port nobody listens on now (the kernel picks it).
p11a_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

p11a_sshd_start() {
	local d=$P11A_TMP/sshd sshd i
	sshd=$(command -v sshd || echo /usr/sbin/sshd)
	mkdir -m 0700 "$d"
	ssh-keygen -q -t ed25519 -N '' -C p11a-host -f "$d/host_key"
	ssh-keygen -q -t ed25519 -N '' -C p11a-user -f "$d/user_key"
	cp "$d/user_key.pub" "$d/authorized_keys"
	if [[ $(id -u) -eq 0 && ! -d /run/sshd ]]; then
		# sshd running as root wants its privilege separation directory,
		# which the ssh service would make at boot
		mkdir -m 0755 /run/sshd
	fi
	P11A_SSH_PORT=$(p11a_free_port)
	printf '[127.0.0.1]:%s %s\n' "$P11A_SSH_PORT" "$(cut -d' ' -f1,2 "$d/host_key.pub")" \
		>"$d/known_hosts"
	cat >"$d/sshd_config" <<-EOF
		ListenAddress 127.0.0.1
		Port $P11A_SSH_PORT
		HostKey $d/host_key
		PidFile none
		AuthorizedKeysFile $d/authorized_keys
		AllowUsers $(id -un)
		StrictModes no
		UsePAM no
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		PermitRootLogin prohibit-password
		AllowStreamLocalForwarding yes
		StreamLocalBindUnlink yes
		StreamLocalBindMask 0177
		LogLevel VERBOSE
	EOF
	# sshd re-executes itself, so it needs its absolute path
	"$sshd" -D -e -f "$d/sshd_config" 2>"$d/sshd.log" &
	P11A_SSHD_PID=$!
	for ((i = 0; i < P11A_TIMEOUT * 20; i++)); do
		p11a_pid_alive "$P11A_SSHD_PID" || {
			cat "$d/sshd.log" >&2
			p11a_fail "sshd exited during start-up"
		}
		if (exec 3<>"/dev/tcp/127.0.0.1/$P11A_SSH_PORT") 2>/dev/null; then
			p11a_ssh_options
			return 0
		fi
		sleep 0.05
	done
	p11a_fail "sshd does not listen on port $P11A_SSH_PORT"
}

# The ssh options for it, in P11A_SSH (an array): run `ssh "${P11A_SSH[@]}"`
# directly, so that a background job's $! is ssh itself.
p11a_ssh_options() {
	local d=$P11A_TMP/sshd
	# shellcheck disable=SC2034 # used by the scripts that source this
	P11A_SSH=(ssh -F /dev/null -p "$P11A_SSH_PORT" -i "$d/user_key"
		-o IdentitiesOnly=yes -o BatchMode=yes
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$d/known_hosts"
		-o ExitOnForwardFailure=yes -o LogLevel=ERROR)
}

p11a_sshd_stop() {
	[[ -n $P11A_SSHD_PID ]] || return 0
	kill -TERM "$P11A_SSHD_PID" 2>/dev/null || true
	wait "$P11A_SSHD_PID" 2>/dev/null || true
	P11A_SSHD_PID=
}
