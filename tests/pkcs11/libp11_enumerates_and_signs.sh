#!/usr/bin/env bash
# libp11 (the library of OpenSSL's pkcs11 engine) loads the module with
# PKCS11_CTX_load, enumerates slots, keys and certificates on two agent
# tokens, signs with every key and OpenSSL verifies.  libp11 0.4.12
# enumerates no key at all on a token that also holds an Ed25519 key, so
# the Ed25519 identity is filtered out with P11AGENT_PKCS11_FILTER.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -n ${P11M_LIBP11_TEST:-} ]] || p11a_skip "libp11-dev not installed at build time"

p11a_setup_dir
p11a_make_token A 1111 a-rsa:rsa2048 a-ec:p256 a-ed:ed25519
p11a_make_token B 2222 b-ec:p384 b-rsa:rsa3072
p11a_start_agent --identity 'pkcs11:token=A?pin-value=1111' \
	--identity 'pkcs11:token=B?pin-value=2222'
mkdir "$P11A_TMP/keys"
ln -s "$P11A_TMP"/A/*.pub.pem "$P11A_TMP"/B/*.pub.pem "$P11A_TMP/keys/"

before=$(p11m_agent_signs)
P11AGENT_PKCS11_FILTER=rsa,ec p11a_expect_exit 0 "$P11M_LIBP11_TEST" \
	"$P11M_MODULE" "$P11A_TMP/keys" 4
echo "$P11A_OUTPUT"
p11a_expect_output_matches '^4 keys, 4 certificates$'
for n in a-rsa a-ec b-ec b-rsa; do
	p11a_expect_output_matches "signed and verified with $n "
done
after=$(p11m_agent_signs)
[[ $((after - before)) -eq 4 ]] ||
	p11a_fail "the agent made $((after - before)) signatures, expected 4"
echo ok
