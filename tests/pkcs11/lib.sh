# shellcheck shell=bash
#
# Harness of the PKCS#11 front module tests: the integration harness
# (tests/integration/lib.sh: SoftHSM tokens, a real p11agentd, OpenSSL
# verification) plus what the module's consumers need.
#
# Environment (set by CTest, see CMakeLists.txt), beside lib.sh's:
#   P11M_MODULE       the module under test, p11agent-pkcs11.so
#   P11M_API_TEST     tests/pkcs11/api_test.c built
#   P11M_LIBP11_TEST  tests/pkcs11/libp11_test.c built (when libp11 is)
#   P11M_PRELOAD      sanitizer builds: the sanitizer runtime that
#                     programs not built with it need to load the module

. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

[[ -n ${P11M_MODULE:-} && -r $P11M_MODULE ]] ||
	p11a_fail "P11M_MODULE must name p11agent-pkcs11.so (got '${P11M_MODULE:-}')"
unset P11AGENT_PKCS11_FILTER P11AGENT_PKCS11_DEBUG

# p11m_need CMD...: skip unless every command is installed.
p11m_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || p11a_skip "$c not installed"
	done
}

# The total of the SIGNS column of `p11agent status` (third from the
# end: token labels may hold spaces).
p11m_agent_signs() {
	"$P11AGENT" status | awk '
		/^TOKEN/ { table = 1; next }
		table && NF >= 7 { sum += $(NF - 2) }
		END { print sum + 0 }'
}

# A TCP port nothing listens on now.
p11m_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# p11m_wait_port PORT PID: wait until PORT accepts connections; fail if
# PID exits first or after P11A_TIMEOUT s.
p11m_wait_port() {
	local port=$1 pid=$2 i
	for ((i = 0; i < P11A_TIMEOUT * 20; i++)); do
		p11a_pid_alive "$pid" || p11a_fail "server $pid exited before listening on $port"
		if (: </dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	p11a_fail "nothing listens on port $port after ${P11A_TIMEOUT}s"
}

# p11m_server_cert DIR: a P-256 server key and certificate for localhost
# (DIR/srv.key, DIR/srv.pem) signed by the CA p11a-mktoken left in DIR.
p11m_server_cert() {
	local dir=$1
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/srv.key" -subj /CN=localhost -out "$dir/srv.csr" \
		>/dev/null 2>&1 || p11a_fail "cannot make a server key"
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/srv.ext"
	openssl x509 -req -in "$dir/srv.csr" -CA "$dir/ca.pem" \
		-CAkey "$dir/ca.key" -CAcreateserial -days 2 \
		-extfile "$dir/srv.ext" -out "$dir/srv.pem" >/dev/null 2>&1 ||
		p11a_fail "cannot sign the server certificate"
}

# Servers started by p11m_start_server, stopped on exit.
P11M_SERVER_PIDS=()

p11m_cleanup() {
	local rc=$? pid
	set +e
	for pid in "${P11M_SERVER_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	# then the agent and the directory, as lib.sh does
	(exit "$rc")
	p11a_cleanup
}

# p11m_start_server LOG CMD...: start a server in the background, its
# output in LOG; its pid in P11M_SERVER_PID.
p11m_start_server() {
	local log=$1
	shift
	"$@" </dev/null >"$log" 2>&1 &
	P11M_SERVER_PID=$!
	P11M_SERVER_PIDS+=("$P11M_SERVER_PID")
	trap p11m_cleanup EXIT
}

# p11m_stop_server PID
p11m_stop_server() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
