# shellcheck shell=bash
#
# Helpers of the TLS tests, on top of tests/integration/lib.sh: a token
# whose certificates come from one test CA, a server certificate from the
# same CA, a p11agentd with an audit log, TLS servers on 127.0.0.1 (free
# ports, killed by pid at exit), and the three client paths: stock
# `openssl s_client` with the provider, `p11agent connect`, and curl
# through `p11agent tunnel`.
#
# Environment (set by CTest): those of lib.sh, and
#   P11A_PROVIDER_DIR   directory of p11agent.so
#   P11A_FORK_SIGN      the fork test program
#   P11A_SIG_PARAMS     the signature parameter test program
#   P11A_TLS_PRELOAD    sanitizer runtime for stock programs (ASan builds)

. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

TLS_PIDS=()
TLS_DIR=   # certificates: ca.pem, ca.key, NAME.pem, srv.pem, srv.key
TLS_AUDIT= # the agent's audit log
TLS_OUT=   # output of the last client run
TLS_LOG=   # log of the last server or tunnel started
TLS_PORT=  # port of the last server or tunnel started
TLS_PID=   # pid of the last server or tunnel started
# The provider, loaded after the default provider (docs/TLS.md).
TLS_PROVIDER=()

tls_cleanup() {
	local rc=$? pid
	set +e
	for pid in "${TLS_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${TLS_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	(exit "$rc")
	p11a_cleanup
}

tls_require() {
	p11a_require
	command -v curl >/dev/null 2>&1 || p11a_skip "curl not installed"
	[[ -n ${P11A_PROVIDER_DIR:-} && -r $P11A_PROVIDER_DIR/p11agent.so ]] ||
		p11a_fail "P11A_PROVIDER_DIR must hold p11agent.so"
}

# Stock openssl with our provider module: in sanitizer builds the module
# needs the sanitizer runtime preloaded (and openssl's own leaks are not
# ours to report).  It never runs longer than 30 s.
tls_openssl() {
	if [[ -n ${P11A_TLS_PRELOAD:-} ]]; then
		LD_PRELOAD=$P11A_TLS_PRELOAD ASAN_OPTIONS=detect_leaks=0 \
			timeout 30 openssl "$@"
	else
		timeout 30 openssl "$@"
	fi
}

# tls_setup KEYSPEC...: private dir, a token "tok" (PIN 1234) with these
# keys, all certified by one CA in $TLS_DIR, a server certificate
# (CN=localhost, IP 127.0.0.1) from the same CA, and the agent running
# with an audit log.  Extra agent arguments may follow "--".
tls_setup() {
	local specs=() agent_args=()
	while [[ $# -gt 0 && $1 != -- ]]; do
		specs+=("$1")
		shift
	done
	[[ ${1:-} == -- ]] && shift
	agent_args=("$@")
	tls_require
	p11a_setup_dir
	trap tls_cleanup EXIT
	TLS_DIR=$P11A_TMP/certs
	tls_make_token tok "${specs[@]}"
	tls_server_cert
	TLS_AUDIT=$P11A_TMP/audit.log
	export P11A_PIN=1234
	p11a_start_agent --pin-source env:P11A_PIN --audit "$TLS_AUDIT" \
		"${agent_args[@]}"
	TLS_PROVIDER=(-provider-path "$P11A_PROVIDER_DIR" -provider default
		-provider p11agent)
}

# tls_make_token LABEL KEYSPEC...: another token (PIN 1234), certified
# by the same CA.
tls_make_token() {
	local label=$1
	shift
	softhsm2-util --init-token --free --label "$label" --pin 1234 \
		--so-pin "$P11A_SO_PIN" >/dev/null 2>&1 ||
		p11a_fail "cannot initialise token $label"
	"$P11A_MKTOKEN" --module "$P11A_MODULE" --token "$label" --pin 1234 \
		--out "$TLS_DIR" "$@" >/dev/null ||
		p11a_fail "p11a-mktoken failed for token $label"
}

tls_server_cert() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TLS_DIR/srv.key" -subj /CN=localhost \
		-out "$TLS_DIR/srv.csr" 2>/dev/null &&
		openssl x509 -req -in "$TLS_DIR/srv.csr" -days 2 \
			-CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
			-CAcreateserial -out "$TLS_DIR/srv.pem" \
			-extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n') \
			2>/dev/null ||
		p11a_fail "cannot make the server certificate"
}

# A CA that has signed nothing of ours: $TLS_DIR/other-ca.pem.
tls_other_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TLS_DIR/other-ca.key" -subj "/CN=another CA" \
		-days 2 -out "$TLS_DIR/other-ca.pem" 2>/dev/null ||
		p11a_fail "cannot make another CA"
}

tls_track() {
	TLS_PID=$1
	TLS_PIDS+=("$1")
}

# Stop the server or tunnel whose pid is $1.
tls_stop() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# Stop the tunnel whose pid is $1 and log is $2: it must exit 0, with no
# sanitizer report in its log.
tls_stop_tunnel() {
	local rc=0
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || rc=$?
	[[ $rc -eq 0 ]] || p11a_fail "the tunnel exited $rc on SIGTERM: $(cat "$2")"
	! grep -Eq 'Sanitizer|runtime error' "$2" ||
		p11a_fail "sanitizer report from the tunnel: $(cat "$2")"
}

# Wait until the log $1 has a line matching the ERE $2 (10 s).
tls_wait_log() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		p11a_pid_alive "$TLS_PID" || break
		sleep 0.05
	done
	cat "$1" >&2
	p11a_fail "no /$2/ in $1"
}

tls_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# tls_s_server NAME ARGS...: openssl s_server on 127.0.0.1 (a free port),
# answering HTTP (-www: the page shows the client certificate), requiring
# a client certificate from the test CA unless ARGS say otherwise.
tls_s_server() {
	local name=$1
	shift
	TLS_LOG=$P11A_TMP/$name.log
	openssl s_server -accept 127.0.0.1:0 -cert "$TLS_DIR/srv.pem" \
		-key "$TLS_DIR/srv.key" -www "$@" </dev/null >"$TLS_LOG" 2>&1 &
	tls_track $!
	tls_wait_log "$TLS_LOG" '^ACCEPT '
	TLS_PORT=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$TLS_LOG")
}

# tls_gnutls_serv NAME ARGS...: gnutls-serv --http on a free port.  (It
# listens on every address; the clients use 127.0.0.1.)
tls_gnutls_serv() {
	local name=$1 _try
	shift
	TLS_LOG=$P11A_TMP/$name.log
	for _try in 1 2 3; do
		TLS_PORT=$(tls_free_port)
		gnutls-serv --http -p "$TLS_PORT" \
			--x509certfile "$TLS_DIR/srv.pem" \
			--x509keyfile "$TLS_DIR/srv.key" "$@" \
			</dev/null >"$TLS_LOG" 2>&1 &
		tls_track $!
		local i
		for ((i = 0; i < 200; i++)); do
			grep -q 'listening on IPv4' "$TLS_LOG" && return 0
			p11a_pid_alive "$TLS_PID" || break
			sleep 0.05
		done
		tls_stop "$TLS_PID" # the port was taken meanwhile: again
	done
	cat "$TLS_LOG" >&2
	p11a_fail "gnutls-serv did not start"
}

# ---- clients ---------------------------------------------------------------

TLS_REQUEST=$'GET / HTTP/1.0\r\n\r\n'

# tls_verifying_servers: four servers that require and verify a client
# certificate from the test CA: s12/s13 (openssl s_server -Verify 1
# -verify_return_error, TLS 1.2 / 1.3 only) and g12/g13 (gnutls-serv
# --verify-client-cert); their ports in TLS_SERVER_PORT[NAME].
tls_verifying_servers() {
	declare -gA TLS_SERVER_PORT=()
	local v
	for v in 2 3; do
		tls_s_server "s1$v" "-tls1_$v" -Verify 1 -verify_return_error \
			-CAfile "$TLS_DIR/ca.pem"
		TLS_SERVER_PORT[s1$v]=$TLS_PORT
		tls_gnutls_serv "g1$v" --require-client-cert --verify-client-cert \
			--x509cafile "$TLS_DIR/ca.pem" \
			--priority "NORMAL:-VERS-ALL:+VERS-TLS1.$v"
		TLS_SERVER_PORT[g1$v]=$TLS_PORT
	done
}

# tls_s_client PORT VERSION KEY-URI CERT [ARGS...]: stock openssl
# s_client with the provider; output in TLS_OUT, returns its status.
tls_s_client() {
	local port=$1 version=$2 key=$3 cert=$4 rc=0
	shift 4
	TLS_OUT=$(printf '%s' "$TLS_REQUEST" | tls_openssl s_client \
		"${TLS_PROVIDER[@]}" -connect "127.0.0.1:$port" "-$version" \
		-key "$key" -cert "$cert" -CAfile "$TLS_DIR/ca.pem" \
		-ign_eof "$@" 2>&1) || rc=$?
	return "$rc"
}

# tls_connect PORT VERSION [ARGS...]: p11agent connect; TLS_OUT gets
# stdout and stderr, returns its status.
tls_connect() {
	local port=$1 version=$2 rc=0
	shift 2
	TLS_OUT=$(printf '%s' "$TLS_REQUEST" | timeout 20 "$P11AGENT" connect \
		"--${version/_/.}" --CAfile "$TLS_DIR/ca.pem" "$@" \
		"127.0.0.1:$port" 2>&1) || rc=$?
	return "$rc"
}

# tls_tunnel PORT VERSION [ARGS...]: start p11agent tunnel to the server
# on PORT; its local port in TLS_PORT, its log in TLS_LOG.
tls_tunnel() {
	local port=$1 version=$2
	shift 2
	TLS_LOG=$(mktemp "$P11A_TMP/tunnel.XXXXXX")
	"$P11AGENT" tunnel --listen 127.0.0.1:0 --connect "127.0.0.1:$port" \
		"--${version/_/.}" --CAfile "$TLS_DIR/ca.pem" "$@" \
		</dev/null >/dev/null 2>"$TLS_LOG" &
	tls_track $!
	tls_wait_log "$TLS_LOG" 'listening on 127\.0\.0\.1:[0-9]+'
	TLS_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' \
		"$TLS_LOG")
}

# tls_curl PORT: plain HTTP to a tunnel; output in TLS_OUT.
tls_curl() {
	local rc=0
	TLS_OUT=$(curl -sS --max-time 20 "http://127.0.0.1:$1/" 2>&1) || rc=$?
	return "$rc"
}

# ---- checks ----------------------------------------------------------------

# Fail unless TLS_OUT shows the server's page with client certificate CN.
tls_expect_client_cn() {
	grep -Eq "Subject: ?CN ?= ?$1\$" <<<"$TLS_OUT" ||
		p11a_fail "$2: the server's page does not show client CN=$1: $TLS_OUT"
}

tls_audit_count() {
	if [[ -f $TLS_AUDIT ]]; then
		wc -l <"$TLS_AUDIT"
	else
		echo 0
	fi
}

# tls_expect_signed BEFORE EXE SCHEME-ERE WHAT: exactly one signature
# since the audit log had BEFORE lines, made for program EXE (basename)
# with a scheme matching SCHEME-ERE, successfully.
tls_expect_signed() {
	local before=$1 exe=$2 scheme=$3 what=$4 lines
	lines=$(tail -n +"$((before + 1))" "$TLS_AUDIT")
	[[ $(grep -c . <<<"$lines") -eq 1 ]] ||
		p11a_fail "$what: expected one signature in the audit log, got: $lines"
	grep -Eq "exe=[^ ]*/$exe identity=[0-9a-f]+ token=\"[^\"]*\" scheme=($scheme) result=OK" \
		<<<"$lines" ||
		p11a_fail "$what: audit line is not $exe/$scheme/OK: $lines"
}

# ---- the handshake matrix ---------------------------------------------------

# The scheme a key (NAME from KEYS: k-rsa, k-p256, k-p384, k-ed, or one
# of those followed by -SUFFIX) must sign with, as an ERE, for a server
# that offers RSA with PKCS#1 v1.5 only in TLS 1.2.
tls_scheme_for() {
	local kind=$2
	[[ $kind == k-*-* ]] && kind=${kind%-*}
	case $1/$kind in
	tls1_2/k-rsa) echo 'rsa_pkcs1_sha(256|384|512)' ;;
	tls1_3/k-rsa) echo 'rsa_pss_rsae_sha(256|384|512)' ;;
	tls1_2/k-p256 | tls1_2/k-p384)
		echo 'ecdsa_secp(256r1_sha256|384r1_sha384|521r1_sha512)' ;;
	tls1_3/k-p256) echo 'ecdsa_secp256r1_sha256' ;;
	tls1_3/k-p384) echo 'ecdsa_secp384r1_sha384' ;;
	*/k-ed) echo 'ed25519' ;;
	*) p11a_fail "tls_scheme_for: unknown key $2" ;;
	esac
}

# tls_provider_and_connect PORT VERSION NAME ID SCHEME LABEL: one
# handshake through s_client with the provider (key by p11agent:ID) and
# one through `p11agent connect` (identity by pkcs11: URI); each must show
# NAME's certificate on the server's page and leave one audited signature
# whose scheme matches the regex SCHEME.  LABEL names the server in
# failures.
tls_provider_and_connect() {
	local port=$1 version=$2 name=$3 id=$4 scheme=$5 label=$6 what before

	what="s_client+provider $label $name"
	before=$(tls_audit_count)
	tls_s_client "$port" "$version" "p11agent:$id" "$TLS_DIR/$name.pem" ||
		p11a_fail "$what: s_client failed: $TLS_OUT"
	tls_expect_client_cn "$name" "$what"
	tls_expect_signed "$before" openssl "$scheme" "$what"

	what="p11agent connect $label $name"
	before=$(tls_audit_count)
	tls_connect "$port" "$version" \
		--identity "pkcs11:token=tok;object=$name" ||
		p11a_fail "$what: exit $?: $TLS_OUT"
	tls_expect_client_cn "$name" "$what"
	tls_expect_signed "$before" p11agent "$scheme" "$what"
}

# tls_handshake_matrix PORT12 PORT13 NAME:TYPE...: for TLS 1.2 (server on
# PORT12) and TLS 1.3 (PORT13) and every key, one handshake through each
# client path: s_client with the provider (key by p11agent:ID), connect
# (identity by pkcs11: URI), curl through a tunnel (identity by id).
# Each must show the key's certificate on the server's page and leave
# one audited signature with the expected scheme.  Sets TLS_PASSED.
tls_handshake_matrix() {
	local -A ports=([tls1_2]=$1 [tls1_3]=$2)
	local version spec name id scheme what before tunnel
	shift 2
	TLS_PASSED=0
	p11a_list
	for version in tls1_2 tls1_3; do
		for spec in "$@"; do
			name=${spec%%:*}
			id=$(p11a_identity_id "$name")
			scheme=$(tls_scheme_for "$version" "$name")

			tls_provider_and_connect "${ports[$version]}" \
				"$version" "$name" "$id" "$scheme" "$version"

			what="curl through p11agent tunnel $version $name"
			before=$(tls_audit_count)
			tls_tunnel "${ports[$version]}" "$version" --identity "$id"
			tunnel=$TLS_PID
			tls_curl "$TLS_PORT" ||
				p11a_fail "$what: curl failed: $TLS_OUT"
			tls_expect_client_cn "$name" "$what"
			tls_wait_log "$TLS_LOG" '#1 closed: [0-9]+ bytes up'
			tls_stop_tunnel "$tunnel" "$TLS_LOG"
			tls_expect_signed "$before" p11agent "$scheme" "$what"
			TLS_PASSED=$((TLS_PASSED + 3))
			echo "ok: $version $name: s_client, connect, tunnel"
		done
	done
}

# tls_verifying_servers_matrix NAME:TYPE...: tls_handshake_matrix against
# the four servers of tls_key_file_servers (openssl s_server and
# gnutls-serv, TLS 1.2 without RSA-PSS and TLS 1.3, each verifying the
# client's certificate and CertificateVerify), started by the first call.
# TLS_PASSED counts all.
tls_verifying_servers_matrix() {
	local server passed=0
	[[ -n ${TLS_KF_PORT[s_server/tls1_3]:-} ]] || tls_key_file_servers
	for server in s_server gnutls; do
		tls_handshake_matrix "${TLS_KF_PORT[$server/tls1_2]}" \
			"${TLS_KF_PORT[$server/tls1_3]}" "$@"
		echo "ok: $TLS_PASSED handshakes with $server"
		passed=$((passed + TLS_PASSED))
	done
	TLS_PASSED=$passed
}

# ---- key files (docs/TLS.md, "Key files") ----------------------------------

TLS_CNF= # the openssl.cnf of docs/TLS.md: default, then p11agent
declare -A TLS_KF_PORT # "server/version" -> port, of tls_key_file_servers

# A stock program that loads our provider module (tls_openssl, for any
# program): the sanitizer runtime preloaded in sanitizer builds.
tls_stock() {
	if [[ -n ${P11A_TLS_PRELOAD:-} ]]; then
		LD_PRELOAD=$P11A_TLS_PRELOAD ASAN_OPTIONS=detect_leaks=0 "$@"
	else
		"$@"
	fi
}

# tls_openssl_cnf FILE: the openssl.cnf snippet of docs/TLS.md, the
# agent socket set in it (so that a program that clears its environment,
# like nginx's workers, still finds the agent).
tls_openssl_cnf() {
	cat >"$1" <<CNF
openssl_conf = openssl_init

[openssl_init]
providers = provider_sect

[provider_sect]
default = default_sect
p11agent = p11agent_sect

[default_sect]
activate = 1

[p11agent_sect]
module = $P11A_PROVIDER_DIR/p11agent.so
socket = $P11AGENT_SOCK
activate = 1
CNF
}

# tls_key_files NAME...: TLS_CNF (tls_openssl_cnf), and for every key
# NAME the key file $TLS_DIR/NAME.key.pem (`p11agent export-key`) and its
# certificate $TLS_DIR/NAME.cert.pem (`p11agent export-cert`), which must
# be the token's.
tls_key_files() {
	local name id
	TLS_CNF=$P11A_TMP/openssl.cnf
	tls_openssl_cnf "$TLS_CNF"
	p11a_list
	for name in "$@"; do
		id=$(p11a_identity_id "$name")
		"$P11AGENT" export-key --identity "$id" >"$TLS_DIR/$name.key.pem" ||
			p11a_fail "export-key $name"
		"$P11AGENT" export-cert --identity "pkcs11:object=$name" \
			>"$TLS_DIR/$name.cert.pem" || p11a_fail "export-cert $name"
		cmp -s <(openssl x509 -in "$TLS_DIR/$name.cert.pem" -outform DER) \
			<(openssl x509 -in "$TLS_DIR/$name.pem" -outform DER) ||
			p11a_fail "export-cert $name: not the token's certificate"
	done
}

# Four servers that require and verify a client certificate from the test
# CA: gnutls-serv and openssl s_server, each for TLS 1.2 (RSA with PKCS#1
# v1.5 only) and TLS 1.3; ports in TLS_KF_PORT[gnutls/tls1_2] etc.
tls_key_file_servers() {
	local no_pss=-SIGN-RSA-PSS-RSAE-SHA256:-SIGN-RSA-PSS-RSAE-SHA384:-SIGN-RSA-PSS-RSAE-SHA512:-SIGN-RSA-PSS-SHA256:-SIGN-RSA-PSS-SHA384:-SIGN-RSA-PSS-SHA512
	local pkcs1=RSA+SHA256:RSA+SHA384:RSA+SHA512:ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512
	command -v gnutls-serv >/dev/null 2>&1 || p11a_skip "gnutls-serv not installed"
	tls_gnutls_serv g12 --require-client-cert --verify-client-cert \
		--x509cafile "$TLS_DIR/ca.pem" \
		--priority "NORMAL:-VERS-ALL:+VERS-TLS1.2:$no_pss"
	TLS_KF_PORT[gnutls/tls1_2]=$TLS_PORT
	tls_gnutls_serv g13 --require-client-cert --verify-client-cert \
		--x509cafile "$TLS_DIR/ca.pem" --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3"
	TLS_KF_PORT[gnutls/tls1_3]=$TLS_PORT
	tls_s_server s12 -tls1_2 -Verify 1 -verify_return_error \
		-CAfile "$TLS_DIR/ca.pem" -client_sigalgs "$pkcs1"
	TLS_KF_PORT[s_server/tls1_2]=$TLS_PORT
	tls_s_server s13 -tls1_3 -Verify 1 -verify_return_error \
		-CAfile "$TLS_DIR/ca.pem"
	TLS_KF_PORT[s_server/tls1_3]=$TLS_PORT
}

# The server/version/key combinations the key file tests run.
tls_key_file_cases() {
	local server version name
	for server in gnutls s_server; do
		for version in tls1_2 tls1_3; do
			for name in k-rsa k-p256; do
				echo "$server $version $name"
			done
		done
	done
}

# For proxies (stunnel, nginx): the local port of each case,
# TLS_KF_LOCAL[server/version/name], and the client that sends plain HTTP
# there with curl (an FN for tls_key_file_matrix).
declare -A TLS_KF_LOCAL
tls_key_file_via_proxy() {
	local rc=0
	TLS_OUT=$(curl -sS --max-time 20 \
		"http://127.0.0.1:${TLS_KF_LOCAL[$1/$2/$3]}/" 2>&1) || rc=$?
	return "$rc"
}

# tls_start_proxy LOG READY-ERE CMD...: start a proxy (with TLS_CNF) and
# wait until its log says it is ready.
tls_start_proxy() {
	local log=$1 ready=$2
	shift 2
	OPENSSL_CONF=$TLS_CNF tls_stock "$@" </dev/null >"$log" 2>&1 &
	tls_track $!
	TLS_LOG=$log
	tls_wait_log "$log" "$ready"
}

# tls_key_file_matrix CLIENT EXE-ERE FN: for every case, FN SERVER VERSION
# NAME runs the client (key file $TLS_DIR/NAME.key.pem, certificate
# $TLS_DIR/NAME.cert.pem) against the server on TLS_KF_PORT[SERVER/VERSION]
# and leaves the server's page in TLS_OUT; the page must show CN=NAME and
# the audit log exactly one signature for EXE with the expected scheme.
tls_key_file_matrix() {
	local label=$1 exe=$2 fn=$3 server version name before what n=0
	while read -r server version name; do
		what="$label $server $version $name"
		before=$(tls_audit_count)
		"$fn" "$server" "$version" "$name" ||
			p11a_fail "$what: the client failed: $TLS_OUT"
		tls_expect_client_cn "$name" "$what"
		tls_expect_signed "$before" "$exe" \
			"$(tls_scheme_for "$version" "$name")" "$what"
		n=$((n + 1))
		echo "ok: $what"
	done < <(tls_key_file_cases)
	echo "ok: $n handshakes of $label with key files, each verified by the server and audited"
}
