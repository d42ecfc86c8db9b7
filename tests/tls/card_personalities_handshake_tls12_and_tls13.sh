#!/usr/bin/env bash
# TLS client authentication on each card personality of the fault shim
# (tests/faulty-pkcs11/card.c) in front of SoftHSM:
#  * piv: CKM_RSA_PKCS, CKM_RSA_X_509 and CKM_ECDSA only, 2 sessions,
#    150 ms per signature; its RSA key has no PSS mechanism, so TLS 1.3
#    gets PSS padded by the agent over CKM_RSA_X_509; its 9c-like key
#    k-p256-9c has CKA_ALWAYS_AUTHENTICATE and signs with the cached PIN
#    (always-auth = cached, the default): one C_Login per signature
#    beside the one user login;
#  * single-session: every mechanism, one session;
#  * no-ecdsa: no CKM_ECDSA*: only the RSA key can authenticate.
# For each, TLS 1.2 and 1.3 handshakes with each key that can sign,
# against `openssl s_server -Verify 1 -verify_return_error` and
# `gnutls-serv --require-client-cert --verify-client-cert` (both verify
# the CertificateVerify), through s_client with the provider, `p11agent
# connect` and curl through `p11agent tunnel`: each shows the key's
# certificate on the server's page and one audited signature of the
# expected scheme (tls_handshake_matrix).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"

command -v gnutls-serv >/dev/null 2>&1 || p11a_skip "gnutls-serv not installed"
tls_setup k-rsa:rsa2048 k-p256:p256 k-p256-9c:p256:always-auth
export FAULTY_PKCS11_LOG=$P11A_TMP/faulty.log

# card KIND NAME:TYPE...: the agent on card KIND, handshakes with these keys
total=0
card() {
	local kind=$1 before logins signs rc=0
	shift
	export FAULTY_PKCS11_CARD=$kind
	: >"$FAULTY_PKCS11_LOG"
	fault_slow_card_agent 0 --pin-source env:P11A_PIN --audit "$TLS_AUDIT"
	before=$(tls_audit_count)
	tls_verifying_servers_matrix "$@"
	[[ $TLS_PASSED -eq $((12 * $#)) ]] ||
		p11a_fail "$kind: $TLS_PASSED handshakes, expected $((12 * $#))"
	# the card was never asked for a mechanism it lacks
	[[ $(fault_count '^C_SignInit token=tok rv=0x70$') -eq 0 ]] ||
		p11a_fail "$kind: C_SignInit refused: $(grep C_SignInit "$FAULTY_PKCS11_LOG" | sort | uniq -c)"
	if [[ $kind == piv ]]; then
		"$P11AGENT" list --verbose | grep -A1 "^$(p11a_identity_id k-rsa) " |
			grep -q 'signs: raw-rsa (CKM_RSA_X_509, padded by the agent)$' ||
			p11a_fail "piv: k-rsa does not sign PSS through CKM_RSA_X_509"
		signs=$(tail -n +"$((before + 1))" "$TLS_AUDIT" |
			grep -c "identity=$(p11a_identity_id k-p256-9c) .*result=OK") || true
		logins=$(fault_count '^C_Login token=tok rv=0x0$')
		[[ $signs -eq 12 && $logins -eq $((signs + 1)) ]] ||
			p11a_fail "piv: $signs signatures with the always-auth key, $logins logins; expected 12 and 13"
	fi
	if [[ $kind == no-ecdsa ]]; then
		i=$(p11a_find_identity k-p256)
		[[ ${P11A_ID_SCHEMES[$i]} != *ecdsa* ]] ||
			p11a_fail "no-ecdsa: k-p256 lists ${P11A_ID_SCHEMES[$i]}"
	fi
	p11a_stop_agent || rc=$?
	[[ $rc -eq 0 ]] || p11a_fail "$kind: p11agentd exited $rc on SIGTERM"
	total=$((total + TLS_PASSED))
	echo "ok: $kind: $TLS_PASSED handshakes"
}

card piv k-rsa:rsa2048 k-p256:p256 k-p256-9c:p256
card single-session k-rsa:rsa2048 k-p256:p256
card no-ecdsa k-rsa:rsa2048
[[ $total -eq 72 ]] || p11a_fail "$total handshakes, expected 72"
echo "ok: $total handshakes on the piv, single-session and no-ecdsa cards"
