#!/usr/bin/env bash
# SIGKILL the agent while 16 pipelining and 8 blocking connections sign,
# start it again on the same socket path: the clients (libp11agent
# reconnects once per idempotent call) wait for it, send again what the
# broken connections lost, and finish; every signature verifies and no
# request gets an ERROR reply.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/stress.sh"

stress_setup
sock=$P11AGENT_SOCK
n_pipelined=12000 n_blocking=3000
if [[ ${P11A_SANITIZED:-0} == 1 ]]; then
	# ASan with full unwinding signs ~150/s: same test, fewer signatures
	n_pipelined=3000 n_blocking=800
fi
ready1=$P11A_TMP/ready1 ready2=$P11A_TMP/ready2
"$P11A_STRESS" --restart --connections 16 --depth 8 --total "$n_pipelined" \
	--ready-file "$ready1" "${STRESS_KEYS[@]}" >"$P11A_TMP/pipelined.out" 2>&1 &
pipelined=$!
"$P11A_STRESS" --restart --connections 8 --depth 0 --total "$n_blocking" \
	--ready-file "$ready2" "${STRESS_KEYS[@]}" >"$P11A_TMP/blocking.out" 2>&1 &
blocking=$!
# a failing test must not leave its clients running
stop_clients_then_cleanup() {
	local rc=$?
	set +e
	kill "$pipelined" "$blocking" 2>/dev/null
	(exit "$rc")
	p11a_cleanup # exits with the test's status
}
trap stop_clients_then_cleanup EXIT
for ((i = 0; i < 2400; i++)); do # up to 120 s
	[[ -e $ready1 && -e $ready2 ]] && break
	sleep 0.05
done
[[ -e $ready1 && -e $ready2 ]] || p11a_fail "the clients never warmed up"

old=$P11A_AGENT_PID
p11a_kill9_agent
p11a_log "killed agent $old under load"
sleep 0.5
[[ -S $sock ]] || p11a_fail "the killed agent's socket is gone (expected stale)"
p11a_start_agent --pin-source env:P11A_PIN
[[ $P11AGENT_SOCK == "$sock" ]] || p11a_fail "socket path changed"
p11a_log "agent $P11A_AGENT_PID serves again"

rc1=0 rc2=0
wait "$pipelined" || rc1=$?
wait "$blocking" || rc2=$?
cat "$P11A_TMP/pipelined.out" "$P11A_TMP/blocking.out"
[[ $rc1 -eq 0 ]] || p11a_fail "pipelining clients failed across the restart"
[[ $rc2 -eq 0 ]] || p11a_fail "blocking clients failed across the restart"
# the kill really hit them in the middle of their work
for f in pipelined blocking; do
	r=$(sed -n 's/.* reconnects=\([0-9]*\) .*/\1/p' "$P11A_TMP/$f.out")
	((r > 0)) || p11a_fail "$f clients never saw the agent go away"
done
p11a_sign_verify "$(p11a_identity_id b-rsa)" rsa_pss_rsae_sha256 \
	"$P11A_TMP/B" b-rsa
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
