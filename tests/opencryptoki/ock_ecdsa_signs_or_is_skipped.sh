#!/usr/bin/env bash
# ECDSA on opencryptoki's soft token: the soft token of opencryptoki 3.8
# has no EC mechanism, so EC keys cannot sign there and the test is
# skipped saying so (not passed); an opencryptoki whose soft token has
# CKM_ECDSA gets an imported P-256 key signed and verified.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/ock_lib.sh"

ock_setup tok 123456 k-ec:p256:import
ock_has_mechanism ECDSA ||
	p11a_skip "opencryptoki's soft token has no EC mechanism (no CKM_ECDSA in C_GetMechanismList): EC keys cannot sign on it"
export P11A_PIN=123456
ock_start_agent --pin-source env:P11A_PIN
p11a_list
p11a_sign_verify "$(p11a_identity_id k-ec)" ecdsa_secp256r1_sha256 "$TLS_DIR" k-ec
echo ok
