#!/usr/bin/env bash
# A refused PIN is tried exactly once: the token needs UNLOCK, SIGN gets
# LOCKED, and neither further requests nor the presence monitor try the
# PIN again (counted in the shim: one failed C_Login).  UNLOCK with the
# right PIN brings it back.  Two ways to get there: the agent starts
# with a wrong PIN, and a token reset after the PIN changed elsewhere.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
p11a_make_token A 1111 a-ec:p256
failed='^C_Login token=A rv=0xa0$' # CKR_PIN_INCORRECT

# 1. started with a wrong PIN
export P11A_PIN=9999 GOOD_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --poll-interval 50 --workers 2
# SoftHSM counts the wrong PIN too (CKF_USER_PIN_COUNT_LOW)
fault_wait_flags token A present,needs-unlock,pin-count-low 5
sleep 1 # twenty presence polls
p11a_random_file "$P11A_TMP/msg"
for _ in 1 2 3; do
	fault_expect LOCKED sign "pkcs11:token=A;object=a-ec" \
		ecdsa_secp256r1_sha256 "$P11A_TMP/msg" "$P11A_TMP/sig"
done
[[ $(fault_count "$failed") -eq 1 ]] ||
	p11a_fail "$(fault_count "$failed") failed logins, expected exactly 1"
p11a_expect_exit 0 "$P11AGENT" unlock --pin-source env:GOOD_PIN
p11a_list
ec=$(p11a_identity_id a-ec)
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"

# 2. the PIN changed under a running agent, then the token was reset
: >"$FAULTY_PKCS11_LOG"
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --poll-interval 50 --workers 2
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
fault_set "pin_wrong 1" "logged_out 1"
fault_expect LOCKED sign "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/msg" \
	"$P11A_TMP/sig"
fault_wait_flags token A present,needs-unlock 5
sleep 1
for _ in 1 2 3; do
	fault_expect LOCKED sign "$ec" ecdsa_secp256r1_sha256 \
		"$P11A_TMP/msg" "$P11A_TMP/sig"
done
[[ $(fault_count "$failed") -eq 1 ]] ||
	p11a_fail "$(fault_count "$failed") failed logins after the reset, expected exactly 1"
fault_set "pin_wrong 0"
p11a_expect_exit 0 "$P11AGENT" unlock --pin-source env:GOOD_PIN
fault_wait_flags token A present,logged-in 5
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
