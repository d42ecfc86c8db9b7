#!/usr/bin/env bash
# `openvpn --show-pkcs11-ids` (pkcs11-helper) loads the module and lists
# every certificate the agent holds with the serialized id OpenVPN's
# --pkcs11-id takes: the real token's manufacturer, model, serial, label
# and the key's CKA_ID.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
p11m_need openvpn

p11a_setup_dir
p11a_make_token tok 1234 v-rsa:rsa2048 v-ec:p384
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN

p11a_expect_exit 0 p11m_ext openvpn --show-pkcs11-ids "$P11M_MODULE"
for n in v-rsa v-ec; do
	p11a_expect_output_matches "DN: +CN ?= ?$n"
	p11a_expect_output_matches "Serialized id: +SoftHSM\\\\x20project/SoftHSM\\\\x20v2/[0-9a-f]+/tok/$(cat "$P11A_TMP/tok/$n.id")\$"
done
[[ $(grep -c 'Serialized id' <<<"$P11A_OUTPUT") -eq 2 ]] ||
	p11a_fail "expected 2 certificates: $P11A_OUTPUT"
echo ok
