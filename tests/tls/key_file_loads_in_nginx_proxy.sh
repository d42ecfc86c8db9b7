#!/usr/bin/env bash
# nginx as a TLS client (proxy_pass https:// with proxy_ssl_certificate
# and proxy_ssl_certificate_key, which takes a key only as a file)
# authenticates with agent keys through key files (`p11agent export-key`)
# and the provider in openssl.cnf: one nginx with a local server per
# upstream server, version and key, proxying to gnutls-serv
# --require-client-cert --verify-client-cert or openssl s_server -Verify 1
# -verify_return_error, TLS 1.2 and 1.3, RSA and P-256.  The master
# process loads the key files and the worker it forks signs: each server's
# page must show our certificate, the audit log one signature by nginx.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || p11a_skip "nginx not installed"
tls_setup k-rsa:rsa2048 k-p256:p256
tls_key_files k-rsa k-p256
tls_key_file_servers

prefix=$P11A_TMP/nginx
mkdir -p "$prefix/tmp"
# as root the worker would otherwise run as nobody, which cannot reach
# the test's agent socket
user=
[[ $(id -u) -ne 0 ]] || user="user root;"
conf=$prefix/nginx.conf
cat >"$conf" <<EOF2
$user
worker_processes 1;
pid $prefix/nginx.pid;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $prefix/tmp/body;
	proxy_temp_path $prefix/tmp/proxy;
	fastcgi_temp_path $prefix/tmp/fastcgi;
	uwsgi_temp_path $prefix/tmp/uwsgi;
	scgi_temp_path $prefix/tmp/scgi;
EOF2
while read -r server version name; do
	port=$(tls_free_port)
	TLS_KF_LOCAL[$server/$version/$name]=$port
	v=TLSv${version#tls}
	cat >>"$conf" <<EOF2
	server {
		listen 127.0.0.1:$port;
		location / {
			proxy_pass https://127.0.0.1:${TLS_KF_PORT[$server/$version]};
			proxy_ssl_protocols ${v/_/.};
			proxy_ssl_certificate $TLS_DIR/$name.cert.pem;
			proxy_ssl_certificate_key $TLS_DIR/$name.key.pem;
			proxy_ssl_trusted_certificate $TLS_DIR/ca.pem;
			proxy_ssl_verify on;
			proxy_ssl_name localhost;
			proxy_ssl_session_reuse off;
		}
	}
EOF2
done < <(tls_key_file_cases)
echo "}" >>"$conf"

log=$P11A_TMP/nginx.log
tls_start_proxy "$log" 'start worker process' "$NGINX" -p "$prefix" -c "$conf" -e stderr \
	-g 'daemon off; error_log stderr notice;'

tls_key_file_matrix nginx nginx tls_key_file_via_proxy
! grep -Eq '\[(emerg|alert|crit)\]' "$log" ||
	p11a_fail "nginx reported errors: $(cat "$log")"
# the master loaded the keys, its forked worker signed
master=$(cat "$prefix/nginx.pid")
grep -q "exe=$NGINX " "$TLS_AUDIT" || p11a_fail "no signature by nginx"
! grep -q "sign pid=$master " "$TLS_AUDIT" ||
	p11a_fail "the nginx master signed, not its worker"
echo "ok: the keys loaded in the nginx master, its worker signed"
