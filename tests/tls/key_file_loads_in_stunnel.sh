#!/usr/bin/env bash
# stunnel4 in client mode, which takes a key only as a file ("key ="),
# authenticates with agent keys through key files (`p11agent export-key`)
# and the provider in openssl.cnf: one stunnel with a service per server,
# version and key, each against gnutls-serv --require-client-cert
# --verify-client-cert or openssl s_server -Verify 1 -verify_return_error,
# TLS 1.2 and 1.3, RSA and P-256; curl sends plain HTTP through it.  Each
# server's page must show our certificate, the audit log one signature by
# stunnel.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"

command -v stunnel4 >/dev/null 2>&1 || p11a_skip "stunnel4 not installed"
tls_setup k-rsa:rsa2048 k-p256:p256
tls_key_files k-rsa k-p256
tls_key_file_servers

# one service per case, each on a free local port
conf=$P11A_TMP/stunnel.conf
printf 'foreground = yes\npid = %s\nsyslog = no\ndebug = 5\n' \
	"$P11A_TMP/stunnel.pid" >"$conf"
while read -r server version name; do
	port=$(tls_free_port)
	TLS_KF_LOCAL[$server/$version/$name]=$port
	v=TLSv${version#tls}
	cat >>"$conf" <<EOF2

[$server-$version-$name]
client = yes
accept = 127.0.0.1:$port
connect = 127.0.0.1:${TLS_KF_PORT[$server/$version]}
sslVersion = ${v/_/.}
cert = $TLS_DIR/$name.cert.pem
key = $TLS_DIR/$name.key.pem
CAfile = $TLS_DIR/ca.pem
verifyChain = yes
checkIP = 127.0.0.1
EOF2
done < <(tls_key_file_cases)

log=$P11A_TMP/stunnel.log
tls_start_proxy "$log" 'Configuration successful' stunnel4 "$conf"

tls_key_file_matrix stunnel4 stunnel4 tls_key_file_via_proxy
