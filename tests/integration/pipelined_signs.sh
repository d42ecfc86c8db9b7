#!/usr/bin/env bash
# 200 SIGN requests in flight on one connection (pipeline_test.c) across
# RSA, ECDSA and Ed25519 identities: every reply arrives once and every
# signature verifies.  Then the same with the requests queued in the
# library (p11a_client_queue_sign) and written by a flush, by a call made
# in between and by the first receive; again with an agent that takes
# frames of at most 4 KiB (the queue goes out when it is full).  Last, a
# request queued on a connection the agent closed (--idle-timeout 1) is
# reported lost, not silently dropped by a reconnecting call.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -n ${P11A_PIPELINE_TEST:-} && -x $P11A_PIPELINE_TEST ]] ||
	p11a_fail "P11A_PIPELINE_TEST must name the pipeline_test binary"
p11a_setup_dir
p11a_make_token tok 1234 r:rsa2048 e:p256 e384:p384 ed:ed25519
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN --workers 2
p11a_expect_exit 0 "$P11A_PIPELINE_TEST" "$P11AGENT_SOCK"
echo "$P11A_OUTPUT"
p11a_expect_output_matches '4 identities, 200 signatures verified$'
p11a_expect_exit 0 "$P11A_PIPELINE_TEST" --queue "$P11AGENT_SOCK"
echo "$P11A_OUTPUT"
p11a_expect_output_matches '4 identities, 200 signatures verified \(queued\)'
p11a_stop_agent

p11a_start_agent --pin-source env:P11A_PIN --workers 2 --max-frame 4096 \
	--idle-timeout 1
p11a_expect_exit 0 "$P11A_PIPELINE_TEST" --queue "$P11AGENT_SOCK"
echo "$P11A_OUTPUT"
p11a_expect_output_matches '4 identities, 200 signatures verified \(queued\)'
p11a_expect_exit 0 "$P11A_PIPELINE_TEST" --lost "$P11AGENT_SOCK"
echo "$P11A_OUTPUT"
p11a_expect_output_matches 'lost request was reported'

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
