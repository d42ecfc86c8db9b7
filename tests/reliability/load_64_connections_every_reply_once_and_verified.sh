#!/usr/bin/env bash
# 64 connections each keep 16 SIGNs in flight, 20,000 in all over three
# tokens and four key types: every reply answers exactly one outstanding
# request id, every signature verifies (OpenSSL, keys from the token
# maker), no request fails, and the agent's RSS at the end (connections
# still open) is within 10% (at least 8 MiB) of its RSS after warm-up.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/stress.sh"

# Under ASan (full unwinding) SoftHSM signs some 100 times slower: the
# same 64 pipelined connections, fewer signatures, so the check of every
# reply stays and the run stays within the request timeout and CI time.
total=20000 depth=16
if [[ ${P11A_SANITIZED:-0} == 1 ]]; then
	total=2000 depth=2
fi
stress_setup
p11a_expect_exit 0 "$P11A_STRESS" --connections 64 --depth "$depth" \
	--total "$total" "${STRESS_RSS[@]}" "${STRESS_KEYS[@]}"
echo "$P11A_OUTPUT"
p11a_agent_alive
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
