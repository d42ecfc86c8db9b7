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

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_parse_args 12 "$@"
bench_find_binaries "$BENCH_BUILD"
bench_setup "$BENCH_WORKERS"
bench_run_and_stop "${BENCH_OPTIONS[@]}"
