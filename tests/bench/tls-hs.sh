#!/usr/bin/env bash
# TLS 1.3 handshakes per second with client authentication (what users
# feel): p11agent-tls-hs with the client key through the p11agent
# provider, against the same SoftHSM key used in-process through libp11's
# pkcs11 engine, runs interleaved (engine, provider, engine, ...).  The
# token holds RSA-2048 and P-256 only: libp11 0.4.12 finds no key on a
# token that also holds an Ed25519 key.
#
#   tests/bench/tls-hs.sh [--build DIR] [--workers N] [--rounds R]
#       [--seconds S] [--threads "1 8"] [--keys "p256 rsa2048"]
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
ROUNDS=3 SECONDS_PER=2 THREADS="1 8" KEYS="p256 rsa2048"
args=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--seconds) SECONDS_PER=$2; shift 2 ;;
	--threads) THREADS=$2; shift 2 ;;
	--keys) KEYS=$2; shift 2 ;;
	*) args+=("$1"); shift ;;
	esac
done
bench_parse_args 10 "${args[@]}"
bench_find_binaries "$BENCH_BUILD"
HS=$BENCH_BUILD/tests/bench/p11agent-tls-hs
PROVIDER_DIR=$BENCH_BUILD/client/provider
[[ -x $HS ]] || p11a_fail "no p11agent-tls-hs in $BENCH_BUILD"
openssl engine pkcs11 -t >/dev/null 2>&1 ||
	p11a_skip "no pkcs11 engine (libengine-pkcs11-openssl)"
# shellcheck disable=SC2034 # read by bench_setup_token
P11A_BENCH_KEYS=(rsa2048:rsa2048 p256:p256)
bench_setup "$BENCH_WORKERS"
p11a_list
p11a_log "load average: $(cat /proc/loadavg)"
for ((r = 1; r <= ROUNDS; r++)); do
	for t in $THREADS; do
		for k in $KEYS; do
			pub=$P11A_TMP/$P11A_BENCH_TOKEN/$k.pub.pem
			echo "round $r $k engine $("$HS" engine "$P11A_MODULE" \
				"pkcs11:token=$P11A_BENCH_TOKEN;object=$k;type=private" \
				"$pub" "$t" "$SECONDS_PER")"
			echo "round $r $k provider $("$HS" provider "$PROVIDER_DIR" \
				"p11agent:$(p11a_identity_id "$k")" "$pub" "$t" \
				"$SECONDS_PER")"
		done
	done
done
p11a_log "load average: $(cat /proc/loadavg)"
p11a_stop_agent
