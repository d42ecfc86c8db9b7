#!/usr/bin/env bash
# Context switches per signature of the agent and its helpers: voluntary
# (a thread went to sleep waiting) and involuntary, per thread, read from
# /proc/PID/task/TID/status around one p11agent-bench cell.
#
#   tests/bench/switches-per-sig.sh [--build DIR] [--workers N]
#       [-- BENCH-OPTIONS...]   (default: --modes agent --threads 1
#                                --schemes ecdsa_secp256r1_sha256 --count 20000)
# SIGS: the signatures made (default 20000; one cell with --count SIGS).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_parse_args 9 "$@"
bench_find_binaries "$BENCH_BUILD"
[[ ${#BENCH_OPTIONS[@]} -gt 0 ]] || BENCH_OPTIONS=(--modes agent --threads 1
	--schemes ecdsa_secp256r1_sha256 --count 20000)
bench_setup "$BENCH_WORKERS"


bench_ctxsw_snapshot "$P11A_AGENT_PID" >"$P11A_TMP/t0"
"$P11A_BENCH" "${P11A_BENCH_ARGS[@]}" "${BENCH_OPTIONS[@]}" >"$P11A_TMP/bench.out"
bench_ctxsw_snapshot "$P11A_AGENT_PID" >"$P11A_TMP/t1"
grep ' sig/s$' "$P11A_TMP/bench.out" || true
# per signature: over SIGS (default 20000, the default --count)
sigs=${SIGS:-20000}
echo "| process/thread | name | voluntary per sig | involuntary per sig |"
echo "|---|---|--:|--:|"
join <(sort "$P11A_TMP/t0") <(sort "$P11A_TMP/t1") |
	awk -v n="$sigs" '{ v = $6 - $3; i = $7 - $4; tv += v; ti += i;
		printf "| %s | %s | %.2f | %.2f |\n", $1, $2, v / n, i / n }
		END { printf "| all | | %.2f | %.2f |\n", tv / n, ti / n }'
p11a_stop_agent
