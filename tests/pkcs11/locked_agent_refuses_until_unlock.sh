#!/usr/bin/env bash
# While the agent is locked (`p11agent lock`) a signature through the
# module fails with CKR_USER_NOT_LOGGED_IN, and a C_Login through the
# module (any PIN) does not unlock it: the module never sends a PIN.
# After `p11agent unlock` the same key signs again.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
p11m_need pkcs11-tool

p11a_setup_dir
p11a_make_token tok 1234 l-ec:p256
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN
dir=$P11A_TMP/tok
p11a_random_file "$P11A_TMP/msg"

sign() {
	p11m_ext pkcs11-tool --module "$P11M_MODULE" --token-label tok \
		--id "$(cat "$dir/l-ec.id")" --sign --mechanism ECDSA-SHA256 \
		--signature-format openssl --input-file "$P11A_TMP/msg" \
		--output-file "$P11A_TMP/sig" "$@"
}

p11a_expect_exit 0 sign
p11a_verify "$P11A_TMP/sig" "$P11A_TMP/msg" "$dir/l-ec.pub.pem" \
	ecdsa_secp256r1_sha256
p11a_expect_exit 0 "$P11AGENT" lock
p11a_expect_exit 1 sign
p11a_expect_output_matches 'CKR_USER_NOT_LOGGED_IN'
p11a_expect_exit 1 sign --login --pin 1234
p11a_expect_output_matches 'CKR_USER_NOT_LOGGED_IN'
p11a_expect_exit 0 "$P11AGENT" unlock --pin-source env:P11A_PIN
rm -f "$P11A_TMP/sig"
p11a_expect_exit 0 sign
p11a_verify "$P11A_TMP/sig" "$P11A_TMP/msg" "$dir/l-ec.pub.pem" \
	ecdsa_secp256r1_sha256
echo ok
