#!/usr/bin/env bash
# The provider in stock openssl commands, for every key type:
#   - `pkeyutl -sign` (a digest; Ed25519: the message) and `dgst -sign`
#     (the message, hashed by the provider as it streams), RSA also with
#     PSS: every signature verifies with the key's public half;
#   - `req -new -key URI` makes a CSR whose self-signature verifies and
#     whose public key is the identity's;
#   - `pkeyutl -verify` with the agent key (verification needs no agent);
#   - the URI forms p11agent:ID and p11agent:pkcs11:..., and clear errors
#     for an unknown, an ambiguous and a malformed URI;
#   - `storeutl` finds the token's certificate under the same URI;
#   - the openssl.cnf snippet of docs/TLS.md (socket set there) works;
#   - loading p11agent before the default provider works with
#     -propquery '?provider!=p11agent' (docs/TLS.md).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"

KEYS=(k-rsa:rsa2048 k-p256:p256 k-p384:p384 k-ed:ed25519)
tls_setup "${KEYS[@]}"
p11a_list
ossl() {
	tls_openssl "$1" "${TLS_PROVIDER[@]}" "${@:2}"
}
msg=$P11A_TMP/msg
p11a_random_file "$msg" 5000
openssl dgst -sha256 -binary "$msg" >"$msg.sha256"

# The public key of a PEM file (key or certificate request), as DER hex.
pub_der() {
	openssl pkey -pubin -in "$1" -outform DER | od -An -tx1 | tr -d ' \n'
}

for spec in "${KEYS[@]}"; do
	name=${spec%%:*}
	id=$(p11a_identity_id "$name")
	pub=$TLS_DIR/$name.pub.pem
	sig=$P11A_TMP/$name.sig
	if [[ $name == k-ed ]]; then
		ossl pkeyutl -sign -inkey "p11agent:$id" -rawin -in "$msg" \
			-out "$sig" || p11a_fail "pkeyutl -sign $name"
		p11a_verify "$sig" "$msg" "$pub" ed25519
	else
		ossl pkeyutl -sign -inkey "p11agent:$id" -in "$msg.sha256" \
			-pkeyopt digest:sha256 -out "$sig" ||
			p11a_fail "pkeyutl -sign $name"
		openssl pkeyutl -verify -pubin -inkey "$pub" -in "$msg.sha256" \
			-pkeyopt digest:sha256 -sigfile "$sig" >/dev/null ||
			p11a_fail "pkeyutl signature of $name does not verify"
		out=$(ossl pkeyutl -verify -inkey "p11agent:$id" \
			-in "$msg.sha256" -pkeyopt digest:sha256 -sigfile "$sig")
		grep -q 'Signature Verified Successfully' <<<"$out" ||
			p11a_fail "pkeyutl -verify with the agent key $name: $out"
		ossl dgst -sha384 -sign "p11agent:pkcs11:object=$name" \
			-out "$sig" "$msg" || p11a_fail "dgst -sign $name"
		openssl dgst -sha384 -verify "$pub" -signature "$sig" "$msg" \
			>/dev/null || p11a_fail "dgst signature of $name does not verify"
	fi
	csr=$P11A_TMP/$name.csr
	ossl req -new -key "p11agent:pkcs11:token=tok;object=$name;type=private" \
		-subj "/CN=csr-$name" -out "$csr" || p11a_fail "req -new $name"
	openssl req -in "$csr" -verify -noout 2>&1 | grep -q 'verify OK' ||
		p11a_fail "the CSR of $name does not verify"
	openssl req -in "$csr" -pubkey -noout >"$csr.pub"
	[[ $(pub_der "$csr.pub") == "$(pub_der "$pub")" ]] ||
		p11a_fail "the CSR of $name carries another public key"
	out=$(ossl storeutl -certs -noout -text "p11agent:$id" 2>&1)
	grep -Eq "Subject: ?CN ?= ?$name\$" <<<"$out" ||
		p11a_fail "storeutl found no certificate for $name: $out"
	echo "ok: $name: pkeyutl, dgst, req, storeutl"
done

# RSA with PSS, salt = hash length
id=$(p11a_identity_id k-rsa)
ossl pkeyutl -sign -inkey "p11agent:$id" -in "$msg.sha256" \
	-pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss \
	-pkeyopt rsa_pss_saltlen:digest -out "$P11A_TMP/pss.sig" ||
	p11a_fail "pkeyutl PSS"
openssl pkeyutl -verify -pubin -inkey "$TLS_DIR/k-rsa.pub.pem" \
	-in "$msg.sha256" -pkeyopt digest:sha256 \
	-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:digest \
	-sigfile "$P11A_TMP/pss.sig" >/dev/null || p11a_fail "PSS signature does not verify"
ossl req -new -key "p11agent:$id" -subj /CN=pss -sigopt rsa_padding_mode:pss \
	-sigopt rsa_pss_saltlen:digest -out "$P11A_TMP/pss.csr" ||
	p11a_fail "req -new with PSS"
openssl req -in "$P11A_TMP/pss.csr" -verify -noout 2>&1 | grep -q 'verify OK' ||
	p11a_fail "the PSS CSR does not verify"
openssl req -in "$P11A_TMP/pss.csr" -noout -text | grep -q rsassaPss ||
	p11a_fail "the PSS CSR is not signed with RSASSA-PSS"
echo "ok: RSA-PSS with pkeyutl and req"

# errors name the problem
expect_error() {
	local uri=$1 want=$2 out rc=0
	out=$(ossl pkeyutl -sign -inkey "$uri" -in "$msg.sha256" \
		-out "$P11A_TMP/x.sig" 2>&1) || rc=$?
	[[ $rc -ne 0 ]] || p11a_fail "pkeyutl with $uri succeeded"
	grep -q "$want" <<<"$out" || p11a_fail "$uri: no '$want' in: $out"
}
expect_error p11agent:pkcs11:object=no-such-key 'no identity matches'
expect_error p11agent:pkcs11:token=tok 'several identities match'
expect_error p11agent:not-an-id 'malformed p11agent: key URI'
echo "ok: unknown, ambiguous and malformed URIs are named"

# the openssl.cnf snippet of docs/TLS.md, the socket given there
cnf=$P11A_TMP/openssl.cnf
tls_openssl_cnf "$cnf"
id=$(p11a_identity_id k-p256)
OPENSSL_CONF=$cnf P11AGENT_SOCK='' tls_openssl pkeyutl -sign \
	-inkey "p11agent:$id" -in "$msg.sha256" -pkeyopt digest:sha256 \
	-out "$P11A_TMP/cnf.sig" || p11a_fail "pkeyutl with the openssl.cnf snippet"
p11a_verify "$P11A_TMP/cnf.sig" "$msg" "$TLS_DIR/k-p256.pub.pem" \
	ecdsa_secp256r1_sha256
echo "ok: the openssl.cnf snippet"

# p11agent loaded first: the property query keeps generic fetches on the
# default provider, and a TLS 1.2 handshake with ECDHE on P-256 works
tls_s_server s12 -tls1_2 -Verify 1 -verify_return_error \
	-CAfile "$TLS_DIR/ca.pem" -groups P-256
TLS_PROVIDER=(-provider-path "$P11A_PROVIDER_DIR" -provider p11agent
	-provider default -propquery '?provider!=p11agent')
tls_s_client "$TLS_PORT" tls1_2 "p11agent:$id" "$TLS_DIR/k-p256.pem" ||
	p11a_fail "s_client with p11agent loaded first: $TLS_OUT"
tls_expect_client_cn k-p256 "s_client with p11agent loaded first"
echo "ok: p11agent loaded before default, with -propquery"
