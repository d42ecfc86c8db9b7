#!/usr/bin/env bash
# Ed25519 on the TPM: TPM 2.0 and tpm2-pkcs11 1.9 have no EdDSA, so the
# key cannot be made and the test is skipped saying so (not passed); a
# tpm2-pkcs11 that makes one gets it signed and verified.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tpm_lib.sh"

tpm_setup
"$P11A_TPM" token "$TPM_DIR" tok 123456 "$TLS_DIR" k-ed:ed25519 \
	>"$P11A_TMP/mk.out" 2>&1 ||
	p11a_skip "the TPM cannot make an Ed25519 key (tpm2-pkcs11: $(tail -n 1 "$P11A_TMP/mk.out"))"
export P11A_PIN=123456
tpm_start_agent --pin-source env:P11A_PIN
p11a_list
p11a_sign_verify "$(p11a_identity_id k-ed)" ed25519 "$TLS_DIR" k-ed
echo ok
