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

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_parse_args 10 "$@"
bench_find_binaries "$BENCH_BUILD"
bench_setup "$BENCH_WORKERS"
bench_start_p11kit
bench_start_ssh_agent
bench_run_and_stop --modes direct,agent,pipelined,p11kit,ssh-agent \
	"${BENCH_OPTIONS[@]}"
