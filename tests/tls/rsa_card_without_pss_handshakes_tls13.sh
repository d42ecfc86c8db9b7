#!/usr/bin/env bash
# RSA keys as older PIV and national cards have them: one whose token may
# only use CKM_RSA_X_509 (raw RSA), one with CKM_RSA_PKCS and
# CKM_RSA_X_509 (CKA_ALLOWED_MECHANISMS on real SoftHSM keys).  The agent
# pads PSS itself for CKM_RSA_X_509, so TLS 1.3 (RSA only with PSS) and
# TLS 1.2 client authentication succeed against `openssl s_server
# -Verify 1 -verify_return_error` and `gnutls-serv --require-client-cert
# --verify-client-cert`, both of which verify the PSS signature.  Every
# handshake leaves one audited signature with the expected scheme, and
# the agent's log says the PSS schemes go the raw way.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"

command -v gnutls-serv >/dev/null 2>&1 || p11a_skip "gnutls-serv not installed"
KEYS=(k-x509:rsa2048:mechs=rsa-x-509 k-piv:rsa2048:mechs=rsa-pkcs+rsa-x-509)
tls_setup "${KEYS[@]}"

p11a_list
for name in k-x509 k-piv; do
	i=$(p11a_find_identity "$name")
	[[ ${P11A_ID_SCHEMES[$i]} == *rsa_pss_rsae_sha256* ]] ||
		p11a_fail "$name lists no PSS scheme: ${P11A_ID_SCHEMES[$i]}"
	grep -Eq "identity ${P11A_ID_ID[$i]}: schemes.* rsa_pss_rsae_sha256=raw:0x3( |$)" \
		"$P11A_AGENT_LOG" ||
		p11a_fail "$name: the log does not say PSS goes through CKM_RSA_X_509"
done
# k-piv has CKM_RSA_PKCS: PKCS#1 v1.5 goes the native way there
i=$(p11a_find_identity k-piv)
grep -Eq "identity ${P11A_ID_ID[$i]}: schemes.* rsa_pkcs1_sha256=native:0x1( |$)" \
	"$P11A_AGENT_LOG" || p11a_fail "k-piv: PKCS#1 v1.5 is not native"

verbose=$("$P11AGENT" list --verbose)
[[ $(grep -c 'signs: raw-rsa (CKM_RSA_X_509, padded by the agent)$' \
	<<<"$verbose") -eq 2 ]] ||
	p11a_fail "list --verbose does not show both keys padded by the agent: $verbose"

tls_verifying_servers

passed=0
for server in s12 s13 g12 g13; do
	[[ $server == *13 ]] && version=tls1_3 || version=tls1_2
	# TLS 1.3 needs PSS; in 1.2 both servers prefer it too
	for spec in "${KEYS[@]}"; do
		name=${spec%%:*}
		id=$(p11a_identity_id "$name")
		scheme='rsa_pss_rsae_sha(256|384|512)|rsa_pkcs1_sha(256|384|512)'
		[[ $version == tls1_2 ]] || scheme='rsa_pss_rsae_sha(256|384|512)'
		tls_provider_and_connect "${TLS_SERVER_PORT[$server]}" "$version" \
			"$name" "$id" "$scheme" "$server"
		passed=$((passed + 2))
	done
done
[[ $passed -eq 16 ]] || p11a_fail "expected 16 handshakes, did $passed"
echo "ok: $passed handshakes with raw-RSA card keys, verified by the servers"
