#!/usr/bin/env bash
# A token slower than the loop rescue time (a smartcard: 150 ms per
# signature here) must not be signed on by the event loop in place: each
# such signature would leave the loop unattended past 100 ms and make the
# monitor start a thread for it (and log a warning) every time.  After
# the first signature shows how slow the token is, its requests go to the
# workers: five signatures in a row, at most one rescue.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
p11a_make_token A 1111 a-ec:p256
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --workers 2 --loops 1
p11a_list
a=$(p11a_identity_id a-ec)

fault_set "token A" "delay_ms 150"
for _ in 1 2 3 4 5; do
	fault_sign_verify "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
done
n=$(grep -c "every thread is waiting for a token" "$P11A_AGENT_LOG" || true)
((n <= 1)) ||
	p11a_fail "the loop was rescued $n times for 5 signatures on a slow card"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
