#!/usr/bin/env bash
# A card taking 150 ms per signature serves 12 requests queued at once in
# order, one session, with --request-timeout 1: the timeout counts from
# when the token starts a request, not from when it was queued, so none
# of them times out although the last waits about 1.7 s; nor do 600 ms
# signatures, which wait behind one another on the session.  A request the
# token itself holds longer than that does time out, and its message
# gives both times.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"
command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"

fault_setup
fault_start_one_ec --workers 1 --request-timeout 1
a=$FAULT_ID
fault_set "token A" "delay_ms 150"
out=$(fault_pipelined_signs "$a" 12)
echo "$out"
last=0
while read -r id res ms; do
	[[ $res == OK ]] || p11a_fail "request $id: '$res' after $ms ms, expected a signature"
	p11a_verify "$P11A_TMP/sigs/sig.$id" "$P11A_TMP/msg" \
		"$P11A_TMP/A/a-ec.pub.pem" ecdsa_secp256r1_sha256
	((ms >= last)) || p11a_fail "request $id came back out of order"
	last=$ms
done <<<"$out"
((last >= 1500)) || p11a_fail "12 signatures at 150 ms took only $last ms: the card was not slow"

# nearer the timeout: 600 ms signatures under a 1 s timeout all succeed,
# although each but the first was handed to the token's helper while the
# one before it was still being made on the same session
fault_set "token A" "delay_ms 600"
out=$(fault_pipelined_signs "$a" 4)
echo "$out"
while read -r id res ms; do
	[[ $res == OK ]] || p11a_fail "request $id: '$res' after $ms ms; a 600 ms signature must not time out after 1 s"
	p11a_verify "$P11A_TMP/sigs/sig.$id" "$P11A_TMP/msg" \
		"$P11A_TMP/A/a-ec.pub.pem" ecdsa_secp256r1_sha256
done <<<"$out"

fault_set "token A" "delay_ms 1500"
p11a_random_file "$P11A_TMP/m1" 64
fault_expect TIMEOUT sign "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/m1" "$P11A_TMP/s1"
grep -q "within 1000 ms of starting the request (it waited [0-9]* ms in the queue" <<<"$P11A_OUTPUT" ||
	p11a_fail "the TIMEOUT does not say both times: $P11A_OUTPUT"
fault_set "token A"
fault_sign_verify "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
