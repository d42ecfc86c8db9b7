#!/usr/bin/env bash
# Threads of one process sign through the provider at the same time, each
# on a connection of its own from the provider's pool (docs/TLS.md):
#   - eight threads sign with an RSA-2048 SoftHSM key, every signature
#     verified, and the agent's audit log shows them all from the one
#     process; the rates at 1 and 8 threads are printed (a report, not a
#     check: speed is the benchmark's business);
#   - on a slow card (faulty-pkcs11 delays every C_Sign by 500 ms, the
#     agent has 8 sessions) eight threads' signatures overlap: eight take
#     clearly less than four times as long as one, where one connection
#     shared under a lock would take eight times as long.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"

[[ -n ${P11A_THREADS_SIGN:-} && -x $P11A_THREADS_SIGN ]] ||
	p11a_fail "P11A_THREADS_SIGN must name the threads test program"
THREADS=8
DELAY_MS=500

tls_setup k-rsa:rsa2048 -- --workers "$THREADS"
p11a_list
KEY=p11agent:$(p11a_identity_id k-rsa)
PUB=$TLS_DIR/k-rsa.pub.pem

# threads_sign THREADS COUNT: sign through the provider; the elapsed ms
# of the timed part in ELAPSED_MS
threads_sign() {
	local out
	out=$("$P11A_THREADS_SIGN" "$P11A_PROVIDER_DIR" "$KEY" "$PUB" SHA256 \
		"$1" "$2" 2>&1) || p11a_fail "$1 threads x $2 signatures: $out"
	echo "$out"
	grep -q "^$1 threads: $(($1 * $2)) verified signatures" <<<"$out" ||
		p11a_fail "$1 threads: not every signature verified: $out"
	ELAPSED_MS=$(sed -n 's/.* signatures in \([0-9]*\) ms.*/\1/p' <<<"$out")
	[[ -n $ELAPSED_MS ]] || p11a_fail "no elapsed time in: $out"
}

before=$(tls_audit_count)
threads_sign 1 40
threads_sign "$THREADS" 20
lines=$(tail -n +"$((before + 1))" "$TLS_AUDIT")
n_ok=$(grep -c 'sign pid=.* result=OK' <<<"$lines" || true)
want=$((41 + THREADS * 21))
[[ $n_ok -eq $want ]] ||
	p11a_fail "audit shows $n_ok good signatures, expected $want: $lines"
! grep -v 'result=OK' <<<"$lines" | grep -q . ||
	p11a_fail "failed signatures: $lines"

# ---- a slow card: the signatures of eight threads overlap -----------------
fault_slow_card_agent "$DELAY_MS" --pin-source env:P11A_PIN --audit "$TLS_AUDIT" \
	--workers "$THREADS"
fault_expect_overlap "$DELAY_MS" "$THREADS" threads_sign
