# shellcheck shell=bash
#
# Helpers of the TPM tests, on top of tests/tls/tls_lib.sh (and so
# tests/integration/lib.sh): a throwaway TPM 2.0 (swtpm, tpm2-abrmd on a
# private D-Bus bus; tests/tools/p11a-tpm) in the test's directory,
# tpm2-pkcs11 tokens on it, and the agent on the tpm2-pkcs11 module.
#
#   tpm_setup                 private dir, the TPM started (stopped at
#                             exit); certificates in $TLS_DIR
#   tpm_token LABEL PIN KEYSPEC...   a token with keys, certified by the
#                             CA of $TLS_DIR (public keys there too)
#   tpm_start_agent ARGS      p11agentd on tpm2-pkcs11 with ARGS
#   tpm_direct_tcti           the module talks to swtpm itself, not
#                             through abrmd (for restarts of the TPM)

. "$(dirname "${BASH_SOURCE[0]}")/../tls/tls_lib.sh"

P11A_TPM=$(dirname "${BASH_SOURCE[0]}")/../tools/p11a-tpm
TPM_DIR=

tpm_cleanup() {
	local rc=$?
	set +e
	[[ -n $TPM_DIR ]] && "$P11A_TPM" stop "$TPM_DIR"
	(exit "$rc")
	tls_cleanup
}

now_ms() {
	date +%s%3N
}

tpm_require() {
	local c
	for c in swtpm tpm2_ptool tpm2-abrmd tpm2_getcap dbus-daemon pkcs11-tool; do
		command -v "$c" >/dev/null 2>&1 ||
			p11a_skip "$c not installed (contrib/deps.sh lists the TPM packages)"
	done
	[[ -r /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so ]] ||
		p11a_skip "tpm2-pkcs11 (libtpm2-pkcs11-1) not installed"
}

tpm_setup() {
	tpm_require
	tls_require
	p11a_setup_dir
	trap tpm_cleanup EXIT
	TPM_DIR=$P11A_TMP/tpm
	TLS_DIR=$P11A_TMP/certs
	mkdir -p "$TLS_DIR"
	"$P11A_TPM" start "$TPM_DIR" >/dev/null || p11a_fail "the TPM did not start"
	# shellcheck disable=SC1091
	. "$TPM_DIR/env"
	TLS_PROVIDER=(-provider-path "$P11A_PROVIDER_DIR" -provider default
		-provider p11agent)
}

tpm_token() {
	local label=$1 pin=$2
	shift 2
	"$P11A_TPM" token "$TPM_DIR" "$label" "$pin" "$TLS_DIR" "$@" >/dev/null ||
		p11a_fail "cannot make TPM token $label"
}

tpm_direct_tcti() {
	export TPM2_PKCS11_TCTI="swtpm:host=127.0.0.1,port=$P11A_TPM_PORT"
}

tpm_start_agent() {
	P11A_MODULE=$P11A_TPM_MODULE p11a_start_agent "$@"
}
