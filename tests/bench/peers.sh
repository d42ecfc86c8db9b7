#!/usr/bin/env bash
# The peers, measured on the same token and keys in the same run as
# direct PKCS#11 and p11agentd: `p11-kit server` through p11-kit-client.so,
# and ssh-agent holding the token through `ssh-add -s MODULE` (RSA and
# ECDSA only: SSH has no RSA-PSS, and OpenSSH 9.2 loads no Ed25519 key
# from PKCS#11).
#
#   tests/bench/peers.sh [--build DIR] [--workers N] [-- BENCH-OPTIONS...]
#
# Options as for run-bench.sh; the modes are fixed to all five.
set -euo pipefail

build=${P11A_BUILD_DIR:-build}
workers=$(nproc)
while [[ $# -gt 0 ]]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--workers) workers=$2; shift 2 ;;
	--) shift; break ;;
	-h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_find_binaries "$build"
bench_setup "$workers"
bench_start_p11kit
bench_start_ssh_agent
modes=direct,agent,pipelined,p11kit,ssh-agent
p11a_log "p11agent-bench --modes $modes ${P11A_BENCH_ARGS[*]} $*"
rc=0
"$P11A_BENCH" --modes "$modes" "${P11A_BENCH_ARGS[@]}" "$@" || rc=$?
[[ $rc -eq 0 ]] || exit "$rc"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM"
