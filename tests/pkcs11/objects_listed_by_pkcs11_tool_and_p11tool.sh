#!/usr/bin/env bash
# pkcs11-tool --list-objects and p11tool --list-all show, for every agent
# identity, a private key, a public key and (when the token has one) a
# certificate, on one slot per agent token, with the real token's labels
# and CKA_IDs; the certificate and public keys p11tool exports through
# the module are the ones on the real token.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
p11m_need pkcs11-tool p11tool

p11a_setup_dir
p11a_make_token A 1111 a-rsa:rsa2048 a-ec:p256 a-ed:ed25519
p11a_make_token B 2222 b-ec:p384 b-rsa:rsa3072:nocert
p11a_start_agent --identity 'pkcs11:token=A?pin-value=1111' \
	--identity 'pkcs11:token=B?pin-value=2222'
M=$P11M_MODULE

p11a_expect_exit 0 p11m_ext pkcs11-tool --module "$M" --list-token-slots
[[ $(grep -c 'token label' <<<"$P11A_OUTPUT") -eq 2 ]] ||
	p11a_fail "expected 2 slots: $P11A_OUTPUT"
p11a_expect_output_matches 'token label +: A$'
p11a_expect_output_matches 'token label +: B$'
p11a_expect_output_matches 'token manufacturer +: SoftHSM project'
if grep -q 'login required' <<<"$P11A_OUTPUT"; then
	p11a_fail "a token asks for a login: $P11A_OUTPUT"
fi

# NAME TOKEN TYPE-TEXT HAS-CERT
KEYS=(
	"a-rsa A RSA yes" "a-ec A EC yes" "a-ed A EC_EDWARDS yes"
	"b-ec B EC yes" "b-rsa B RSA no"
)
for tok in A B; do
	p11a_expect_exit 0 p11m_ext pkcs11-tool --module "$M" \
		--token-label "$tok" --list-objects
	printf -v "LIST_$tok" '%s' "$P11A_OUTPUT"
done
[[ $(grep -c '^Private Key Object' <<<"$LIST_A") -eq 3 &&
	$(grep -c '^Public Key Object' <<<"$LIST_A") -eq 3 &&
	$(grep -c '^Certificate Object' <<<"$LIST_A") -eq 3 ]] ||
	p11a_fail "token A: expected 3 keys, 3 public keys, 3 certificates: $LIST_A"
[[ $(grep -c '^Private Key Object' <<<"$LIST_B") -eq 2 &&
	$(grep -c '^Certificate Object' <<<"$LIST_B") -eq 1 ]] ||
	p11a_fail "token B: expected 2 keys and 1 certificate: $LIST_B"

for k in "${KEYS[@]}"; do
	read -r name tok type cert <<<"$k"
	list=LIST_$tok
	id=$(cat "$P11A_TMP/$tok/$name.id")
	# the private key block: its type, label, real CKA_ID, sign-only use
	block=$(awk -v n="$name" '
		/^[A-Z][a-z]+ Key Object|^Certificate Object/ { obj = $0; lbl = "" }
		/^  label:/ { lbl = $2 }
		lbl == n && obj ~ /^Private/ { print }' <<<"${!list}")
	grep -Eq "ID: +$id\$" <<<"$block" ||
		p11a_fail "$name: private key without CKA_ID $id: ${!list}"
	grep -q 'Usage: *sign$' <<<"$block" ||
		p11a_fail "$name: private key usage is not 'sign': $block"
	grep -q 'Access: *sensitive, always sensitive, never extractable' \
		<<<"$block" || p11a_fail "$name: access flags: $block"
	grep -Eq "^Private Key Object; $type *\$" <<<"${!list}" ||
		p11a_fail "$name: no private key of type $type"

	p11a_expect_exit 0 p11m_ext p11tool --provider "$M" --list-all \
		"pkcs11:token=$tok;object=$name"
	for t in private public; do
		p11a_expect_output_matches "URL: pkcs11:.*token=$tok;id=%$id;object=$name;type=$t"
	done
	pub=$P11A_TMP/$name.exported.pub
	p11a_expect_exit 0 p11m_ext p11tool --provider "$M" --export-pubkey \
		"pkcs11:token=$tok;object=$name;type=public" --outfile "$pub"
	cmp -s <(openssl pkey -pubin -in "$pub" -outform DER) \
		<(openssl pkey -pubin -in "$P11A_TMP/$tok/$name.pub.pem" -outform DER) ||
		p11a_fail "$name: the public key p11tool exports differs from the token's"
	if [[ $cert == yes ]]; then
		p11a_expect_exit 0 p11m_ext p11tool --provider "$M" --list-all \
			"pkcs11:token=$tok;object=$name;type=cert"
		p11a_expect_output_matches "URL: pkcs11:.*object=$name;type=cert"
		p11a_expect_exit 0 p11m_ext p11tool --provider "$M" --export \
			"pkcs11:token=$tok;object=$name;type=cert" \
			--outfile "$P11A_TMP/$name.exported.pem"
		cmp -s <(openssl x509 -in "$P11A_TMP/$name.exported.pem" -outform DER) \
			<(openssl x509 -in "$P11A_TMP/$tok/$name.pem" -outform DER) ||
			p11a_fail "$name: exported certificate differs from the token's"
	fi
done
echo ok
