#!/usr/bin/env bash
# `eval "$(p11agentd ...)"` starts a detached agent that signs (OpenSSL
# verifies); `eval "$(p11agentd -k)"` stops the agent $P11AGENT_SOCK
# names: it waits until the agent has exited (its socket is gone), and
# prints the commands that unset P11AGENT_SOCK and P11AGENT_PID (csh
# ones with -c).  -k needs no configuration file (a broken one does not
# stop it); with no agent, no P11AGENT_SOCK, or a socket that is not a
# p11agentd's it fails and kills nothing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/cfglib.sh"

cfg_setup
p11a_make_token tok 11223 e:p256
dir=$P11A_TMP/tok
printf '11223\n' >"$P11A_TMP/pin"
mkdir -m 0700 "$P11A_TMP/agent"
sock=$P11A_TMP/agent/agent.sock

# start_detached [-c]: p11agentd without --foreground, its output eval'd.
start_detached() {
	local out
	out=$("$P11AGENTD" "$@" --no-config --socket "$sock" \
		--module "$P11A_MODULE" --pin-source "file:$P11A_TMP/pin" \
		2>>"$P11A_AGENT_LOG") || p11a_fail "p11agentd did not start"
	P11A_OUTPUT=$out
}

p11a_log "start detached and sign"
unset P11AGENT_SOCK P11AGENT_PID
start_detached
eval "$P11A_OUTPUT" >/dev/null
[[ $P11AGENT_SOCK == "$sock" ]] || p11a_fail "P11AGENT_SOCK is '$P11AGENT_SOCK'"
P11A_AGENT_PID=$P11AGENT_PID
p11a_agent_alive
p11a_list
e=$(p11a_identity_id e)
p11a_sign_verify "$e" ecdsa_secp256r1_sha256 "$dir" e

p11a_log "-k ignores a broken configuration file"
mkdir -p "$XDG_CONFIG_HOME/p11agent"
printf 'this is not a configuration\n' >"$XDG_CONFIG_HOME/p11agent/agent.conf"
p11a_expect_exit 0 "$P11AGENTD" -k
grep -qx 'unset P11AGENT_SOCK;' <<<"$P11A_OUTPUT" ||
	p11a_fail "-k did not print 'unset P11AGENT_SOCK;': $P11A_OUTPUT"
grep -qx "echo Agent pid $P11A_AGENT_PID killed;" <<<"$P11A_OUTPUT" ||
	p11a_fail "-k did not name the pid it killed: $P11A_OUTPUT"
# -k returns once the agent is gone, socket removed
p11a_pid_alive "$P11A_AGENT_PID" && p11a_fail "the agent still runs after -k"
[[ ! -e $sock ]] || p11a_fail "the socket is still there after -k"
eval "$P11A_OUTPUT" >/dev/null
[[ -z ${P11AGENT_SOCK:-} && -z ${P11AGENT_PID:-} ]] ||
	p11a_fail "the printed commands did not unset the variables"
P11A_AGENT_PID=
rm -f "$XDG_CONFIG_HOME/p11agent/agent.conf"

p11a_log "-c -k prints csh commands"
start_detached -c
P11A_AGENT_PID=$(sed -n 's/^setenv P11AGENT_PID \([0-9]*\);$/\1/p' <<<"$P11A_OUTPUT")
[[ -n $P11A_AGENT_PID ]] || p11a_fail "-c printed no setenv line: $P11A_OUTPUT"
p11a_expect_exit 0 env P11AGENT_SOCK="$sock" "$P11AGENTD" -c -k
grep -qx 'unsetenv P11AGENT_SOCK;' <<<"$P11A_OUTPUT" ||
	p11a_fail "-c -k did not print unsetenv: $P11A_OUTPUT"
p11a_pid_alive "$P11A_AGENT_PID" && p11a_fail "the agent still runs after -c -k"
P11A_AGENT_PID=

p11a_log "no agent at the socket"
p11a_expect_exit 1 env P11AGENT_SOCK="$sock" "$P11AGENTD" -k
p11a_expect_output_matches "no agent at $sock"
p11a_log "no P11AGENT_SOCK"
p11a_expect_exit 1 env -u P11AGENT_SOCK "$P11AGENTD" -k
p11a_expect_output_matches 'P11AGENT_SOCK is not set'

p11a_log "a socket that some other program listens on: nothing is killed"
command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
time.sleep(120)' "$P11A_TMP/other.sock" &
other=$!
CFG_KILL_PIDS+=("$other")
for ((i = 0; i < 200; i++)); do
	[[ -S $P11A_TMP/other.sock ]] && break
	sleep 0.05
done
p11a_expect_exit 1 env P11AGENT_SOCK="$P11A_TMP/other.sock" "$P11AGENTD" -k
p11a_expect_output_matches "created by pid $other \(python3\), not by a p11agentd"
p11a_pid_alive "$other" || p11a_fail "-k killed a program that is not an agent"
echo ok
