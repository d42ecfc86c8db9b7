#!/usr/bin/env bash
# TLS 1.2 and TLS 1.3 handshakes with client authentication by the agent,
# against `openssl s_server -Verify 1 -verify_return_error`, for RSA
# (PKCS#1 v1.5 in 1.2, PSS in 1.3), ECDSA P-256, ECDSA P-384 and Ed25519,
# through three clients: stock `openssl s_client` with the provider,
# `p11agent connect`, and curl through `p11agent tunnel`.  Every
# handshake must show our certificate on the server's page and leave
# exactly one signature in the agent's audit log, made for the expected
# program with the expected scheme.  Also: the --trace tells all ten
# steps, the identity is chosen from the server's CertificateRequest when
# none is given, and a tunnel carries several connections at once.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"

KEYS=(k-rsa:rsa2048 k-p256:p256 k-p384:p384 k-ed:ed25519)
tls_setup "${KEYS[@]}" k-bare:p256:nocert

# The TLS 1.2 server offers RSA only with PKCS#1 v1.5, so that the RSA key
# must sign rsa_pkcs1_*; TLS 1.3 allows RSA only with PSS.
PKCS1_SIGALGS=RSA+SHA256:RSA+SHA384:RSA+SHA512:ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:ed25519
declare -A PORT
tls_s_server s12 -tls1_2 -Verify 1 -verify_return_error \
	-CAfile "$TLS_DIR/ca.pem" -client_sigalgs "$PKCS1_SIGALGS"
PORT[tls1_2]=$TLS_PORT
tls_s_server s13 -tls1_3 -Verify 1 -verify_return_error \
	-CAfile "$TLS_DIR/ca.pem"
PORT[tls1_3]=$TLS_PORT

passed=0
tls_handshake_matrix "${PORT[tls1_2]}" "${PORT[tls1_3]}" "${KEYS[@]}"
passed=$((passed + TLS_PASSED))

# --trace: every step of the classic handshake, the agent's signature in
# step 5 with its scheme and form.
for version in tls1_2 tls1_3; do
	tls_connect "${PORT[$version]}" "$version" --trace \
		--identity "pkcs11:object=k-rsa" ||
		p11a_fail "connect --trace $version: $TLS_OUT"
	for n in 1 2 3 4 5 6 7 8 9 10; do
		grep -Eq "^\[ ?$n\] " <<<"$TLS_OUT" ||
			p11a_fail "trace $version has no step $n: $TLS_OUT"
	done
	[[ $version == tls1_3 ]] && form='transcript hash only' ||
		form='digest of the handshake messages'
	[[ $version == tls1_3 ]] && want=rsa_pss_rsae || want=rsa_pkcs1
	grep -Eq "^\[ 5\] -> CertificateVerify: signed by p11agentd with $want" \
		<<<"$TLS_OUT" || p11a_fail "trace $version: step 5 not told: $TLS_OUT"
	grep -q "$form" <<<"$TLS_OUT" ||
		p11a_fail "trace $version: the form sent is not told: $TLS_OUT"
	grep -Eq "^\[10\] == handshake complete: TLSv1\.[23]" <<<"$TLS_OUT" ||
		p11a_fail "trace $version: no summary: $TLS_OUT"
	tls_expect_client_cn k-rsa "connect --trace $version"
done

# No --identity: the CertificateRequest decides.  This server accepts
# only ECDSA with SHA-384, which in TLS 1.3 only the P-384 key can do.
tls_s_server s13p384 -tls1_3 -Verify 1 -verify_return_error \
	-CAfile "$TLS_DIR/ca.pem" -client_sigalgs ECDSA+SHA384
before=$(tls_audit_count)
tls_connect "$TLS_PORT" tls1_3 || p11a_fail "automatic identity: $TLS_OUT"
tls_expect_client_cn k-p384 "automatic identity"
tls_expect_signed "$before" p11agent ecdsa_secp384r1_sha384 \
	"automatic identity"

# A tunnel carries several connections at once.
tls_tunnel "${PORT[tls1_3]}" tls1_3 --identity pkcs11:object=k-p256
tunnel=$TLS_PID
before=$(tls_audit_count)
pids=()
for i in 1 2 3 4 5 6; do
	curl -sS --max-time 20 "http://127.0.0.1:$TLS_PORT/" \
		>"$P11A_TMP/curl.$i" 2>&1 &
	pids+=($!)
done
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || p11a_fail "parallel curl $((i + 1)) failed"
done
for i in 1 2 3 4 5 6; do
	TLS_OUT=$(cat "$P11A_TMP/curl.$i")
	tls_expect_client_cn k-p256 "parallel curl $i"
done
for i in 1 2 3 4 5 6; do
	tls_wait_log "$TLS_LOG" "#$i closed: [0-9]+ bytes up"
done
tls_stop_tunnel "$tunnel" "$TLS_LOG"
[[ $(($(tls_audit_count) - before)) -eq 6 ]] ||
	p11a_fail "six tunnelled connections made $(($(tls_audit_count) - before)) signatures"
passed=$((passed + 7))

# A key whose token holds no certificate: enrol it (a CSR made through
# the provider, signed by the CA), then --cert names the certificate and
# picks the identity whose key it certifies.
bare=$(p11a_identity_id k-bare)
tls_openssl req "${TLS_PROVIDER[@]}" -new -key "p11agent:$bare" \
	-subj /CN=k-bare -out "$P11A_TMP/bare.csr" || p11a_fail "CSR for k-bare"
openssl x509 -req -in "$P11A_TMP/bare.csr" -days 1 -CA "$TLS_DIR/ca.pem" \
	-CAkey "$TLS_DIR/ca.key" -CAcreateserial -out "$P11A_TMP/bare.pem" \
	2>/dev/null || p11a_fail "cannot certify k-bare"
before=$(tls_audit_count)
tls_connect "${PORT[tls1_3]}" tls1_3 --cert "$P11A_TMP/bare.pem" ||
	p11a_fail "connect --cert for a key without a certificate: $TLS_OUT"
tls_expect_client_cn k-bare "connect --cert"
tls_expect_signed "$before" p11agent ecdsa_secp256r1_sha256 "connect --cert"
rc=0
tls_connect "${PORT[tls1_3]}" tls1_3 --identity "$bare" || rc=$?
[[ $rc -eq 1 ]] && grep -q 'holds no certificate' <<<"$TLS_OUT" ||
	p11a_fail "connect without a certificate: exit $rc: $TLS_OUT"
# s_client takes the certificate from the token too: -cert p11agent:ID
id=$(p11a_identity_id k-p384)
tls_s_client "${PORT[tls1_2]}" tls1_2 "p11agent:$id" "p11agent:$id" ||
	p11a_fail "s_client -cert p11agent:ID: $TLS_OUT"
tls_expect_client_cn k-p384 "s_client -cert p11agent:ID"
passed=$((passed + 2))

echo "ok: $passed handshakes with openssl s_server, each verified by the server and audited"
