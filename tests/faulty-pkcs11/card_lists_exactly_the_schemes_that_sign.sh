#!/usr/bin/env bash
# On cards with fewer mechanisms than SoftHSM (the shim's piv card:
# CKM_RSA_PKCS, CKM_RSA_X_509 and CKM_ECDSA only; its no-ecdsa card: no
# CKM_ECDSA* at all) and on its single-session card (every mechanism,
# one session), `p11agent list` shows exactly the schemes that work: every listed scheme of every identity signs and verifies with
# OpenSSL, and every other scheme of the key's kind is refused with
# SCHEME_UNSUPPORTED (not a token error).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

RSA_SCHEMES="rsa_pkcs1_sha1 rsa_pkcs1_sha256 rsa_pkcs1_sha384 rsa_pkcs1_sha512
rsa_pss_rsae_sha256 rsa_pss_rsae_sha384 rsa_pss_rsae_sha512"
EC_SCHEMES="ecdsa_sha1 ecdsa_secp256r1_sha256 ecdsa_secp384r1_sha384
ecdsa_secp521r1_sha512"

# check_card KIND WANT_EC: on card KIND every listed scheme signs, every
# other is refused; the P-256 key lists ecdsa_secp256r1_sha256 if WANT_EC
# ("-": no scheme at all)
check_card() {
	local kind=$1 want_ec=$2 i s name listed all
	export FAULTY_PKCS11_CARD=$kind
	fault_start_agent --pin-source env:P11A_PIN
	p11a_list
	p11a_random_file "$P11A_TMP/msg" 200
	for i in "${!P11A_ID_ID[@]}"; do
		name=${P11A_ID_NAME[$i]}
		listed=",${P11A_ID_SCHEMES[$i]},"
		echo "$kind: $name: ${P11A_ID_SCHEMES[$i]}"
		case $name in a-ec) all=$EC_SCHEMES ;; *) all=$RSA_SCHEMES ;; esac
		for s in $all; do
			if [[ $listed == *",$s,"* ]]; then
				fault_sign_verify "${P11A_ID_ID[$i]}" "$s" "$P11A_TMP/A" "$name"
			else
				fault_expect SCHEME_UNSUPPORTED sign "${P11A_ID_ID[$i]}" \
					"$s" "$P11A_TMP/msg" "$P11A_TMP/sig"
			fi
		done
		for s in ${P11A_ID_SCHEMES[$i]//,/ }; do
			[[ $s == - || " ${all//$'\n'/ } " == *" $s "* ]] ||
				fault_sign_verify "${P11A_ID_ID[$i]}" "$s" "$P11A_TMP/A" "$name"
		done
	done
	i=$(p11a_find_identity a-rsa)
	[[ ",${P11A_ID_SCHEMES[$i]}," == *,rsa_pss_rsae_sha256,* &&
		",${P11A_ID_SCHEMES[$i]}," == *,rsa_pkcs1_sha256,* ]] ||
		p11a_fail "$kind: the RSA key lists ${P11A_ID_SCHEMES[$i]}, no TLS 1.2/1.3 scheme"
	i=$(p11a_find_identity a-ec)
	if [[ $want_ec == yes ]]; then
		[[ ",${P11A_ID_SCHEMES[$i]}," == *,ecdsa_secp256r1_sha256,* ]] ||
			p11a_fail "$kind: the P-256 key lists '${P11A_ID_SCHEMES[$i]}'"
	else
		[[ ",${P11A_ID_SCHEMES[$i]}," != *ecdsa* ]] ||
			p11a_fail "$kind: the P-256 key lists '${P11A_ID_SCHEMES[$i]}' on a card without ECDSA"
	fi
	rc=0
	p11a_stop_agent || rc=$?
	[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
}

fault_setup
p11a_make_token A 1111 a-rsa:rsa2048 a-ec:p256
export P11A_PIN=1111
check_card piv yes
check_card no-ecdsa no
check_card single-session yes
echo ok
