#!/usr/bin/env bash
# `openssl s_client -engine pkcs11 -keyform engine -key 'pkcs11:...'`
# with the module (libp11's engine, PKCS11_MODULE_PATH) authenticates to
# `openssl s_server -Verify 1 -verify_return_error` and to `gnutls-serv
# --require-client-cert --verify-client-cert` over TLS 1.2 and 1.3 with
# RSA and ECDSA keys held by the agent; TLS 1.2 also with the PKCS#1
# v1.5 and the ECDSA-SHA384-on-P-256 signature algorithms, and TLS 1.1
# (the MD5+SHA-1 RSA signature) against s_server.  Each handshake makes
# a signature in the agent; a client certificate from another CA is
# refused, so the servers do check client authentication.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
p11m_need gnutls-serv
engines=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"/\1/p')
[[ -e $engines/pkcs11.so ]] || p11a_skip "libp11's pkcs11 engine not installed"

p11a_setup_dir
p11a_make_token tok 1234 c-rsa:rsa2048 c-ec:p256 c-ed:ed25519
export P11A_PIN=1234
audit=$P11A_TMP/audit.log
p11a_start_agent --pin-source env:P11A_PIN --audit "$audit"
dir=$P11A_TMP/tok
p11m_server_cert "$dir"
export PKCS11_MODULE_PATH=$P11M_MODULE
# libp11 0.4.12 finds no key on a token that also holds an Ed25519 key
export P11AGENT_PKCS11_FILTER=rsa,ec
# the other side of the refusal check: a CA the servers do not trust
mkdir "$P11A_TMP/other"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$P11A_TMP/other/ca.key" -subj /CN=other -days 2 \
	-out "$P11A_TMP/other/ca.pem" >/dev/null 2>&1
openssl req -new -key "$P11A_TMP/other/ca.key" -subj /CN=stranger \
	-out "$P11A_TMP/other/x.csr" >/dev/null 2>&1
openssl x509 -req -in "$P11A_TMP/other/x.csr" -CA "$P11A_TMP/other/ca.pem" \
	-CAkey "$P11A_TMP/other/ca.key" -CAcreateserial -days 2 \
	-out "$P11A_TMP/other/x.pem" >/dev/null 2>&1

# client PORT NAME CERT ARGS...: an HTTP GET over s_client with the key
# of identity NAME from the agent; output in P11A_OUTPUT, status returned
client() {
	local port=$1 name=$2 cert=$3 rc=0
	shift 3
	P11A_OUTPUT=$(printf 'GET / HTTP/1.0\r\n\r\n' |
		p11m_ext timeout 20 openssl s_client -connect "127.0.0.1:$port" \
			-servername localhost -CAfile "$dir/ca.pem" \
			-engine pkcs11 -keyform engine \
			-key "pkcs11:token=tok;object=$name;type=private" \
			-cert "$cert" -ign_eof "$@" 2>&1) || rc=$?
	return "$rc"
}

# handshake PORT OK-REGEX NAME SCHEME ARGS...: must complete, and the
# agent's audit log must show exactly one new signature, with SCHEME
handshakes=0
handshake() {
	local port=$1 ok=$2 name=$3 scheme=$4 before after
	shift 4
	before=$(wc -l <"$audit")
	client "$port" "$name" "$dir/$name.pem" "$@" || true
	grep -Eq "$ok" <<<"$P11A_OUTPUT" ||
		p11a_fail "$name $* on port $port: no page: $P11A_OUTPUT"
	after=$(tail -n +"$((before + 1))" "$audit")
	[[ $(grep -c ' result=OK ' <<<"$after") -eq 1 ]] ||
		p11a_fail "$name $*: expected one signature in the audit log: $after"
	grep -Eq " scheme=($scheme) " <<<"$after" ||
		p11a_fail "$name $*: signed with another scheme than $scheme: $after"
	handshakes=$((handshakes + 1))
}

refused() {
	local port=$1 name=$2 ok=$3
	shift 3
	client "$port" "$name" "$P11A_TMP/other/x.pem" "$@" || true
	! grep -Eq "$ok" <<<"$P11A_OUTPUT" ||
		p11a_fail "a certificate from another CA was accepted on $port"
}

# The schemes a handshake may sign with: in TLS 1.2 the server's
# preference picks PSS or PKCS#1 v1.5 (OpenSSL and GnuTLS differ); TLS
# 1.3 allows only RSA-PSS and the ECDSA scheme of the key's curve.
declare -A SCHEME=(
	["c-rsa -tls1_2"]='rsa_pss_rsae_sha256|rsa_pkcs1_sha256'
	["c-ec -tls1_2"]='ecdsa_secp256r1_sha256'
	["c-rsa -tls1_3"]='rsa_pss_rsae_sha256'
	["c-ec -tls1_3"]='ecdsa_secp256r1_sha256'
)

# s_server PORT ARGS...: an openssl s_server that requires and verifies
# a client certificate; its pid in srv
s_server() {
	local port=$1
	shift
	p11m_start_server "$P11A_TMP/s_server.$port.log" openssl s_server \
		-accept "127.0.0.1:$port" -cert "$dir/srv.pem" \
		-key "$dir/srv.key" -CAfile "$dir/ca.pem" -Verify 1 \
		-verify_return_error -www "$@"
	srv=$P11M_SERVER_PID
	p11m_wait_port "$port" "$srv"
}

# --- openssl s_server -------------------------------------------------
ok='HTTP/1.0 200 ok'
port=$(p11m_free_port)
s_server "$port" -cipher 'DEFAULT:@SECLEVEL=0'
for v in -tls1_2 -tls1_3; do
	for name in c-rsa c-ec; do
		handshake "$port" "$ok" "$name" "${SCHEME[$name $v]}" "$v"
		p11a_expect_output_matches "Protocol *: TLSv1\\.${v: -1}"
	done
done
handshake "$port" "$ok" c-rsa rsa_pkcs1_md5_sha1 -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
p11a_expect_output_matches 'Protocol *: TLSv1\.1'
refused "$port" c-ec "$ok" -tls1_3
# the engine set up in an openssl.cnf instead, the filter in INIT_ARGS
cat >"$P11A_TMP/openssl.cnf" <<-EOF
	openssl_conf = openssl_init
	[openssl_init]
	engines = engine_section
	[engine_section]
	pkcs11 = pkcs11_section
	[pkcs11_section]
	engine_id = pkcs11
	MODULE_PATH = $P11M_MODULE
	INIT_ARGS = filter=rsa,ec
EOF
OPENSSL_CONF=$P11A_TMP/openssl.cnf PKCS11_MODULE_PATH='' P11AGENT_PKCS11_FILTER='' \
	handshake "$port" "$ok" c-rsa "${SCHEME[c-rsa -tls1_3]}" -tls1_3
p11m_stop_server "$srv"

# a server that asks for PKCS#1 v1.5 and for ECDSA with SHA-384 only
port=$(p11m_free_port)
s_server "$port" -client_sigalgs RSA+SHA256:ECDSA+SHA384
handshake "$port" "$ok" c-rsa rsa_pkcs1_sha256 -tls1_2
handshake "$port" "$ok" c-ec ecdsa_secp384r1_sha384 -tls1_2
p11m_stop_server "$srv"

# --- gnutls-serv ------------------------------------------------------
port=$(p11m_free_port)
p11m_start_server "$P11A_TMP/gnutls-serv.log" gnutls-serv --http \
	--port "$port" --x509certfile "$dir/srv.pem" \
	--x509keyfile "$dir/srv.key" --x509cafile "$dir/ca.pem" \
	--require-client-cert --verify-client-cert
srv=$P11M_SERVER_PID
p11m_wait_port "$port" "$srv"
ok='HTTP/1.0 200 OK'
for v in -tls1_2 -tls1_3; do
	for name in c-rsa c-ec; do
		handshake "$port" "$ok" "$name" "${SCHEME[$name $v]}" "$v"
	done
done
refused "$port" c-rsa "$ok" -tls1_2
p11m_stop_server "$srv"

[[ $handshakes -eq 12 ]] || p11a_fail "$handshakes handshakes, expected 12"
echo "ok: $handshakes handshakes"
