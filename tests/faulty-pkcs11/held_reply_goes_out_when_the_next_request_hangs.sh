#!/usr/bin/env bash
# Two pipelined requests of one client on a token with one session: the
# first is signed, the second hangs in the token (hang_after 1).  The
# first reply must go out at once, not wait behind the hung request
# (replies were once held to be written together); the second is
# answered TIMEOUT after --request-timeout.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"
command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"

fault_setup
fault_start_one_ec --workers 1 \
	--request-timeout 2
a=$FAULT_ID

fault_set "token A" "hang_after 1"
out=$(fault_pipelined_signs "$a" 2)
echo "$out"
read -r id1 res1 ms1 < <(sed -n 1p <<<"$out")
read -r id2 res2 ms2 < <(sed -n 2p <<<"$out")
[[ $id1 == 1 && $res1 == OK ]] ||
	p11a_fail "first reply was '$id1 $res1', expected request 1 OK"
((ms1 < 1000)) ||
	p11a_fail "request 1's signature came after $ms1 ms: held behind the hung request"
p11a_verify "$P11A_TMP/sigs/sig.1" "$P11A_TMP/msg" "$P11A_TMP/A/a-ec.pub.pem" \
	ecdsa_secp256r1_sha256
timeout_code=19 # P11A_ERR_TIMEOUT, include/p11agent/error.h
[[ $id2 == 2 && $res2 == "$timeout_code" ]] ||
	p11a_fail "second reply was '$id2 $res2', expected request 2 TIMEOUT ($timeout_code)"
((ms2 >= 1900)) || p11a_fail "request 2 timed out after $ms2 ms, not 2 s"

fault_set "token A"
fault_sign_verify "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
