#!/usr/bin/env bash
# A pulled card: SIGN gets TOKEN_NOT_PRESENT at once, LIST clears the
# identity's AVAILABLE flag and STATUS the token's PRESENT flag; when the
# card returns the agent opens new sessions, logs in with the cached PIN
# and signs again, without a restart.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
p11a_make_token A 1111 a-ec:p256
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --poll-interval 100 --workers 2
p11a_list
id=$(p11a_identity_id a-ec)
fault_sign_verify "$id" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
fault_wait_flags token A present,logged-in
fault_wait_flags identity a-ec available

p11a_random_file "$P11A_TMP/msg"
fault_set "removed 1"
# the first SIGN meets the pulled card itself (DEVICE_REMOVED)
fault_expect TOKEN_NOT_PRESENT sign "$id" ecdsa_secp256r1_sha256 \
	"$P11A_TMP/msg" "$P11A_TMP/sig"
# STATUS: PRESENT cleared (whether it still says logged-in is the
# agent's business: the login comes back with the card)
for ((i = 0; i < 100; i++)); do
	out=$("$P11A_TRY" token-flags A)
	[[ $out == OK* && $out != *present* ]] && break
	sleep 0.05
done
[[ $out == OK* && $out != *present* ]] ||
	p11a_fail "STATUS still shows A present 5 s after the pull: $out"
fault_wait_flags identity a-ec - 5
# now it is known to be absent: answered at once, without the token
for _ in 1 2 3; do
	t0=$(now_ms)
	fault_expect TOKEN_NOT_PRESENT sign "$id" ecdsa_secp256r1_sha256 \
		"$P11A_TMP/msg" "$P11A_TMP/sig"
	((($(now_ms) - t0) < 1000)) ||
		p11a_fail "TOKEN_NOT_PRESENT took $(($(now_ms) - t0)) ms"
done
p11a_agent_alive

logins_before=$(fault_count '^C_Login token=A rv=0x0$')
fault_set "removed 0"
fault_wait_flags token A present,logged-in 10
fault_wait_flags identity a-ec available 5
fault_sign_verify "$id" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
fault_sign_verify "$id" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
# the pull closed the real sessions: coming back took a real login
logins_after=$(fault_count '^C_Login token=A rv=0x0$')
((logins_after > logins_before)) ||
	p11a_fail "no new C_Login after the card returned"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
