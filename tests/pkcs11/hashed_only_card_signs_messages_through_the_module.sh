#!/usr/bin/env bash
# A card that can only hash-and-sign (the shim's hashed-only card, in
# front of SoftHSM): its keys are MESSAGE_ONLY, the agent refuses the
# digest form for them.  PKCS#11 callers of p11agent-pkcs11.so that use
# a hash-and-sign mechanism (CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS_PSS,
# CKM_ECDSA_SHA256, ...) hand the module the whole message: the module
# sends that message to the agent, and pkcs11-tool's signatures verify
# with OpenSSL.  The raw mechanisms (CKM_RSA_PKCS, CKM_RSA_PKCS_PSS,
# CKM_ECDSA), which take a digest the agent cannot sign for such a key,
# are not offered for it: C_SignInit says CKR_MECHANISM_INVALID.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"
p11m_need pkcs11-tool

p11a_setup_dir
p11a_make_token tok 1234 k-rsa:rsa2048 k-p256:p256
export P11A_PIN=1234
export FAULTY_PKCS11_CARD=hashed-only FAULTY_PKCS11_LOG=$P11A_TMP/faulty.log
fault_slow_card_agent 0 --pin-source env:P11A_PIN
dir=$P11A_TMP/tok

p11a_front_module_signs tok "$dir" k-rsa \
	SHA1-RSA-PKCS:rsa_pkcs1_sha1 SHA256-RSA-PKCS:rsa_pkcs1_sha256 \
	SHA384-RSA-PKCS:rsa_pkcs1_sha384 SHA512-RSA-PKCS:rsa_pkcs1_sha512 \
	SHA256-RSA-PKCS-PSS:rsa_pss_rsae_sha256 \
	SHA384-RSA-PKCS-PSS:rsa_pss_rsae_sha384 \
	SHA512-RSA-PKCS-PSS:rsa_pss_rsae_sha512
p11a_front_module_signs tok "$dir" k-p256 \
	ECDSA-SHA1:ecdsa_sha1 ECDSA-SHA256:ecdsa_secp256r1_sha256 \
	ECDSA-SHA384:ecdsa_secp384r1_sha384 ECDSA-SHA512:ecdsa_secp521r1_sha512

# the card was never asked for a mechanism it lacks
[[ $(fault_count '^C_SignInit token=tok rv=0x70$') -eq 0 ]] ||
	p11a_fail "the card was asked for a mechanism it lacks: $(grep C_SignInit "$FAULTY_PKCS11_LOG" | sort | uniq -c)"

# raw mechanisms take a digest: not offered for these keys
p11a_random_file "$P11A_TMP/msg"
openssl dgst -sha256 -binary "$P11A_TMP/msg" >"$P11A_TMP/dgst"
pss=(--hash-algorithm SHA256 --mgf MGF1-SHA256 --salt-len -1)
for spec in k-rsa:RSA-PKCS k-rsa:RSA-PKCS-PSS k-p256:ECDSA; do
	name=${spec%%:*} mech=${spec#*:} args=()
	[[ $mech == RSA-PKCS-PSS ]] && args=("${pss[@]}")
	p11a_expect_exit 1 p11m_ext pkcs11-tool --module "$P11M_MODULE" \
		--token-label tok --id "$(cat "$dir/$name.id")" --sign \
		--mechanism "$mech" "${args[@]}" --input-file "$P11A_TMP/dgst" \
		--output-file "$P11A_TMP/sig"
	p11a_expect_output_matches 'CKR_MECHANISM_INVALID'
done
p11a_agent_alive
echo ok
