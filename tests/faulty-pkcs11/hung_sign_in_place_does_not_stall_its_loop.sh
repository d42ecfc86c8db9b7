#!/usr/bin/env bash
# With one event loop (--loops 1), token A hangs in a C_Sign that the
# loop thread itself is making (signing in place, docs/DESIGN.md).  The
# loop's other clients must not wait for A: after 100 ms the monitor
# gives the loop another thread, which goes on serving token B.  When A
# is released, its request is answered with a valid signature.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
p11a_make_token A 1111 a-ec:p256
p11a_make_token B 1111 b-ec:p256
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --workers 2 --loops 1 \
	--request-timeout 20
p11a_list
a=$(p11a_identity_id a-ec)
b=$(p11a_identity_id b-ec)
fault_sign_verify "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
grep -q "starting another" "$P11A_AGENT_LOG" &&
	p11a_fail "a loop was rescued before any token hung"

fault_set "token A" "hang 1"
p11a_random_file "$P11A_TMP/msg" 130
"$P11A_TRY" sign "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/msg" \
	"$P11A_TMP/hung.sig" >"$P11A_TMP/hung.out" 2>&1 &
hung=$!
sleep 0.3
for _ in 1 2 3; do
	t1=$(now_ms)
	fault_sign_verify "$b" ecdsa_secp256r1_sha256 "$P11A_TMP/B" b-ec
	dt=$(($(now_ms) - t1))
	((dt < 1500)) || p11a_fail "token B took $dt ms while A holds the loop"
done
grep -q "event loop 0: every thread is waiting for a token" \
	"$P11A_AGENT_LOG" ||
	p11a_fail "B was served, but not by a rescue thread (log says nothing)"

fault_set "token A" "hang 0"
wait "$hung" || true
out=$(cat "$P11A_TMP/hung.out")
[[ $out == OK* ]] || p11a_fail "the held request gave '$out', expected OK"
p11a_verify "$P11A_TMP/hung.sig" "$P11A_TMP/msg" "$P11A_TMP/A/a-ec.pub.pem" \
	ecdsa_secp256r1_sha256
fault_sign_verify "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
fault_sign_verify "$b" ecdsa_secp256r1_sha256 "$P11A_TMP/B" b-ec

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
