#!/usr/bin/env bash
# Eight pipelined requests of one client on a token with two sessions;
# the first hangs in the token (hang_one 0).  The others must not wait
# behind it: the token's other session signs them (workers take one
# request at a time; runs of a client's requests taken together were
# once stuck behind their first).  The hung one is answered TIMEOUT
# after --request-timeout; the 7 others are signed long before that.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"
command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"

fault_setup
fault_start_one_ec --workers 2 \
	--request-timeout 3
a=$FAULT_ID

fault_set "token A" "hang_one 0"
out=$(fault_pipelined_signs "$a" 8)
echo "$out"
timeout_code=19 # P11A_ERR_TIMEOUT, include/p11agent/error.h
signed=0 timed_out=0
while read -r id res ms; do
	if [[ $res == OK ]]; then
		((ms < 1500)) ||
			p11a_fail "request $id was signed after $ms ms: it waited behind the hung one"
		p11a_verify "$P11A_TMP/sigs/sig.$id" "$P11A_TMP/msg" \
			"$P11A_TMP/A/a-ec.pub.pem" ecdsa_secp256r1_sha256
		signed=$((signed + 1))
	elif [[ $res == "$timeout_code" ]]; then
		((ms >= 2900)) || p11a_fail "request $id timed out after $ms ms, not 3 s"
		timed_out=$((timed_out + 1))
	else
		p11a_fail "request $id: unexpected result '$res'"
	fi
done <<<"$out"
[[ $signed == 7 && $timed_out == 1 ]] ||
	p11a_fail "$signed requests signed and $timed_out timed out, expected 7 and 1"

fault_set "token A"
fault_sign_verify "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
