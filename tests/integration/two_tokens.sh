#!/usr/bin/env bash
# Two tokens with different PINs, each PIN given in its --identity URI:
# the agent logs in to both and signs with keys on either.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

p11a_setup_dir
p11a_make_token A 1111 a-rsa:rsa2048 a-ec:p256
p11a_make_token B 2222 b-ec:p384 b-ed:ed25519
p11a_start_agent --identity 'pkcs11:token=A?pin-value=1111' \
	--identity 'pkcs11:token=B?pin-value=2222'
p11a_list

names=$(printf '%s\n' "${P11A_ID_NAME[@]}" | sort | paste -sd' ' -)
[[ $names == "a-ec a-rsa b-ec b-ed" ]] ||
	p11a_fail "list shows '$names', expected 'a-ec a-rsa b-ec b-ed'"
for i in "${!P11A_ID_NAME[@]}"; do
	tok=${P11A_ID_NAME[$i]:0:1}
	[[ ${P11A_ID_URI[$i]} == *"token=${tok^^}"* ]] ||
		p11a_fail "${P11A_ID_NAME[$i]} has URI ${P11A_ID_URI[$i]}, not on token ${tok^^}"
done

for pair in "a-rsa A rsa_pss_rsae_sha256" "a-rsa A rsa_pkcs1_sha384" \
	"a-ec A ecdsa_secp256r1_sha256" "b-ec B ecdsa_secp384r1_sha384" \
	"b-ed B ed25519"; do
	read -r name tok scheme <<<"$pair"
	i=$(p11a_find_identity "$name")
	p11a_sign_verify "${P11A_ID_ID[$i]}" "$scheme" "$P11A_TMP/$tok" "$name"
	p11a_sign_verify "${P11A_ID_URI[$i]}" "$scheme" "$P11A_TMP/$tok" "$name"
done

# a signature made on one token does not verify with the other's key
i=$(p11a_find_identity a-ec)
p11a_random_file "$P11A_TMP/msg"
p11a_expect_exit 0 "$P11AGENT" sign --identity "${P11A_ID_ID[$i]}" \
	--scheme ecdsa_secp384r1_sha384 --in "$P11A_TMP/msg" --out "$P11A_TMP/sig"
! p11a_check_sig "$P11A_TMP/sig" "$P11A_TMP/msg" "$P11A_TMP/B/b-ec.pub.pem" \
	ecdsa_secp384r1_sha384 || p11a_fail "A's signature verified with B's key"
p11a_verify "$P11A_TMP/sig" "$P11A_TMP/msg" "$P11A_TMP/A/a-ec.pem" \
	ecdsa_secp384r1_sha384

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
