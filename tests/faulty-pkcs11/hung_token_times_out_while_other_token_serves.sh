#!/usr/bin/env bash
# Token A hangs in C_Sign (both its workers stuck, a third request
# queued): each of its requests gets TIMEOUT after --request-timeout,
# while token B (a second SoftHSM token behind the same shim, untouched)
# goes on signing at full speed.  When A is released it signs again.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
p11a_make_token A 1111 a-ec:p256
p11a_make_token B 1111 b-ec:p256 b-ed:ed25519
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --workers 2 --request-timeout 3
p11a_list
a=$(p11a_identity_id a-ec)
bec=$(p11a_identity_id b-ec)
bed=$(p11a_identity_id b-ed)
fault_sign_verify "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec

fault_set "token A" "hang 1"
p11a_random_file "$P11A_TMP/msg"
t0=$(now_ms)
pids=()
for n in 1 2 3; do
	"$P11A_TRY" sign "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/msg" \
		"$P11A_TMP/hung$n.sig" >"$P11A_TMP/hung$n.out" 2>&1 &
	pids+=($!)
done
sleep 0.3
# B is served while A's requests wait
for _ in 1 2 3 4 5; do
	t1=$(now_ms)
	fault_sign_verify "$bec" ecdsa_secp256r1_sha256 "$P11A_TMP/B" b-ec
	fault_sign_verify "$bed" ed25519 "$P11A_TMP/B" b-ed
	dt=$(($(now_ms) - t1))
	((dt < 1500)) || p11a_fail "token B took $dt ms while A hangs"
done
for n in 1 2 3; do
	wait "${pids[$((n - 1))]}" || true
	out=$(cat "$P11A_TMP/hung$n.out")
	[[ $out == TIMEOUT* ]] ||
		p11a_fail "request $n on hung token A gave '$out', expected TIMEOUT"
done
dt=$(($(now_ms) - t0))
((dt >= 2900 && dt < 8000)) ||
	p11a_fail "hung requests answered after $dt ms, --request-timeout 3"
# still hung: B still serves, A still times out
fault_sign_verify "$bec" ecdsa_secp256r1_sha256 "$P11A_TMP/B" b-ec

fault_set "token A" "hang 0"
fault_sign_verify "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
fault_sign_verify "$bed" ed25519 "$P11A_TMP/B" b-ed

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
