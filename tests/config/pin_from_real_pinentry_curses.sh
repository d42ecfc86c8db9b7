#!/usr/bin/env bash
# The real pinentry-curses, driven as a user at a terminal would: the
# agent runs on a pseudo-terminal, tells pinentry-curses where to draw
# (OPTION ttyname/ttytype), the PIN is typed into its dialog, and the
# agent logs in and signs (OpenSSL verifies).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/cfglib.sh"

cfg_setup
pinentry=$(command -v pinentry-curses || true)
[[ -n $pinentry ]] || p11a_skip "pinentry-curses not installed"
command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
p11a_make_token tok 314159 e:p256
dir=$P11A_TMP/tok
mkdir -m 0700 "$P11A_TMP/agent"
export P11AGENT_SOCK=$P11A_TMP/agent/agent.sock

DRIVE_PIN=314159 TERM=xterm python3 "$CFG_DIR/pty-drive.py" \
	"$P11A_TMP/agent.pid" "$P11A_TMP/screen" \
	"$P11AGENTD" --no-config --foreground --socket "$P11AGENT_SOCK" \
	--module "$P11A_MODULE" --pin-source "pinentry:$pinentry" \
	</dev/null >"$P11A_AGENT_LOG" 2>&1 &
driver=$!
CFG_KILL_PIDS+=("$driver")
P11A_AGENT_PID=$(cfg_wait_line "$P11A_TMP/agent.pid" 1)
for ((i = 0; i < 400; i++)); do
	"$P11AGENT" status >/dev/null 2>&1 && break
	p11a_pid_alive "$P11A_AGENT_PID" ||
		p11a_fail "the agent exited: $(tr -c '[:print:]\n' ' ' <"$P11A_TMP/screen" | tail -5)"
	sleep 0.05
done
grep -aq 'PIN for the PKCS#11 tokens' "$P11A_TMP/screen" ||
	p11a_fail "pinentry-curses did not show the description on the terminal"
p11a_list
e=$(p11a_identity_id e)
p11a_sign_verify "$e" ecdsa_secp256r1_sha256 "$dir" e
grep -aq 314159 "$P11A_TMP/screen" && p11a_fail "the PIN was echoed"
kill -TERM "$P11A_AGENT_PID"
rc=0
wait "$driver" || rc=$?
P11A_AGENT_PID=
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM"
echo ok
