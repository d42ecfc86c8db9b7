#!/usr/bin/env bash
# UNLOCK under races the worker pool makes possible:
# - several UNLOCKs pipelined on one connection to an agent locked since
#   start-up run their logins on different workers at once: every key is
#   still listed exactly once (not once per login);
# - a LOCK followed at once by an UNLOCK with a wrong PIN, in one burst,
#   while the LOCK's logout may not have reached the token yet: the wrong
#   PIN is refused (PIN_INCORRECT = 15), never accepted because the token
#   was still logged in (a LOCK that comes in during that login may turn
#   the answer into LOCKED); then the right PIN unlocks and signatures
#   verify.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

p11a_setup_dir
p11a_make_token tok 2468 e:p256 r:rsa2048
# shellcheck disable=SC2119 # no PIN source: the agent starts locked
p11a_start_agent --workers 4
races=$(dirname "${BASH_SOURCE[0]}")/pipelined_unlocks.py

out=$(python3 "$races" "$P11AGENT_SOCK" 2468 6)
[[ $(grep -c '^OK$' <<<"$out") -eq 6 ]] ||
	p11a_fail "6 pipelined UNLOCKs with the right PIN gave: $out"
p11a_list
[[ ${#P11A_ID_ID[@]} -eq 2 ]] ||
	p11a_fail "after concurrent unlocks the list has ${#P11A_ID_ID[@]} identities, expected 2: ${P11A_ID_URI[*]}"
p11a_sign_verify 'pkcs11:token=tok;object=e' ecdsa_secp256r1_sha256 \
	"$P11A_TMP/tok" e

for round in 1 2 3 4 5; do
	out=$(python3 "$races" "$P11AGENT_SOCK" 9999 3 --lock-first)
	if grep -q '^OK$' <<<"$out"; then
		p11a_fail "round $round: a wrong PIN unlocked the agent: $out"
	fi
	# PIN_INCORRECT (15), or LOCKED (14) when the LOCK that followed in
	# the burst came in while that login ran: a LOCK always wins
	[[ $(grep -cE '^ERROR:(14|15)$' <<<"$out") -eq 3 ]] ||
		p11a_fail "round $round: expected PIN_INCORRECT or LOCKED: $out"
	p11a_expect_exit 5 "$P11AGENT" sign --identity 'pkcs11:token=tok;object=e' \
		--scheme ecdsa_secp256r1_sha256 --in "$P11A_TMP/tok/ca.pem" \
		--out "$P11A_TMP/sig"
	export P11A_PIN=2468
	p11a_expect_exit 0 "$P11AGENT" unlock --pin-source env:P11A_PIN
done
p11a_list
[[ ${#P11A_ID_ID[@]} -eq 2 ]] || p11a_fail "identities listed twice: ${P11A_ID_URI[*]}"
p11a_sign_verify 'pkcs11:token=tok;object=r' rsa_pss_rsae_sha256 \
	"$P11A_TMP/tok" r

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
