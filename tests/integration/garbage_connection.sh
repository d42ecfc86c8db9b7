#!/usr/bin/env bash
# Connections that send random bytes, an oversized length or a truncated
# frame are closed by the agent, while `p11agent sign` on another
# connection keeps working and the agent stays up.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
p11a_setup_dir
p11a_make_token tok 1234 e:p256
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN
p11a_list
ec=$(p11a_identity_id e)

msg=$P11A_TMP/msg
p11a_random_file "$msg"
# garbage.py runs this command twice; both runs must succeed
p11a_expect_exit 0 python3 "$(dirname "${BASH_SOURCE[0]}")/garbage.py" \
	"$P11AGENT_SOCK" -- "$P11AGENT" sign --identity "$ec" \
	--scheme ecdsa_secp256r1_sha256 --in "$msg" --out "$P11A_TMP/sig{n}"
for n in 1 2; do
	p11a_verify "$P11A_TMP/sig$n" "$msg" "$P11A_TMP/tok/e.pem" \
		ecdsa_secp256r1_sha256
done

# and the agent is alive and well afterwards
p11a_agent_alive
p11a_expect_exit 0 "$P11AGENT" status
p11a_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/tok" e

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
