#!/usr/bin/env bash
# The agent reached from "another host" through OpenSSH's own Unix socket
# forwarding, with a real sshd on a loopback port:
#   1. `ssh -N -R REMOTE:$P11AGENT_SOCK` makes REMOTE (mode 0600, by
#      sshd's StreamLocalBindMask); through it p11agent lists the same
#      identities and signs with each key (verified with OpenSSL);
#   2. a remote command given to `ssh -R` signs through the forward it
#      set up (the forward is ready before the command runs), and so
#      does one run by contrib/ssh/p11agent-ssh, which sets P11AGENT_SOCK,
#      and one with RemoteForward ${P11AGENT_SOCK} in an ssh_config;
#   3. after the forwarding ssh died, leaving REMOTE behind, a new one
#      binds the same path (sshd's StreamLocalBindUnlink) and signs;
#   4. with the forwarding gone, nothing answers at REMOTE.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/../integration/lib.sh"
. "$here/sshd.sh"

p11a_sshd_require
command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
p11a_setup_dir
forwards=() # pids of the forwarding ssh clients
stop_all() {
	local pid
	for pid in "${forwards[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	p11a_sshd_stop
}
# keep the test's status for p11a_cleanup, which reads $? first
# shellcheck disable=SC2154 # rc is set by the trap itself
trap 'rc=$?; set +e; stop_all; (exit "$rc"); p11a_cleanup' EXIT

p11a_make_token fwd 9753 k-rsa:rsa2048 k-p384:p384 k-ed:ed25519
export P11A_PIN=9753
p11a_start_agent --pin-source env:P11A_PIN
local_sock=$P11AGENT_SOCK
p11a_list
local_ids=$(printf '%s\n' "${P11A_ID_ID[@]}" | sort)
p11a_sshd_start
user=$(id -un)

# the "remote" side: a private directory of the remote user
mkdir -m 0700 "$P11A_TMP/remote"
remote=$P11A_TMP/remote/agent.sock

# forward_start REMOTE_PATH: `ssh -N -R` in the background, wait for it
forward_start() {
	local i
	"${P11A_SSH[@]}" -N -R "$1:$local_sock" "$user@127.0.0.1" \
		2>>"$P11A_TMP/ssh.log" &
	forwards+=($!)
	for ((i = 0; i < P11A_TIMEOUT * 20; i++)); do
		[[ -S $1 ]] && "$P11AGENT" --socket "$1" status >/dev/null 2>&1 && return 0
		p11a_pid_alive "$!" || break
		sleep 0.05
	done
	cat "$P11A_TMP/ssh.log" "$P11A_TMP/sshd/sshd.log" >&2
	p11a_fail "ssh -R $1:$local_sock did not come up"
}

sign_through() { # sign_through SOCKET NAME SCHEME
	local id
	id=$(p11a_identity_id "$2")
	p11a_random_file "$P11A_TMP/msg"
	rm -f "$P11A_TMP/sig"
	p11a_expect_exit 0 "$P11AGENT" --socket "$1" sign --identity "$id" \
		--scheme "$3" --in "$P11A_TMP/msg" --out "$P11A_TMP/sig"
	p11a_verify "$P11A_TMP/sig" "$P11A_TMP/msg" "$P11A_TMP/fwd/$2.pub.pem" "$3"
}

p11a_log "1. ssh -N -R $remote:$local_sock"
forward_start "$remote"
[[ $(stat -c %a "$remote") == 600 ]] ||
	p11a_fail "forwarded socket has mode $(stat -c %a "$remote"), expected 600"
[[ $remote != "$local_sock" ]] || p11a_fail "not a forwarded path"
got=$(P11AGENT_SOCK=$remote "$P11AGENT" list | cut -d' ' -f1 | sort)
[[ $got == "$local_ids" ]] || p11a_fail "the forwarded socket lists other identities: $got"
sign_through "$remote" k-rsa rsa_pss_rsae_sha256
sign_through "$remote" k-rsa rsa_pkcs1_sha384
sign_through "$remote" k-p384 ecdsa_secp384r1_sha384
sign_through "$remote" k-ed ed25519
# the agent counted them: the requests went to it, not elsewhere
signs=$(P11AGENT_SOCK=$local_sock "$P11AGENT" status | awk '$1 == "fwd" {print $(NF-2)}')
[[ $signs == 4 ]] || p11a_fail "the agent made '$signs' signatures, expected 4"

p11a_log "2. a remote command signs through the forward ssh -R sets up"
remote2=$P11A_TMP/remote/cmd.sock
id=$(p11a_identity_id k-p384)
p11a_random_file "$P11A_TMP/msg2"
"${P11A_SSH[@]}" -R "$remote2:$local_sock" "$user@127.0.0.1" \
	"$P11AGENT --socket $remote2 sign --identity $id --scheme ecdsa_secp384r1_sha384" \
	<"$P11A_TMP/msg2" >"$P11A_TMP/sig2" 2>>"$P11A_TMP/ssh.log" || {
	cat "$P11A_TMP/ssh.log" >&2
	p11a_fail "remote p11agent sign through ssh -R failed"
}
p11a_verify "$P11A_TMP/sig2" "$P11A_TMP/msg2" "$P11A_TMP/fwd/k-p384.pub.pem" ecdsa_secp384r1_sha384

p11a_log "2b. contrib/ssh/p11agent-ssh runs a remote command with P11AGENT_SOCK set"
d=$P11A_TMP/sshd
one_word=(-F/dev/null "-p$P11A_SSH_PORT" "-i$d/user_key" -oIdentitiesOnly=yes
	-oBatchMode=yes -oStrictHostKeyChecking=yes "-oUserKnownHostsFile=$d/known_hosts"
	-oLogLevel=ERROR)
id=$(p11a_identity_id k-rsa)
P11AGENT_REMOTE_SOCK=$P11A_TMP/remote/wrapper.sock \
	"$here/../../contrib/ssh/p11agent-ssh" "${one_word[@]}" "$user@127.0.0.1" \
	"$P11AGENT" sign --identity "$id" --scheme rsa_pss_rsae_sha512 \
	<"$P11A_TMP/msg2" >"$P11A_TMP/sig3" 2>>"$P11A_TMP/ssh.log" || {
	cat "$P11A_TMP/ssh.log" >&2
	p11a_fail "p11agent-ssh: remote p11agent sign failed"
}
p11a_verify "$P11A_TMP/sig3" "$P11A_TMP/msg2" "$P11A_TMP/fwd/k-rsa.pub.pem" rsa_pss_rsae_sha512

p11a_log "2c. RemoteForward in an ssh_config, with \${P11AGENT_SOCK} and %r"
cat >"$P11A_TMP/ssh_config" <<EOF
Host fwd-test
	HostName 127.0.0.1
	RemoteForward $P11A_TMP/remote/%r.sock \${P11AGENT_SOCK}
	ExitOnForwardFailure yes
EOF
# P11A_SSH without its "-F /dev/null"
ssh -F "$P11A_TMP/ssh_config" "${P11A_SSH[@]:3}" "$user@fwd-test" \
	"$P11AGENT --socket $P11A_TMP/remote/$user.sock sign --identity $id --scheme rsa_pkcs1_sha256" \
	<"$P11A_TMP/msg2" >"$P11A_TMP/sig4" 2>>"$P11A_TMP/ssh.log" || {
	cat "$P11A_TMP/ssh.log" >&2
	p11a_fail "ssh with RemoteForward from ssh_config: remote sign failed"
}
p11a_verify "$P11A_TMP/sig4" "$P11A_TMP/msg2" "$P11A_TMP/fwd/k-rsa.pub.pem" rsa_pkcs1_sha256

p11a_log "3. the forwarding ssh died: a new one rebinds the path"
kill -KILL "${forwards[0]}"
wait "${forwards[0]}" 2>/dev/null || true
for ((i = 0; i < 100; i++)); do
	"$P11AGENT" --socket "$remote" status >/dev/null 2>&1 || break
	sleep 0.05
done
! "$P11AGENT" --socket "$remote" status >/dev/null 2>&1 ||
	p11a_fail "the forward still answers after its ssh was killed"
# sshd 9.2 leaves the socket file behind; make sure one is there anyway
if [[ ! -S $remote ]]; then
	python3 -c 'import socket, sys
socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$remote"
fi
[[ -S $remote ]] || p11a_fail "no stale socket at $remote"
forward_start "$remote"
sign_through "$remote" k-ed ed25519

p11a_log "4. forwarding stopped: nothing answers"
kill -TERM "${forwards[1]}"
wait "${forwards[1]}" 2>/dev/null || true
for ((i = 0; i < 100; i++)); do
	"$P11AGENT" --socket "$remote" status >/dev/null 2>&1 || break
	sleep 0.05
done
p11a_expect_exit 3 "$P11AGENT" --socket "$remote" list
p11a_agent_alive

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM"
echo "ok: signed through ssh -R forwarded sockets"
