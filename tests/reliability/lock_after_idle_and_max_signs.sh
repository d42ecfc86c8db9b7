#!/usr/bin/env bash
# Auto-lock: --lock-after SEC without a signature logs the tokens out
# (a real C_Logout, counted by the faulty-pkcs11 shim) and wipes the PIN,
# so SIGN gets LOCKED until UNLOCK; steady use keeps it unlocked.
# --max-signs N locks after N signatures per unlock.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"

fault_setup
p11a_make_token A 1111 a-ec:p256
export P11A_PIN=1111
p11a_random_file "$P11A_TMP/msg"

fault_start_agent --pin-source env:P11A_PIN --lock-after 2
p11a_list
ec=$(p11a_identity_id a-ec)
# steady use (every 0.5 s for 3 s) keeps it unlocked
for _ in 1 2 3 4 5 6; do
	fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
	sleep 0.5
done
logouts=$(fault_count '^C_Logout token=A rv=0x0$')
[[ $logouts -eq 0 ]] || p11a_fail "logged out while in use"
# idle: locked within --lock-after plus the monitor's tick
fault_wait_flags token A present,needs-unlock 4
fault_expect LOCKED sign "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/msg" \
	"$P11A_TMP/sig"
for ((i = 0; i < 40; i++)); do
	(($(fault_count '^C_Logout token=A rv=0x0$') > 0)) && break
	sleep 0.05
done
(($(fault_count '^C_Logout token=A rv=0x0$') == 1)) ||
	p11a_fail "the idle lock did not log the token out exactly once"
logins=$(fault_count '^C_Login token=A')
sleep 3 # locked and idle: the PIN is gone, nothing logs in again
(($(fault_count '^C_Login token=A') == logins)) ||
	p11a_fail "the agent logged in again by itself after the idle lock"
p11a_expect_exit 0 "$P11AGENT" unlock --pin-source env:P11A_PIN
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"

fault_start_agent --pin-source env:P11A_PIN --max-signs 3
for round in 1 2; do
	for _ in 1 2 3; do
		fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
	done
	fault_expect LOCKED sign "$ec" ecdsa_secp256r1_sha256 \
		"$P11A_TMP/msg" "$P11A_TMP/sig"
	fault_wait_flags token A present,needs-unlock 2
	# a new unlock starts a new count
	p11a_expect_exit 0 "$P11AGENT" unlock --pin-source env:P11A_PIN
done
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
