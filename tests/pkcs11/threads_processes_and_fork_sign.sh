#!/usr/bin/env bash
# Two processes with eight threads each sign through the module at the
# same time (each thread its own session; RSA, ECDSA and Ed25519 keys;
# every signature verified); a forked child signs with the session it
# inherited and with a new one, another re-initialises the module and
# signs, and the parent goes on signing after both.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -x ${P11M_API_TEST:-} ]] || p11a_fail "P11M_API_TEST not set"

THREADS=8
SIGNS=25
p11a_setup_dir
p11a_make_token tok 1234 r:rsa2048 e:p256 ed:ed25519
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN --workers 4
dir=$P11A_TMP/tok

before=$(p11m_agent_signs)
pids=()
for p in 1 2; do
	"$P11M_API_TEST" "$P11M_MODULE" threads "$dir" tok "$THREADS" "$SIGNS" \
		r e ed >"$P11A_TMP/threads.$p.out" 2>&1 &
	pids+=($!)
done
for p in 1 2; do
	rc=0
	wait "${pids[$((p - 1))]}" || rc=$?
	cat "$P11A_TMP/threads.$p.out"
	[[ $rc -eq 0 ]] || p11a_fail "process $p exited $rc"
	grep -q "^threads: $((THREADS * SIGNS)) verified signatures" \
		"$P11A_TMP/threads.$p.out" || p11a_fail "process $p: too few signatures"
done
after=$(p11m_agent_signs)
[[ $((after - before)) -eq $((2 * THREADS * SIGNS)) ]] ||
	p11a_fail "the agent made $((after - before)) signatures, expected $((2 * THREADS * SIGNS))"

for name in r e; do
	p11a_expect_exit 0 "$P11M_API_TEST" "$P11M_MODULE" fork "$dir" tok "$name"
	p11a_expect_output_matches 'children and parent signed'
done
p11a_agent_alive
echo ok
