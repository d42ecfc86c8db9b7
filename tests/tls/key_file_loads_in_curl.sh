#!/usr/bin/env bash
# curl, which takes a client key only as a file, authenticates with agent
# keys through key files (`p11agent export-key`, the certificate from
# `p11agent export-cert`) and the provider in openssl.cnf: `curl --key
# NAME.key.pem --cert NAME.cert.pem` against gnutls-serv
# --require-client-cert --verify-client-cert and openssl s_server -Verify
# 1 -verify_return_error, TLS 1.2 and 1.3, RSA and P-256.  Each server's
# page must show our certificate, the audit log one signature by curl.
# Also: other key files still load (the decoders claim only their own
# PEM label), and a key file of a key the agent does not have fails with
# p11agent's message.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"

# curl may deadlock in setlocale() with the ASan runtime preloaded, before
# it loads any provider (tests/pkcs11/curl_fetches_with_client_cert.sh)
tls_stock timeout 3 curl --version >/dev/null 2>&1 ||
	p11a_skip "curl does not run with the sanitizer runtime preloaded"
tls_setup k-rsa:rsa2048 k-p256:p256
tls_key_files k-rsa k-p256
tls_key_file_servers

curl_client() {
	local server=$1 version=$2 name=$3 rc=0
	local v=${version#tls}
	v=${v/_/.}
	TLS_OUT=$(OPENSSL_CONF=$TLS_CNF tls_stock curl -sS --max-time 20 \
		--cacert "$TLS_DIR/ca.pem" "--tlsv$v" --tls-max "$v" \
		--key "$TLS_DIR/$name.key.pem" --cert "$TLS_DIR/$name.cert.pem" \
		"https://127.0.0.1:${TLS_KF_PORT[$server/$version]}/" 2>&1) || rc=$?
	return "$rc"
}
tls_key_file_matrix curl curl curl_client

# An ordinary key file still loads with the provider active: the decoders
# claim only their own PEM label.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$TLS_DIR/plain.key" -subj /CN=plain -out "$TLS_DIR/plain.csr" \
	2>/dev/null &&
	openssl x509 -req -in "$TLS_DIR/plain.csr" -days 2 -CA "$TLS_DIR/ca.pem" \
		-CAkey "$TLS_DIR/ca.key" -CAcreateserial -out "$TLS_DIR/plain.pem" \
		2>/dev/null || p11a_fail "cannot make an ordinary client key"
before=$(tls_audit_count)
TLS_OUT=$(OPENSSL_CONF=$TLS_CNF tls_stock curl -sS --max-time 20 \
	--cacert "$TLS_DIR/ca.pem" --key "$TLS_DIR/plain.key" \
	--cert "$TLS_DIR/plain.pem" \
	"https://127.0.0.1:${TLS_KF_PORT[s_server/tls1_3]}/" 2>&1) ||
	p11a_fail "curl with an ordinary key file: $TLS_OUT"
tls_expect_client_cn plain "curl with an ordinary key file"
[[ $(tls_audit_count) -eq $before ]] ||
	p11a_fail "an ordinary key file went to the agent"
echo "ok: an ordinary key file still loads"

# curl_fails WHAT KEYFILE: curl cannot load the key (exit 58), before it
# sends anything: the agent signs nothing.
curl_fails() {
	local rc=0
	before=$(tls_audit_count)
	TLS_OUT=$(OPENSSL_CONF=$TLS_CNF tls_stock curl -sS --max-time 20 \
		--cacert "$TLS_DIR/ca.pem" --key "$2" \
		--cert "$TLS_DIR/k-p256.cert.pem" \
		"https://127.0.0.1:${TLS_KF_PORT[s_server/tls1_3]}/" 2>&1) || rc=$?
	[[ $rc -eq 58 ]] || p11a_fail "$1: curl exit $rc, not 58: $TLS_OUT"
	[[ $(tls_audit_count) -eq $before ]] || p11a_fail "$1: the agent signed"
	echo "ok: $1: curl cannot load the key"
}

# a key file of an identity the agent does not hold
cat >"$P11A_TMP/gone.cnf" <<'EOF2'
asn1 = SEQUENCE:key
[key]
version = INTEGER:1
id = UTF8:0123456789abcdef0123456789abcdef
uri = UTF8:pkcs11:token=gone;object=gone;type=private
EOF2
openssl asn1parse -genconf "$P11A_TMP/gone.cnf" -out "$P11A_TMP/gone.der" \
	>/dev/null || p11a_fail "cannot make a key file by hand"
{
	echo "-----BEGIN P11AGENT KEY-----"
	openssl base64 -in "$P11A_TMP/gone.der"
	echo "-----END P11AGENT KEY-----"
} >"$TLS_DIR/gone.key.pem"
curl_fails "a key file of an identity the agent lacks" "$TLS_DIR/gone.key.pem"

# a locked agent: the key is refused when it is loaded
"$P11AGENT" lock || p11a_fail "p11agent lock"
curl_fails "a locked agent" "$TLS_DIR/k-p256.key.pem"
"$P11AGENT" unlock --pin-source env:P11A_PIN || p11a_fail "p11agent unlock"
