#!/usr/bin/env bash
# Wake-ups of an idle agent: p11agentd on a SoftHSM token with its
# defaults (--poll-interval 1000 ms), no client; after a settling pause
# the voluntary context switches of every thread of the agent and of its
# helper processes are read at t0 and t0 + S seconds
# (/proc/PID/task/TID/status) and printed per thread and in total.
#
#   tests/bench/idle-wakeups.sh [--build DIR] [--seconds S] [--settle S]
#       [-- p11agentd options...]
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
SECS=20 SETTLE=3
args=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--seconds) SECS=$2; shift 2 ;;
	--settle) SETTLE=$2; shift 2 ;;
	*) args+=("$1"); shift ;;
	esac
done
bench_parse_args 9 "${args[@]}"
bench_find_binaries "$BENCH_BUILD"
bench_setup_token
p11a_start_agent --pin-source env:P11A_PIN "${BENCH_OPTIONS[@]}"
"$P11AGENT" list >/dev/null


sleep "$SETTLE"
bench_ctxsw_snapshot "$P11A_AGENT_PID" >"$P11A_TMP/t0"
sleep "$SECS"
bench_ctxsw_snapshot "$P11A_AGENT_PID" >"$P11A_TMP/t1"
echo "idle $SECS s after $SETTLE s, load average $(cat /proc/loadavg)"
echo "| process/thread | name | voluntary switches/s |"
echo "|---|---|--:|"
join <(sort "$P11A_TMP/t0") <(sort "$P11A_TMP/t1") |
	awk -v s="$SECS" '{ r = ($6 - $3) / s; t += r;
		printf "| %s | %s | %.2f |\n", $1, $2, r }
		END { printf "| all | | %.2f |\n", t }'
p11a_stop_agent
