#!/usr/bin/env bash
# NSS (the library of Firefox and Thunderbird) with the module added by
# `modutil -add`: certutil lists the agent's certificates and keys under
# the real token's name, and NSS's TLS client tstclnt authenticates with
# them to `openssl s_server -Verify 1 -verify_return_error` over TLS 1.2
# and 1.3, each handshake signing once in the agent.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
p11m_need modutil certutil tstclnt
p11m_ext timeout 10 certutil --help >/dev/null 2>&1 || [[ $? -eq 1 ]] ||
	p11a_skip "NSS tools do not run with the sanitizer runtime preloaded"

p11a_setup_dir
# NSS copes with Ed25519 keys: no filter needed
p11a_make_token tok 1234 n-rsa:rsa2048 n-ec:p256 n-ed:ed25519
export P11A_PIN=1234
audit=$P11A_TMP/audit.log
p11a_start_agent --pin-source env:P11A_PIN --audit "$audit"
dir=$P11A_TMP/tok
p11m_server_cert "$dir"

db=sql:$P11A_TMP/nssdb
mkdir "$P11A_TMP/nssdb"
certutil -N -d "$db" --empty-password
p11a_expect_exit 0 p11m_ext modutil -dbdir "$db" -add p11agent \
	-libfile "$P11M_MODULE" -force
certutil -A -d "$db" -n test-ca -t CT,C,C -i "$dir/ca.pem"

p11a_expect_exit 0 p11m_ext certutil -L -d "$db" -h all
for n in n-rsa n-ec n-ed; do
	p11a_expect_output_matches "^tok:$n +u,u,u"
done
p11a_expect_exit 0 p11m_ext certutil -K -d "$db" -h tok
p11a_expect_output_matches "rsa +$(cat "$dir/n-rsa.id") +n-rsa"
p11a_expect_output_matches "ec +$(cat "$dir/n-ec.id") +n-ec"

port=$(p11m_free_port)
p11m_start_server "$P11A_TMP/s_server.log" openssl s_server \
	-accept "127.0.0.1:$port" -cert "$dir/srv.pem" -key "$dir/srv.key" \
	-CAfile "$dir/ca.pem" -Verify 1 -verify_return_error -www
p11m_wait_port "$port" "$P11M_SERVER_PID"

# the request from a file: tstclnt spins on an exhausted stdin
printf 'GET / HTTP/1.0\r\n\r\n' >"$P11A_TMP/request"
for n in n-rsa n-ec; do
	for v in tls1.2 tls1.3; do
		before=$(wc -l <"$audit")
		out=$(p11m_ext timeout 20 tstclnt -h 127.0.0.1 -p "$port" \
			-d "$db" -n "tok:$n" -V "$v:$v" \
			-A "$P11A_TMP/request" 2>&1) || true
		grep -q 'HTTP/1.0 200 ok' <<<"$out" ||
			p11a_fail "tstclnt with $n over $v: no page: $out"
		grep -Eq "Protocol +: TLSv1\\.${v: -1}" <<<"$out" ||
			p11a_fail "tstclnt with $n: not $v: $out"
		[[ $(tail -n +"$((before + 1))" "$audit" | grep -c ' result=OK ') -eq 1 ]] ||
			p11a_fail "tstclnt with $n over $v: not one signature in the agent"
	done
done
echo ok
