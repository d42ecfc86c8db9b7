#!/usr/bin/env bash
# A token whose model is padded with NUL bytes instead of blanks (as
# tpm2-pkcs11 pads "SW   TPM"): NUL padding counts as padding.  The URIs
# `p11agent list` prints carry no %00, and match when pasted
# back; a URI typed as model=SW%20%20%20TPM matches; so does one padded
# with %00 as p11-kit formats the raw field.  SIGN and UNLOCK both.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
export FAULTY_PKCS11_MODEL="SW   TPM"
p11a_make_token A 1111 a-ec:p256
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN
p11a_list
uri=$(p11a_identity_uri a-ec)
[[ $uri == *"model=SW%20%20%20TPM;"* ]] ||
	p11a_fail "listed URI does not have the model without its padding: $uri"
[[ $uri != *%00* ]] || p11a_fail "listed URI has NUL bytes: $uri"

nuls=%00%00%00%00%00%00%00%00
for u in "$uri" \
	"pkcs11:model=SW%20%20%20TPM;token=A;object=a-ec" \
	"pkcs11:model=SW%20%20%20TPM$nuls;token=A;object=a-ec"; do
	fault_sign_verify "$u" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
	echo "signs with $u"
done
fault_expect IDENTITY_NOT_FOUND sign "pkcs11:model=SW%20TPM;object=a-ec" \
	ecdsa_secp256r1_sha256 "$P11A_TMP/fsv.msg" "$P11A_TMP/fsv.sig"

for t in "pkcs11:model=SW%20%20%20TPM" "pkcs11:model=SW%20%20%20TPM$nuls"; do
	"$P11AGENT" lock || p11a_fail "lock failed"
	"$P11AGENT" unlock --token "$t" --pin-source env:P11A_PIN ||
		p11a_fail "unlock --token $t failed"
	fault_sign_verify "$uri" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
	echo "unlocks with $t"
done

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
