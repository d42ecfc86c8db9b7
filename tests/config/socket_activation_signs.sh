#!/usr/bin/env bash
# Socket activation as systemd does it (tests/config/activate.py binds
# the socket, and on the first connection starts p11agentd with it as
# fd 3, LISTEN_PID = the agent's pid, LISTEN_FDS=1): the agent serves the
# passed socket without binding one, stays in the foreground (no fork:
# the pid the launcher started is the one serving), logs to stderr,
# hides LISTEN_* from the programs it runs, signs (OpenSSL verifies),
# leaves the socket in place at exit so that the next connection starts
# it again, and refuses -k (the socket is the launcher's).  A LISTEN_PID
# for another process is ignored; a passed socket that does not listen
# is refused.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/cfglib.sh"

cfg_setup
command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
p11a_make_token tok 13579 e:p256 r:rsa2048
dir=$P11A_TMP/tok
mkdir -m 0700 "$P11A_TMP/run"
sock=$P11A_TMP/run/agent.sock
pids=$P11A_TMP/agent.pids
launcher=
export FAKE_PINENTRY_DATA=13579 FAKE_PINENTRY_ENV=$P11A_TMP/pinentry.env
# the launcher's environment has LISTEN_* too: the agent must drop them
export P11AGENT_SOCK=$sock

# run_launcher SOCKET [LAUNCHER-OPTIONS...] -- [P11AGENTD-ARGS...]:
# activate.py in the background, p11agentd with SoftHSM and the fake
# pinentry as its PIN source.
run_launcher() {
	local sock=$1 opts=()
	shift
	while [[ $1 != -- ]]; do
		opts+=("$1")
		shift
	done
	shift
	python3 "$CFG_DIR/activate.py" "${opts[@]}" --pidfile "$pids" "$sock" \
		"$P11AGENTD" --no-config --module "$P11A_MODULE" \
		--pin-source "pinentry:$CFG_DIR/fake-pinentry" "$@" \
		</dev/null >>"$P11A_TMP/agent.stdout" 2>>"$P11A_AGENT_LOG" &
	launcher=$!
	CFG_KILL_PIDS+=("$launcher")
	local i
	for ((i = 0; i < 200; i++)); do
		[[ -S $sock ]] && return 0
		sleep 0.05
	done
	p11a_fail "activate.py did not bind $sock"
}

# The pid of the run-th agent the launcher started (it writes the pid
# after the fork: wait for it).
agent_pid() {
	cfg_wait_line "$pids" "$1"
}

stop_agent_pid() {
	local pid=$1 i
	kill -TERM "$pid"
	for ((i = 0; i < 200; i++)); do
		p11a_pid_alive "$pid" || return 0
		sleep 0.05
	done
	p11a_fail "agent $pid did not exit on SIGTERM"
}

p11a_log "the first connection starts the agent on the passed socket"
run_launcher "$sock" --runs 2 --
[[ ! -e $pids ]] || p11a_fail "the agent started before any connection"
p11a_expect_exit 0 timeout 60 "$P11AGENT" status
P11A_AGENT_PID=$(agent_pid 1)
p11a_pid_alive "$P11A_AGENT_PID" || p11a_fail "the started agent is gone (did it fork?)"
ppid=$(awk '{print $4}' "/proc/$P11A_AGENT_PID/stat")
[[ $ppid == "$launcher" ]] ||
	p11a_fail "the serving agent is not the launcher's child (parent $ppid)"
grep -q "listening on $sock (passed by the service manager)" "$P11A_AGENT_LOG" ||
	p11a_fail "no 'listening on ... passed' line on stderr"
grep -q 'P11AGENT_SOCK=' "$P11A_TMP/agent.stdout" &&
	p11a_fail "a socket-activated agent printed shell commands"
[[ -s $FAKE_PINENTRY_ENV ]] || p11a_fail "the PIN did not come from pinentry"
grep -q '^LISTEN_' "$FAKE_PINENTRY_ENV" &&
	p11a_fail "the agent passed LISTEN_* on to pinentry"

p11a_list
e=$(p11a_identity_id e)
r=$(p11a_identity_id r)
p11a_sign_verify "$e" ecdsa_secp256r1_sha256 "$dir" e
p11a_sign_verify "$r" rsa_pss_rsae_sha256 "$dir" r

p11a_log "-k refuses: the socket belongs to the service manager"
p11a_expect_exit 1 "$P11AGENTD" -k
p11a_expect_output_matches 'not by a p11agentd'
p11a_agent_alive

p11a_log "at exit the agent leaves the socket; the next client starts it again"
stop_agent_pid "$P11A_AGENT_PID"
[[ -S $sock ]] || p11a_fail "the agent removed the passed socket"
msg=$P11A_TMP/msg2 sig=$P11A_TMP/sig2
p11a_random_file "$msg"
p11a_expect_exit 0 timeout 60 "$P11AGENT" sign --identity "$r" \
	--scheme rsa_pkcs1_sha384 --in "$msg" --out "$sig"
p11a_verify "$sig" "$msg" "$dir/r.pub.pem" rsa_pkcs1_sha384
P11A_AGENT_PID=$(agent_pid 2)
[[ $P11A_AGENT_PID != "$(agent_pid 1)" ]] || p11a_fail "no second agent"
stop_agent_pid "$P11A_AGENT_PID"
rc=0
wait "$launcher" || rc=$?
launcher=
[[ $rc -eq 0 ]] || p11a_fail "the second agent exited $rc on SIGTERM"

p11a_log "LISTEN_PID of another process: ignored, the agent binds its own"
rm -f "$pids" "$P11A_TMP/run2.sock"
own=$P11A_TMP/agent/own.sock
[[ -d $P11A_TMP/agent ]] || mkdir -m 0700 "$P11A_TMP/agent"
run_launcher "$P11A_TMP/run2.sock" --now --wrong-pid -- \
	--foreground --socket "$own"
P11A_AGENT_PID=$(agent_pid 1)
export P11AGENT_SOCK=$own
p11a_wait_agent "$P11A_AGENT_PID" || p11a_fail "the agent did not start"
grep -q "listening on $own\$" "$P11A_AGENT_LOG" ||
	p11a_fail "the agent did not bind its own socket"
p11a_sign_verify "$e" ecdsa_secp256r1_sha256 "$dir" e
stop_agent_pid "$P11A_AGENT_PID"
wait "$launcher" || true
launcher=
[[ ! -e $own ]] || p11a_fail "the agent did not remove the socket it bound"

p11a_log "a passed socket that does not listen is refused"
rm -f "$pids"
rc=0
python3 "$CFG_DIR/activate.py" --not-listening --pidfile "$pids" \
	"$P11A_TMP/run3.sock" "$P11AGENTD" --no-config --module "$P11A_MODULE" \
	>"$P11A_TMP/out3" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || p11a_fail "p11agentd with a non-listening socket exited $rc: $(cat "$P11A_TMP/out3")"
grep -q 'not a listening AF_UNIX stream socket' "$P11A_TMP/out3" ||
	p11a_fail "no reason given: $(cat "$P11A_TMP/out3")"
echo ok
