#!/usr/bin/env bash
# Where the agent's time goes: p11agentd runs under valgrind's callgrind
# on a throwaway token while p11agent-bench signs through it (blocking
# and pipelined, ECDSA P-256 by default: the cheapest signature, so the
# agent's own share is the largest).  Counting starts after start-up
# (callgrind_control -z) and the profile is written when the agent
# stops.  Prints the functions of the agent's own code (agent/, common/)
# by inclusive and by self cost.
#
#   tests/bench/profile-agent.sh [--build DIR] [--out FILE] [-- BENCH-OPTIONS...]
#
# Default bench options: --modes agent,pipelined --threads 2
# --schemes ecdsa_secp256r1_sha256 --count 4000.
set -euo pipefail

build=${P11A_BUILD_DIR:-build}
out=callgrind.p11agentd.out
while [[ $# -gt 0 ]]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--) shift; break ;;
	-h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done
[[ $# -gt 0 ]] || set -- --modes agent,pipelined --threads 2 \
	--schemes ecdsa_secp256r1_sha256 --count 4000

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
command -v valgrind >/dev/null 2>&1 || p11a_skip "valgrind not installed"
bench_find_binaries "$build"
out=$(realpath -m "$out")

bench_setup_token
# lib.sh starts "$P11AGENTD": make that the agent under callgrind
real_agentd=$P11AGENTD
P11AGENTD=$P11A_TMP/p11agentd-callgrind
printf '#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file="%s" "%s" "$@"\n' \
	"$out" "$real_agentd" >"$P11AGENTD"
chmod 0700 "$P11AGENTD"
P11A_TIMEOUT=120
bench_start_agent 2
callgrind_control -z "$P11A_AGENT_PID" >/dev/null
"$P11A_BENCH" "${P11A_BENCH_ARGS[@]}" "$@"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM"

src=$P11A_SRC_DIR
printf '\n=== agent code, inclusive (%s) ===\n' "$out"
callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null |
	grep -E "$src/(agent|common)/" | head -30 || true
printf '\n=== agent code, self ===\n'
callgrind_annotate --threshold=100 "$out" 2>/dev/null |
	grep -E "$src/(agent|common)/" | head -30 || true
printf '\n=== everything, self ===\n'
callgrind_annotate --threshold=100 "$out" 2>/dev/null | sed -n '1,60p'
