#!/usr/bin/env bash
# opencryptoki's soft token reports ulMaxSessionCount as
# 18446744073709551614 (~0 - 1, neither CK_EFFECTIVELY_INFINITE nor
# CK_UNAVAILABLE_INFORMATION).  The agent takes it as a limit above what
# it asks, not as a count to open: with --workers 64 (the most) the
# token's helper opens 64 sessions for 64 workers, has about as many
# threads, and 64 signatures asked at once are all made.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/ock_lib.sh"

ock_setup tok 123456 k-rsa:rsa2048
max=$(pkcsconf -t -c "$("$P11A_OCK" slot)" | sed -n 's/^[ \t]*Sessions: [0-9]*\/\([0-9]*\)$/\1/p')
[[ ${#max} -ge 10 ]] ||
	p11a_skip "this opencryptoki reports ulMaxSessionCount '$max', not a huge value"
export P11A_PIN=123456
ock_start_agent --pin-source env:P11A_PIN --workers 64
grep -q "slot [0-9]*: 64 sessions, 64 workers" "$P11A_AGENT_LOG" ||
	p11a_fail "the helper did not open 64 sessions: $(grep -E 'sessions|workers' "$P11A_AGENT_LOG")"
workers=$("$P11AGENT" status | awk '$1 == "tok" { print $4 }')
[[ $workers == 64 ]] || p11a_fail "STATUS shows $workers workers, expected 64: $("$P11AGENT" status)"
helper=$(pgrep -P "$P11A_AGENT_PID" -f p11agent-helper)
threads=$(ls "/proc/$helper/task" | wc -l)
((threads >= 64 && threads <= 72)) ||
	p11a_fail "the helper runs $threads threads for 64 workers"
echo "ok: ulMaxSessionCount $max: 64 sessions and workers, $threads threads in the helper"

# 64 signatures at once: the workers sign, each verified
p11a_list
id=$(p11a_identity_id k-rsa)
pids=()
for i in $(seq 64); do
	p11a_random_file "$P11A_TMP/m$i"
	"$P11AGENT" sign --identity "$id" --scheme rsa_pss_rsae_sha256 \
		--in "$P11A_TMP/m$i" --out "$P11A_TMP/s$i" &
	pids+=($!)
done
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || p11a_fail "signature $((i + 1)) of 64 failed"
done
for i in $(seq 64); do
	p11a_verify "$P11A_TMP/s$i" "$P11A_TMP/m$i" "$TLS_DIR/k-rsa.pub.pem" rsa_pss_rsae_sha256
done
echo "ok: 64 signatures at once, verified"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
