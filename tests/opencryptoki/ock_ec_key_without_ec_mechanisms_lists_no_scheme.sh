#!/usr/bin/env bash
# opencryptoki's soft token stores an imported P-256 key but has no EC
# mechanism (no CKM_ECDSA*): the agent lists the key with no scheme
# (`-`), `p11agent list --verbose` says it cannot sign and why, every
# ECDSA scheme is refused with SCHEME_UNSUPPORTED without asking the
# token, and the RSA key next to it signs every scheme.  Skipped, saying
# why, where the premise does not hold (a soft token with ECDSA, or one
# that does not take the key).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/ock_lib.sh"

EC_SCHEMES="ecdsa_sha1 ecdsa_secp256r1_sha256 ecdsa_secp384r1_sha384 ecdsa_secp521r1_sha512"

ock_setup tok 123456 k-rsa:rsa2048 k-ec:p256:import
! ock_has_mechanism ECDSA ||
	p11a_skip "this opencryptoki's soft token has ECDSA: there is no EC key without a mechanism to test"
export P11A_PIN=123456
ock_start_agent --pin-source env:P11A_PIN
p11a_list
[[ ${#P11A_ID_ID[@]} -eq 2 ]] ||
	p11a_fail "list shows ${#P11A_ID_ID[@]} identities, expected 2: ${P11A_ID_URI[*]}"
ec=$(p11a_find_identity k-ec)
[[ ${P11A_ID_TYPE[$ec]} == ec:P-256 && ${P11A_ID_SCHEMES[$ec]} == - ]] ||
	p11a_fail "the EC key is listed as ${P11A_ID_TYPE[$ec]} with schemes '${P11A_ID_SCHEMES[$ec]}', expected ec:P-256 with none (-)"
verbose=$("$P11AGENT" list --verbose | grep -A1 "^${P11A_ID_ID[$ec]} " | tail -n 1)
[[ $verbose == *"signs: none"*"no mechanism"* ]] ||
	p11a_fail "list --verbose does not say the EC key cannot sign: '$verbose'"
echo "ok: the EC key is listed without schemes: $verbose"

p11a_random_file "$P11A_TMP/msg"
for s in $EC_SCHEMES; do
	out=$("$P11A_TRY" sign "${P11A_ID_ID[$ec]}" "$s" "$P11A_TMP/msg" "$P11A_TMP/sig" 2>&1) || true
	[[ $out == SCHEME_UNSUPPORTED* ]] || p11a_fail "sign $s with the EC key gave '$out'"
done
# refused by the agent: the token saw no C_Sign, so no token error
"$P11AGENT" status | awk '$1 == "tok" && $6 != 0 { exit 1 }' ||
	p11a_fail "the token counted errors: $("$P11AGENT" status)"
echo "ok: every ECDSA scheme refused with SCHEME_UNSUPPORTED"

rsa=$(p11a_find_identity k-rsa)
IFS=, read -r -a list <<<"${P11A_ID_SCHEMES[$rsa]}"
[[ ${#list[@]} -eq 8 ]] || p11a_fail "the RSA key lists ${P11A_ID_SCHEMES[$rsa]}"
for s in "${list[@]}"; do
	p11a_sign_verify "${P11A_ID_ID[$rsa]}" "$s" "$TLS_DIR" k-rsa
done
echo "ok: the RSA key signs its ${#list[@]} schemes"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
