#!/usr/bin/env bash
# Python's ssl module, which takes a client key only as a file
# (SSLContext.load_cert_chain(cert, key)), authenticates with agent keys
# through key files (`p11agent export-key`) and the provider in
# openssl.cnf, against gnutls-serv --require-client-cert
# --verify-client-cert and openssl s_server -Verify 1
# -verify_return_error, TLS 1.2 and 1.3, RSA and P-256.  Each server's
# page must show our certificate, the audit log one signature by python.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"

command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
# the interpreter itself, not a wrapper script that finds it (pyenv)
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
tls_setup k-rsa:rsa2048 k-p256:p256
tls_key_files k-rsa k-p256
tls_key_file_servers

CLIENT_PY=$P11A_TMP/client.py
cat >"$CLIENT_PY" <<'EOF2'
import socket
import ssl
import sys

port, version, cert, key, ca = sys.argv[1:]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(ca)
ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version)
ctx.load_cert_chain(cert, key)
with socket.create_connection(("127.0.0.1", int(port)), timeout=20) as raw:
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
        page = b""
        while True:
            try:
                chunk = tls.recv(65536)
            except ssl.SSLZeroReturnError:
                break
            if not chunk:
                break
            page += chunk
sys.stdout.write(page.decode("utf-8", "replace"))
EOF2

python_client() {
	local server=$1 version=$2 name=$3 rc=0
	local v=TLSv${version#tls}
	TLS_OUT=$(OPENSSL_CONF=$TLS_CNF tls_stock timeout 30 "$PYTHON" "$CLIENT_PY" \
		"${TLS_KF_PORT[$server/$version]}" "$v" \
		"$TLS_DIR/$name.cert.pem" "$TLS_DIR/$name.key.pem" \
		"$TLS_DIR/ca.pem" 2>&1) || rc=$?
	return "$rc"
}
tls_key_file_matrix python3 'python3(\.[0-9]+)*' python_client
