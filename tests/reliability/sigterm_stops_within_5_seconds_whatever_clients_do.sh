#!/usr/bin/env bash
# SIGTERM ends the agent within 5 s whatever its clients do: here 20
# connections pipeline 3000 LIST each and read none of the replies (a
# megabyte each that no socket takes), and 4 more keep 512 SIGNs each
# queued on a slow token (40 s of work) and do not read either.  The
# agent must exit 0 within 5 s of the signal.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"

command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
hostile=$(dirname "${BASH_SOURCE[0]}")/hostile.py
fault_setup
p11a_make_token A 1111 a-ed:ed25519
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --workers 1
p11a_list
ed=$(p11a_identity_id a-ed)
fault_set "delay_ms 20"

coproc FLOOD { python3 "$hostile" flood "$P11AGENT_SOCK" 24 --mix 4 \
	--sign "$ed:100" --count 3000; }
read -r -t 120 line <&"${FLOOD[0]}" || p11a_fail "the flood did not settle"
echo "flood: $line"
p11a_agent_alive

pid=$P11A_AGENT_PID
t0=$(now_ms)
kill -TERM "$pid"
for ((i = 0; i < 400; i++)); do
	p11a_pid_alive "$pid" || break
	sleep 0.05
done
t1=$(now_ms)
echo go >&"${FLOOD[1]}"
if p11a_pid_alive "$pid"; then
	kill -KILL "$pid"
	p11a_fail "p11agentd still runs $((t1 - t0)) ms after SIGTERM"
fi
rc=0
wait "$pid" || rc=$?
P11A_AGENT_PID=
wait "$FLOOD_PID" || true
echo "stopped $((t1 - t0)) ms after SIGTERM, status $rc"
((t1 - t0 <= 5000)) ||
	p11a_fail "shutdown took $((t1 - t0)) ms, more than 5 s"
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
