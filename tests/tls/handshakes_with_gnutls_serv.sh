#!/usr/bin/env bash
# The same handshakes against an independent TLS implementation:
# `gnutls-serv --require-client-cert --verify-client-cert` verifies our
# CertificateVerify in TLS 1.2 and TLS 1.3, for RSA (PKCS#1 v1.5 in 1.2,
# PSS in 1.3), ECDSA P-256, ECDSA P-384 and Ed25519, through stock
# `openssl s_client` with the provider, `p11agent connect`, and curl
# through `p11agent tunnel`.  Its --http page must show our certificate;
# the agent's audit log one signature per handshake with the expected
# scheme.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"

command -v gnutls-serv >/dev/null 2>&1 || p11a_skip "gnutls-serv not installed"

KEYS=(k-rsa:rsa2048 k-p256:p256 k-p384:p384 k-ed:ed25519)
tls_setup "${KEYS[@]}"

# TLS 1.2 without RSA-PSS, so that the RSA key must sign rsa_pkcs1_*.
NO_PSS=-SIGN-RSA-PSS-RSAE-SHA256:-SIGN-RSA-PSS-RSAE-SHA384:-SIGN-RSA-PSS-RSAE-SHA512:-SIGN-RSA-PSS-SHA256:-SIGN-RSA-PSS-SHA384:-SIGN-RSA-PSS-SHA512
tls_gnutls_serv g12 --require-client-cert --verify-client-cert \
	--x509cafile "$TLS_DIR/ca.pem" \
	--priority "NORMAL:-VERS-ALL:+VERS-TLS1.2:$NO_PSS"
port12=$TLS_PORT
tls_gnutls_serv g13 --require-client-cert --verify-client-cert \
	--x509cafile "$TLS_DIR/ca.pem" --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3"
port13=$TLS_PORT

tls_handshake_matrix "$port12" "$port13" "${KEYS[@]}"
echo "ok: $TLS_PASSED handshakes with gnutls-serv, each verified by the server and audited"
