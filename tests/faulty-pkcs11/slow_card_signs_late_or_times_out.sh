#!/usr/bin/env bash
# A slow card (every C_Sign delayed): requests still sign, just later; a
# card slower than --request-timeout gets TIMEOUT for that request, and
# once it is fast again the next request signs.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
p11a_make_token A 1111 a-ec:p256
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --workers 1 --request-timeout 1
p11a_list
ec=$(p11a_identity_id a-ec)

fault_set "delay_ms 400"
t0=$(now_ms)
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
dt=$(($(now_ms) - t0))
((dt >= 400)) || p11a_fail "a sign on a 400 ms card took only $dt ms"

fault_set "delay_ms 2500"
signs=$(fault_count '^C_Sign token=A rv=0x0$')
p11a_random_file "$P11A_TMP/msg"
t0=$(now_ms)
fault_expect TIMEOUT sign "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/msg" \
	"$P11A_TMP/sig"
dt=$(($(now_ms) - t0))
((dt >= 900 && dt < 2400)) ||
	p11a_fail "TIMEOUT after $dt ms with --request-timeout 1"

fault_set "delay_ms 0"
# the late C_Sign finishes in the background (its reply is never sent);
# the one worker is busy until then, so wait for it
for ((i = 0; i < 100; i++)); do
	(($(fault_count '^C_Sign token=A rv=0x0$') > signs)) && break
	sleep 0.05
done
(($(fault_count '^C_Sign token=A rv=0x0$') > signs)) ||
	p11a_fail "the late C_Sign never finished"
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
