#!/usr/bin/env bash
# Two tokens on one TPM (tpm2-pkcs11 gives every token the serial
# 0000000000000000 and the same model), each with a P-256 key of the same
# label and CKA_ID: two identities, and each signs with its own key,
# by id and by the listed URI, verified against each key's public key
# (and not against the other's).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tpm_lib.sh"

tpm_setup
mkdir -p "$TLS_DIR/A" "$TLS_DIR/B"
"$P11A_TPM" token "$TPM_DIR" tpmA 123456 "$TLS_DIR/A" k:p256 >/dev/null ||
	p11a_fail "cannot make TPM token tpmA"
"$P11A_TPM" token "$TPM_DIR" tpmB 123456 "$TLS_DIR/B" k:p256 >/dev/null ||
	p11a_fail "cannot make TPM token tpmB"
[[ $(cat "$TLS_DIR/A/k.id") == $(cat "$TLS_DIR/B/k.id") ]] ||
	p11a_fail "the two keys do not share a CKA_ID: test set-up is wrong"
! cmp -s "$TLS_DIR/A/k.pub.pem" "$TLS_DIR/B/k.pub.pem" ||
	p11a_fail "the two keys are one key pair: test set-up is wrong"
export P11A_PIN=123456
tpm_start_agent --pin-source env:P11A_PIN
p11a_list
[[ ${#P11A_ID_ID[@]} -eq 2 && ${P11A_ID_ID[0]} != "${P11A_ID_ID[1]}" ]] ||
	p11a_fail "expected two identities with two ids: ${P11A_ID_ID[*]}"
for i in 0 1; do
	[[ ${P11A_ID_URI[$i]} == *serial=0000000000000000* ]] ||
		p11a_fail "the tokens do not look alike: ${P11A_ID_URI[$i]}"
done
for i in 0 1; do
	case ${P11A_ID_URI[$i]} in
	*token=tpmA*) own=A other=B ;;
	*token=tpmB*) own=B other=A ;;
	*) p11a_fail "identity of neither token: ${P11A_ID_URI[$i]}" ;;
	esac
	for ident in "${P11A_ID_ID[$i]}" "${P11A_ID_URI[$i]}"; do
		p11a_random_file "$P11A_TMP/m"
		p11a_expect_exit 0 "$P11AGENT" sign --identity "$ident" \
			--scheme ecdsa_secp256r1_sha256 --in "$P11A_TMP/m" --out "$P11A_TMP/s"
		p11a_verify "$P11A_TMP/s" "$P11A_TMP/m" "$TLS_DIR/$own/k.pub.pem" \
			ecdsa_secp256r1_sha256
		! openssl dgst -sha256 -verify "$TLS_DIR/$other/k.pub.pem" \
			-signature "$P11A_TMP/s" "$P11A_TMP/m" >/dev/null 2>&1 ||
			p11a_fail "$ident signed with token $other's key"
	done
	echo "ok: token $own's identity signs with its own key"
done
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
