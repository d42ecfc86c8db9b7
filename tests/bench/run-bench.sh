#!/usr/bin/env bash
# One command for the benchmark: a throwaway SoftHSM token with an
# RSA-2048, a P-256 and an Ed25519 key, p11agentd on it with --workers N,
# p11agent-bench (direct, agent, pipelined) on the same token and keys,
# then everything is stopped and removed.
#
#   tests/bench/run-bench.sh [--build DIR] [--workers N] [-- BENCH-OPTIONS...]
#
#   --build DIR   build directory (default $P11A_BUILD_DIR, else build)
#   --workers N   the agent's worker threads per token (default nproc)
#   BENCH-OPTIONS go to p11agent-bench, e.g. --seconds 5 --repeat 5
#                 --threads 1,2,8 --json results.json (see --help)
set -euo pipefail

build=${P11A_BUILD_DIR:-build}
workers=$(nproc)
while [[ $# -gt 0 ]]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--workers) workers=$2; shift 2 ;;
	--) shift; break ;;
	-h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_find_binaries "$build"
bench_setup "$workers"
p11a_log "p11agent-bench ${P11A_BENCH_ARGS[*]} $*"
rc=0
"$P11A_BENCH" "${P11A_BENCH_ARGS[@]}" "$@" || rc=$?
[[ $rc -eq 0 ]] || exit "$rc"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM"
