#!/usr/bin/env bash
# Requests for one token are served round-robin between the connections
# that have some queued, not in one FIFO: while one client keeps 512
# requests in flight, another client signing one request at a time waits
# for at most a signature or two per request, never behind the 512.  The
# card is slowed to 30 ms per signature (four sessions); the blocking
# client's p99 must stay under 5 times its own unloaded signature time
# (p50), or 3 times its unloaded p99 where the machine is that noisy.
# One FIFO per token would make it wait for 512 / 4 signatures: 3.8 s.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"
command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"

fault_setup
fault_start_one_ec --workers 4 --request-timeout 60
a=$FAULT_ID
pub=$P11A_TMP/A/a-ec.pub.pem
fault_set "token A" "delay_ms 30"

# p11a_load SECONDS: the blocking client; its result line in LOAD
p11a_load() {
	LOAD=$("$P11A_TRY" load "$a" ecdsa_secp256r1_sha256 "$pub" "$1" 2>&1) ||
		p11a_fail "the blocking client failed: $LOAD"
	echo "$LOAD"
}
field() {
	sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$LOAD"
}

p11a_load 1
alone=$(field p50_us)
bound=$((5 * alone))
(($(field p99_us) * 3 > bound)) && bound=$(($(field p99_us) * 3))

p11a_random_file "$P11A_TMP/msg" 100
python3 "$(dirname "${BASH_SOURCE[0]}")/deep_pipeline.py" "$P11AGENT_SOCK" \
	"$a" ecdsa_secp256r1_sha256 "$P11A_TMP/msg" 512 6 >"$P11A_TMP/deep.out" &
deep=$!
sleep 1
p11a_load 4
wait "$deep" || p11a_fail "the pipelining client failed: $(cat "$P11A_TMP/deep.out")"
deep_out=$(cat "$P11A_TMP/deep.out")
echo "pipelining client: $deep_out"
[[ $deep_out == "OK n="*" errors=0" ]] ||
	p11a_fail "the pipelining client got errors: $deep_out"
n=$(sed -n 's/.*n=\([0-9]*\).*/\1/p' <<<"$deep_out")
((n > 512)) || p11a_fail "the pipelining client made only $n signatures"
p99=$(field p99_us)
((p99 < bound)) ||
	p11a_fail "the blocking client's p99 was $p99 us behind 512 requests in flight, alone its p50 was $alone us (bound: $bound us)"
echo "ok: blocking p99 $p99 us with 512 in flight elsewhere, $alone us alone"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
