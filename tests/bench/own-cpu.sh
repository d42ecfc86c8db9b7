#!/usr/bin/env bash
# The agent's own CPU per signature, measured inside the agent: while
# p11agent-bench runs one cell, `perf record --call-graph dwarf` samples
# p11agentd's threads, and every sample whose stack passes through the
# module's C_SignInit or C_Sign is the module's; the rest (event loops,
# frames, replies, system calls, wake-ups, polling) is the agent's own.
# Own µs per signature = the agent's CPU per signature (the benchmark's
# "srv cpu") x the own share.  The loops' polling for a client's next
# request (loop_poll, --spin) is shown apart: CPU spent on purpose to
# save a wake-up, which stops when the CPU has other work.
#
#   tests/bench/own-cpu.sh [--build DIR] [--seconds S] [CELL...]
#
# CELL is MODE:THREADS[:SCHEME], default agent:1 agent:2 pipelined:8
# (ECDSA P-256, the cheapest signature).  Needs perf, with
# kernel.perf_event_paranoid <= 1 or root.
set -euo pipefail

build=${P11A_BUILD_DIR:-build}
seconds=4
while [[ $# -gt 0 ]]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	-h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done
[[ $# -gt 0 ]] || set -- agent:1 agent:2 pipelined:8

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
command -v perf >/dev/null 2>&1 || p11a_skip "perf not installed"
bench_find_binaries "$build"
bench_setup 2

# own_share DATA: "MODULE_PCT POLL_PCT" from perf's inclusive shares
own_share() {
	perf report -i "$1" --children --sort sym -g none --percent-limit 0 \
		2>/dev/null | awk '
		$NF == "C_SignInit" || $NF == "C_Sign" { sub("%", "", $1); m += $1 }
		$4 == "loop_poll" { sub("%", "", $1); y += $1 }
		END { printf "%.2f %.2f\n", m, y }'
}

printf '%-28s %9s %9s %8s %8s %9s %9s\n' cell "sig/s" "agent us" \
	"module%" "poll%" "own us" "own-poll"
for cell in "$@"; do
	IFS=: read -r mode threads scheme <<<"$cell"
	scheme=${scheme:-ecdsa_secp256r1_sha256}
	data=$P11A_TMP/own.$mode.$threads.data
	out=$P11A_TMP/own.$mode.$threads.out
	"$P11A_BENCH" "${P11A_BENCH_ARGS[@]}" --modes "$mode" \
		--threads "$threads" --schemes "$scheme" --seconds "$seconds" \
		>"$out" 2>&1 &
	bench=$!
	# the middle of the cell: after set-up, before the end
	sleep "$(awk -v s="$seconds" 'BEGIN { print s / 4 + 0.5 }')"
	perf record -q --call-graph dwarf,16384 -F 997 -p "$P11A_AGENT_PID" \
		-o "$data" -- sleep "$(awk -v s="$seconds" 'BEGIN { print s / 2 }')" \
		>/dev/null 2>&1
	wait "$bench" || p11a_fail "p11agent-bench failed: $(cat "$out")"
	# the cell's line: thr mode sig/s ... srv cpu own
	read -r rate srv < <(awk -v m="$mode" -v t="$threads" \
		'$1 == t && $2 == m && $3 ~ /^[0-9]+$/ { print $3, $(NF - 1); exit }' "$out")
	read -r module poll < <(own_share "$data")
	awk -v c="$mode:$threads:$scheme" -v r="$rate" -v s="$srv" \
		-v m="$module" -v p="$poll" 'BEGIN {
		own = s * (100 - m) / 100
		printf "%-28s %9d %9.1f %8.1f %8.1f %9.1f %9.1f\n",
			c, r, s, m, p, own, own - s * p / 100 }'
done
p11a_stop_agent
