#!/usr/bin/env bash
# opencryptoki's soft token locks its user PIN for good after three wrong
# tries (only the SO can reset it) and says so in its flags: COUNT_LOW
# after one, FINAL_TRY after two, LOCKED after three.  Through p11agent,
# wrong UNLOCKs never lock it: two wrong ones cost two tries, then the
# last try is not spent without `unlock --final-try` (wrong or right
# PIN: the token is not asked), nor by signatures or presence probes;
# the right PIN with --final-try logs in, resets the count and signs.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/ock_lib.sh"

ock_setup tok 123456 k-rsa:rsa2048
export WRONG=999999 GOOD=123456
# tok_flags: the token's own flags (pkcsconf), on one line
tok_flags() { "$P11A_OCK" flags | paste -sd' ' -; }
expect_flags() {
	local f
	f=$(tok_flags)
	[[ " $f " == *" $1 "* ]] || p11a_fail "$2: the token's flags are '$f', expected $1"
	[[ " $f " != *" USER_PIN_LOCKED "* ]] || p11a_fail "$2: the user PIN is locked"
}
agent_flags_have() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ ,$("$P11A_TRY" token-flags tok), == *,$1,* ]] && return 0
		sleep 0.05
	done
	p11a_fail "STATUS of tok: $("$P11A_TRY" token-flags tok), expected $1"
}

ock_start_agent --poll-interval 100
agent_flags_have needs-unlock

p11a_expect_exit 7 "$P11AGENT" unlock --pin-source env:WRONG
p11a_expect_output_matches 'incorrect'
expect_flags USER_PIN_COUNT_LOW "after one wrong UNLOCK"
agent_flags_have pin-count-low
p11a_expect_exit 7 "$P11AGENT" unlock --pin-source env:WRONG
expect_flags USER_PIN_FINAL_TRY "after two wrong UNLOCKs"
agent_flags_have pin-final-try
"$P11AGENT" status | grep -E '^ *tok .*pin-final-try' >/dev/null ||
	p11a_fail "p11agent status does not show the final try: $("$P11AGENT" status)"

# the last try: not without --final-try, whatever the PIN
for pin in WRONG GOOD; do
	p11a_expect_exit 7 "$P11AGENT" unlock --pin-source "env:$pin"
	p11a_expect_output_matches 'one PIN try left.*--final-try'
	expect_flags USER_PIN_FINAL_TRY "after an UNLOCK without --final-try ($pin PIN)"
done
# nor by signatures or probes (ten of them)
p11a_random_file "$P11A_TMP/m"
for _ in 1 2 3; do
	out=$("$P11A_TRY" sign "pkcs11:token=tok;object=k-rsa" rsa_pss_rsae_sha256 \
		"$P11A_TMP/m" "$P11A_TMP/s" 2>&1) || true
	[[ $out == LOCKED* ]] || p11a_fail "a sign while locked gave: $out"
done
sleep 1
expect_flags USER_PIN_FINAL_TRY "after signatures and probes"
echo "ok: two wrong UNLOCKs, then the last try kept: $(tok_flags)"

p11a_expect_exit 0 "$P11AGENT" unlock --final-try --pin-source env:GOOD
agent_flags_have logged-in
f=$(tok_flags)
[[ " $f " != *" USER_PIN_FINAL_TRY "* && " $f " != *" USER_PIN_COUNT_LOW "* &&
	" $f " != *" USER_PIN_LOCKED "* ]] ||
	p11a_fail "after the right PIN the token's flags are still '$f'"
p11a_list
p11a_sign_verify "$(p11a_identity_id k-rsa)" rsa_pss_rsae_sha256 "$TLS_DIR" k-rsa
echo "ok: the right PIN with --final-try logs in and resets the count: $f"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
