#!/usr/bin/env bash
# Connections that sit idle cannot lock their uid out of the agent:
#   - with --max-per-uid 4, four connections that never say HELLO do not
#     keep a fifth client from signing (the longest-idle is closed);
#   - the same with connections that said HELLO and went silent, while a
#     uid whose connections all wait for a signature gets ERROR BUSY
#     (limits.py per-uid, on a slow token);
#   - a connection that sends no HELLO is closed after 5 s with ERROR
#     TIMEOUT; one that said HELLO is kept (limits.py hello);
#   - idle connections are closed after 300 s by default (--check-config).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"

command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
limits=$(dirname "${BASH_SOURCE[0]}")/limits.py
fault_setup
p11a_make_token A 1111 a-ed:ed25519
export P11A_PIN=1111

fault_start_agent --pin-source env:P11A_PIN --workers 2 --max-per-uid 4
p11a_list
ed=$(p11a_identity_id a-ed)
# four connections that say nothing at all, held open meanwhile
exec 5< <(python3 -c '
import socket, sys, time
s = [socket.socket(socket.AF_UNIX) for _ in range(4)]
for c in s:
    c.connect(sys.argv[1])
print("open", flush=True)
time.sleep(60)' "$P11AGENT_SOCK")
mute_pid=$!
read -r -t 10 line <&5 || p11a_fail "could not open the idle connections"
[[ $line == open ]] || p11a_fail "idle connections: $line"
failed=0
p11a_random_file "$P11A_TMP/msg" 200
P11A_OUTPUT=$("$P11A_TRY" sign "$ed" ed25519 "$P11A_TMP/msg" \
	"$P11A_TMP/sig" 2>&1) || true
if [[ ${P11A_OUTPUT%%[ $'\n']*} == OK ]]; then
	p11a_verify "$P11A_TMP/sig" "$P11A_TMP/msg" "$P11A_TMP/A/a-ed.pub.pem" \
		ed25519
	echo "PASS a client signs past 4 connections that never said HELLO"
else
	echo "FAIL 4 mute connections lock the uid out: $P11A_OUTPUT"
	failed=1
fi
exec 5<&-
kill "$mute_pid"

fault_set "delay_ms 1000"
python3 "$limits" per-uid "$P11AGENT_SOCK" 4 "$ed" || failed=1
fault_set "delay_ms 0"
python3 "$limits" hello "$P11AGENT_SOCK" 5 || failed=1
p11a_agent_alive
fault_sign_verify "$ed" ed25519 "$P11A_TMP/A" a-ed
out=$("$P11AGENTD" --no-config --check-config) ||
	p11a_fail "--check-config failed"
if grep -Eq '^idle-timeout = 300$' <<<"$out"; then
	echo "PASS idle connections are closed after 300 s by default"
else
	echo "FAIL default idle timeout: $(grep idle-timeout <<<"$out")"
	failed=1
fi
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
[[ $failed -eq 0 ]] || p11a_fail "idle connections hold the uid's limit"
echo ok
