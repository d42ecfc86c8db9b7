#!/usr/bin/env bash
# An agent killed with SIGKILL leaves its socket behind; a new agent on
# the same path takes it over and works.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

p11a_setup_dir
p11a_make_token tok 1234 e:p256
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN
p11a_list
p11a_sign_verify "${P11A_ID_ID[0]}" ecdsa_secp256r1_sha256 "$P11A_TMP/tok" e

p11a_kill9_agent
[[ -S $P11AGENT_SOCK ]] || p11a_fail "expected a stale socket at $P11AGENT_SOCK"
p11a_expect_exit 3 "$P11AGENT" status # nobody listens there

p11a_start_agent --pin-source env:P11A_PIN
p11a_list
p11a_sign_verify "${P11A_ID_ID[0]}" ecdsa_secp256r1_sha256 "$P11A_TMP/tok" e

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
