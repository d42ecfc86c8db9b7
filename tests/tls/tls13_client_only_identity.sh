#!/usr/bin/env bash
# An identity the agent runs with `--purpose tls13-client` signs only the
# TLS 1.3 client CertificateVerify form (the agent builds the content
# from the transcript hash), so it is no general signing oracle:
#   - `p11agent sign` with it is DENIED (another identity still signs);
#   - TLS 1.3 handshakes with it succeed, through stock s_client with the
#     provider (which must recognise the CertificateVerify content and
#     send only the transcript hash), connect and the tunnel, against
#     openssl s_server and gnutls-serv;
#   - a TLS 1.2 handshake with it fails with the agent's refusal, and
#     the automatic choice never picks it for TLS 1.2;
#   - `openssl req -new -key` (a CSR) and `pkeyutl -sign` with it fail.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"

tls_require
p11a_setup_dir
trap tls_cleanup EXIT
TLS_DIR=$P11A_TMP/certs
tls_make_token tok k-rsa:rsa2048
tls_make_token t13 k13:rsa2048 k13e:p384
tls_server_cert
TLS_AUDIT=$P11A_TMP/audit.log
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN --audit "$TLS_AUDIT" \
	--identity 'pkcs11:token=tok' \
	--identity 'pkcs11:token=t13' --purpose tls13-client
TLS_PROVIDER=(-provider-path "$P11A_PROVIDER_DIR" -provider default
	-provider p11agent)
p11a_list
K13=$(p11a_identity_id k13)

# ---- no signing oracle -------------------------------------------------------
p11a_random_file "$P11A_TMP/msg"
p11a_expect_exit 1 "$P11AGENT" sign --identity "$K13" \
	--scheme rsa_pss_rsae_sha256 --in "$P11A_TMP/msg" --out "$P11A_TMP/sig"
p11a_expect_output_matches 'denied by policy'
p11a_sign_verify pkcs11:object=k-rsa rsa_pss_rsae_sha256 "$TLS_DIR" k-rsa
echo "ok: plain SIGN refused for the tls13-client identity only"

rc=0
out=$(tls_openssl req "${TLS_PROVIDER[@]}" -new -key "p11agent:$K13" \
	-subj /CN=forged -out "$P11A_TMP/forged.csr" 2>&1) || rc=$?
[[ $rc -ne 0 && ! -s $P11A_TMP/forged.csr ]] ||
	p11a_fail "openssl req signed a CSR with the tls13-client identity: $out"
grep -q 'denied by policy' <<<"$out" || p11a_fail "req: message: $out"
openssl dgst -sha256 -binary "$P11A_TMP/msg" >"$P11A_TMP/msg.sha256"
rc=0
out=$(tls_openssl pkeyutl "${TLS_PROVIDER[@]}" -sign -inkey "p11agent:$K13" \
	-in "$P11A_TMP/msg.sha256" -pkeyopt digest:sha256 \
	-out "$P11A_TMP/sig" 2>&1) || rc=$?
[[ $rc -ne 0 ]] || p11a_fail "pkeyutl signed with the tls13-client identity"
grep -q 'denied by policy' <<<"$out" || p11a_fail "pkeyutl: message: $out"
echo "ok: openssl req and pkeyutl cannot sign with it"

# ---- TLS 1.3: allowed ----------------------------------------------------------
tls_s_server s13 -tls1_3 -Verify 1 -verify_return_error \
	-CAfile "$TLS_DIR/ca.pem"
S13=$TLS_PORT
for name in k13 k13e; do
	[[ $name == k13 ]] && scheme='rsa_pss_rsae_sha(256|384|512)' ||
		scheme=ecdsa_secp384r1_sha384
	before=$(tls_audit_count)
	tls_s_client "$S13" tls1_3 "p11agent:pkcs11:token=t13;object=$name" \
		"$TLS_DIR/$name.pem" || p11a_fail "s_client 1.3 $name: $TLS_OUT"
	tls_expect_client_cn "$name" "s_client 1.3 $name"
	tls_expect_signed "$before" openssl "$scheme" "s_client 1.3 $name"

	before=$(tls_audit_count)
	tls_connect "$S13" tls1_3 --identity "pkcs11:object=$name" ||
		p11a_fail "connect 1.3 $name: $TLS_OUT"
	tls_expect_client_cn "$name" "connect 1.3 $name"
	tls_expect_signed "$before" p11agent "$scheme" "connect 1.3 $name"

	tls_tunnel "$S13" tls1_3 --identity "pkcs11:object=$name"
	tunnel=$TLS_PID
	tls_curl "$TLS_PORT" || p11a_fail "tunnel 1.3 $name: $TLS_OUT"
	tls_expect_client_cn "$name" "tunnel 1.3 $name"
	tls_stop_tunnel "$tunnel" "$TLS_LOG"
done
if command -v gnutls-serv >/dev/null 2>&1; then
	tls_gnutls_serv g13 --require-client-cert --verify-client-cert \
		--x509cafile "$TLS_DIR/ca.pem" \
		--priority "NORMAL:-VERS-ALL:+VERS-TLS1.3"
	tls_connect "$TLS_PORT" tls1_3 --identity pkcs11:object=k13 ||
		p11a_fail "connect 1.3 to gnutls-serv: $TLS_OUT"
	tls_expect_client_cn k13 "connect 1.3 to gnutls-serv"
fi
echo "ok: TLS 1.3 handshakes with the tls13-client identities"

# ---- TLS 1.2: refused by the agent -------------------------------------------
tls_s_server s12 -tls1_2 -Verify 1 -verify_return_error \
	-CAfile "$TLS_DIR/ca.pem" -client_sigalgs RSA+SHA256:RSA-PSS+SHA256
S12=$TLS_PORT
before=$(tls_audit_count)
rc=0
tls_connect "$S12" tls1_2 --identity pkcs11:object=k13 || rc=$?
[[ $rc -eq 1 ]] || p11a_fail "connect 1.2 with k13: exit $rc, expected 1: $TLS_OUT"
grep -q 'the agent refused to sign' <<<"$TLS_OUT" ||
	p11a_fail "connect 1.2 with k13: message: $TLS_OUT"
tail -n +"$((before + 1))" "$TLS_AUDIT" | grep -q 'result=DENIED' ||
	p11a_fail "the agent did not record a denied signature"
rc=0
tls_s_client "$S12" tls1_2 "p11agent:$K13" "$TLS_DIR/k13.pem" || rc=$?
! grep -q 'Subject: CN=k13' <<<"$TLS_OUT" && grep -q 'denied by policy' \
	<<<"$TLS_OUT" || p11a_fail "s_client 1.2 with k13: $TLS_OUT"

# the automatic choice takes the RSA key that may sign in TLS 1.2
before=$(tls_audit_count)
tls_connect "$S12" tls1_2 || p11a_fail "automatic identity in 1.2: $TLS_OUT"
tls_expect_client_cn k-rsa "automatic identity in 1.2"
tls_expect_signed "$before" p11agent 'rsa_p(kcs1|ss_rsae)_sha256' \
	"automatic identity in 1.2"
echo "ok: TLS 1.2 refused for it, and never chosen for TLS 1.2"
