#!/usr/bin/env bash
# Threads of one process sign through the module at the same time, each
# on a connection of its own from the module's pool (docs/PKCS11.md):
#   - eight threads sign with an RSA-2048 SoftHSM key, every signature
#     verified; the rates at 1 and 8 threads are printed (a report, not a
#     check: speed is the benchmark's business);
#   - on a slow card (faulty-pkcs11 delays every C_Sign by 500 ms, the
#     agent has 8 sessions) eight threads' signatures overlap: eight take
#     clearly less than four times as long as one, where one connection
#     shared under a lock would take eight times as long.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"
[[ -x ${P11M_API_TEST:-} ]] || p11a_fail "P11M_API_TEST not set"
THREADS=8
DELAY_MS=500

p11a_setup_dir
p11a_make_token tok 1234 r:rsa2048
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN --workers "$THREADS"
dir=$P11A_TMP/tok

# threads_sign THREADS SIGNS: sign through the module; the elapsed ms in
# ELAPSED_MS
threads_sign() {
	local out
	out=$("$P11M_API_TEST" "$P11M_MODULE" threads "$dir" tok "$1" "$2" r \
		2>&1) || p11a_fail "$1 threads x $2 signatures: $out"
	echo "$out"
	grep -q "^threads: $(($1 * $2)) verified signatures from $1 threads" \
		<<<"$out" || p11a_fail "$1 threads: not every signature verified: $out"
	ELAPSED_MS=$(sed -n 's/.* threads in \([0-9]*\) ms.*/\1/p' <<<"$out")
	[[ -n $ELAPSED_MS ]] || p11a_fail "no elapsed time in: $out"
}

before=$(p11m_agent_signs)
threads_sign 1 40
threads_sign "$THREADS" 20
after=$(p11m_agent_signs)
[[ $((after - before)) -eq $((40 + THREADS * 20)) ]] ||
	p11a_fail "the agent made $((after - before)) signatures, expected $((40 + THREADS * 20))"

# ---- a slow card: the signatures of eight threads overlap -----------------
fault_slow_card_agent "$DELAY_MS" --pin-source env:P11A_PIN --workers "$THREADS"
fault_expect_overlap "$DELAY_MS" "$THREADS" threads_sign
