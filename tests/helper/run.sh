#!/usr/bin/env bash
# run.sh SCENARIO: two SoftHSM tokens (A: RSA, P-256, Ed25519; B: RSA,
# P-256, all with certificates), then p11a-helper-client SCENARIO, which
# starts p11agent-helper on the faulty-pkcs11 shim in front of SoftHSM
# (no fault unless the scenario writes the control file).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

[[ -x ${P11A_HELPER:-} && -x ${P11A_HELPER_CLIENT:-} && -r ${FAULTY_PKCS11:-} ]] ||
	p11a_fail "P11A_HELPER, P11A_HELPER_CLIENT and FAULTY_PKCS11 must be set"
p11a_setup_dir
p11a_make_token A 1111 a-rsa:rsa2048 a-ec:p256 a-ed:ed25519
p11a_make_token B 2222 b-rsa:rsa2048 b-ec:p256
export P11A_MODULE P11A_HELPER_MODULE=$FAULTY_PKCS11
export FAULTY_PKCS11_MODULE=$P11A_MODULE
export FAULTY_PKCS11_CONTROL=$P11A_TMP/control
export FAULTY_PKCS11_LOG=$P11A_TMP/calls.log
"$P11A_HELPER_CLIENT" "$1"
