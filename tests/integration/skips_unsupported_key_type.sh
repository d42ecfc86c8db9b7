#!/usr/bin/env bash
# A DSA key (a type the agent cannot use) next to usable keys: the agent
# lists exactly the usable ones, logs the skipped key once, and signs
# with the others.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

p11a_setup_dir
p11a_make_token tok 1234 legacy-dsa:dsa e:p256 r:rsa2048
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN
p11a_list

names=$(printf '%s\n' "${P11A_ID_NAME[@]}" | sort | paste -sd' ' -)
[[ $names == "e r" ]] ||
	p11a_fail "list shows identities '$names', expected exactly 'e r'"

n=$(grep -c 'legacy-dsa' "$P11A_AGENT_LOG" || true)
[[ $n -eq 1 ]] || {
	cat "$P11A_AGENT_LOG" >&2
	p11a_fail "agent log mentions the DSA key on $n lines, expected 1"
}

dir=$P11A_TMP/tok
ec=$(p11a_identity_id e)
rsa=$(p11a_identity_id r)
p11a_sign_verify "$ec" ecdsa_secp256r1_sha256 "$dir" e
p11a_sign_verify "$rsa" rsa_pss_rsae_sha256 "$dir" r
# the DSA key cannot be reached by URI either
p11a_random_file "$P11A_TMP/msg"
p11a_expect_exit 4 "$P11AGENT" sign --identity 'pkcs11:token=tok;object=legacy-dsa' \
	--scheme rsa_pkcs1_sha256 --in "$P11A_TMP/msg" --out "$P11A_TMP/sig"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
