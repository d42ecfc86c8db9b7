# shellcheck shell=bash
#
# Helpers of the opencryptoki tests, on top of tests/tls/tls_lib.sh (and
# so tests/integration/lib.sh): opencryptoki's soft token, reset and
# filled by tests/tools/p11a-ock, and the agent on opencryptoki's module.
# The soft token's state is the system's (/var/lib/opencryptoki, the
# pkcsslotd daemon): the tests need root, run one at a time (RUN_SERIAL,
# RESOURCE_LOCK opencryptoki) and each starts from a reset token.
#
#   ock_setup LABEL PIN KEYSPEC...   private dir, the soft token reset
#                             and initialised with keys certified by the
#                             CA of $TLS_DIR (public keys there too);
#                             skipped (77) without root or opencryptoki,
#                             when the soft token is someone else's, or
#                             when it does not take an imported key
#   ock_has_mechanism NAME    true if the soft token lists mechanism NAME
#                             (pkcs11-tool's name, e.g. ECDSA)
#   ock_start_agent ARGS      p11agentd on opencryptoki with ARGS

. "$(dirname "${BASH_SOURCE[0]}")/../tls/tls_lib.sh"

P11A_OCK=$(dirname "${BASH_SOURCE[0]}")/../tools/p11a-ock
OCK_STARTED= # 1: pkcsslotd did not run before the test, stop it after
OCK_MODULE=

ock_cleanup() {
	local rc=$?
	set +e
	[[ $OCK_STARTED == 1 ]] && "$P11A_OCK" stop
	(exit "$rc")
	tls_cleanup
}

ock_require() {
	[[ $(id -u) -eq 0 ]] ||
		p11a_skip "not root: the opencryptoki tests reset the system's soft token (/var/lib/opencryptoki)"
	OCK_MODULE=$("$P11A_OCK" module 2>/dev/null) ||
		p11a_skip "opencryptoki not installed (contrib/deps.sh lists it)"
	[[ -x /usr/sbin/pkcsslotd && -x /usr/sbin/pkcsconf ]] ||
		p11a_skip "pkcsslotd or pkcsconf missing (package opencryptoki)"
	command -v pkcs11-tool >/dev/null 2>&1 ||
		p11a_skip "pkcs11-tool not installed (package opensc)"
}

ock_setup() {
	local label=$1 pin=$2 rc=0
	shift 2
	ock_require
	tls_require
	p11a_setup_dir
	trap ock_cleanup EXIT
	TLS_DIR=$P11A_TMP/certs
	mkdir -p "$TLS_DIR"
	"$P11A_OCK" running || OCK_STARTED=1
	"$P11A_OCK" token "$label" "$pin" "$TLS_DIR" "$@" \
		>"$P11A_TMP/ock.out" 2>&1 || rc=$?
	case $rc in
	0) ;;
	2 | 4) p11a_skip "$(tail -n 1 "$P11A_TMP/ock.out")" ;;
	*) p11a_fail "p11a-ock token failed: $(cat "$P11A_TMP/ock.out")" ;;
	esac
	TLS_PROVIDER=(-provider-path "$P11A_PROVIDER_DIR" -provider default
		-provider p11agent)
}

ock_has_mechanism() {
	pkcs11-tool --module "$OCK_MODULE" --slot "$("$P11A_OCK" slot)" \
		--list-mechanisms 2>/dev/null | grep -q "^ *$1[,:]"
}

ock_start_agent() {
	P11A_MODULE=$OCK_MODULE p11a_start_agent "$@"
}
