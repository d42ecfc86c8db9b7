#!/usr/bin/env bash
# CKR_DEVICE_ERROR or CKR_GENERAL_ERROR from one C_Sign fails that one
# request with TOKEN (nothing was lost that a retry could repair); the
# connection and the token stay usable and the next request signs.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
p11a_make_token A 1111 a-ec:p256
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --workers 2
p11a_list
ec=$(p11a_identity_id a-ec)
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
p11a_random_file "$P11A_TMP/msg"

for fault in "device_error:0x30" "general_error:0x5"; do
	name=${fault%%:*} rv=${fault##*:}
	fault_set "$name 1"
	fault_expect TOKEN sign "$ec" ecdsa_secp256r1_sha256 \
		"$P11A_TMP/msg" "$P11A_TMP/sig"
	[[ $(fault_count "^C_Sign token=A rv=$rv\$") -eq 1 ]] ||
		p11a_fail "$name: not injected exactly once"
	fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
	fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
	fault_wait_flags token A present,logged-in 2
done

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
