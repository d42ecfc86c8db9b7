#!/usr/bin/env bash
# While 8 threads open connection after connection that send random
# bytes, huge or short lengths, truncated frames, requests before HELLO,
# or close in the middle of pipelined SIGNs, 16 well-behaved connections
# sign 6,000 times: every request succeeds and verifies, every garbage
# connection that must be closed is closed, and the agent's RSS does not
# grow past the margin after warm-up.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/stress.sh"

# ASan slows SoftHSM a hundredfold: fewer signatures there, same checks
total=6000
[[ ${P11A_SANITIZED:-0} == 1 ]] && total=1500
stress_setup
p11a_expect_exit 0 "$P11A_STRESS" --connections 16 --depth 8 \
	--total "$total" --garbage 8 "${STRESS_RSS[@]}" \
	"${STRESS_KEYS[@]}"
echo "$P11A_OUTPUT"
garbage=$(sed -n 's/.* garbage=\([0-9]*\) .*/\1/p' <<<"$P11A_OUTPUT")
((garbage >= 100)) ||
	p11a_fail "only $garbage garbage connections were made"
p11a_agent_alive
p11a_sign_verify "$(p11a_identity_id a-ec)" ecdsa_secp256r1_sha256 \
	"$P11A_TMP/A" a-ec
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
