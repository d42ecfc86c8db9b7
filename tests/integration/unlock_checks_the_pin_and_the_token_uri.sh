#!/usr/bin/env bash
# UNLOCK answers OK only when every token it applies to took the PIN:
# - to an unlocked agent, a wrong PIN is PIN_INCORRECT (exit 7) and the
#   agent stays unlocked (the token is not asked: its retry counter is
#   left alone); the right PIN is OK;
# - a --token URI that matches no token is TOKEN_NOT_FOUND (exit 11),
#   unlocked or locked, and unlocks nothing;
# - UNLOCKs with the right and a wrong PIN pipelined to a locked agent:
#   the right one is OK, the wrong one PIN_INCORRECT (15), never OK
#   because the other one logged in first.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

p11a_setup_dir
p11a_make_token A 1111 a-ec:p256
p11a_make_token B 2222 b-ec:p256
export P11A_PIN=1111 RIGHT_A=1111 RIGHT_B=2222 WRONG=0000
p11a_start_agent --workers 4 --identity 'pkcs11:token=A?pin-source=env:P11A_PIN' \
	--identity 'pkcs11:token=B?pin-source=env:RIGHT_B'
p11a_list
a=$(p11a_identity_id a-ec)
b=$(p11a_identity_id b-ec)
p11a_sign_verify "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec

# unlocked: a wrong PIN is refused, the agent stays unlocked
p11a_expect_exit 7 "$P11AGENT" unlock --pin-source env:WRONG
p11a_expect_output_matches 'PIN incorrect'
p11a_expect_exit 7 "$P11AGENT" unlock --token 'pkcs11:token=A' \
	--pin-source env:WRONG
p11a_expect_exit 7 "$P11AGENT" unlock --token 'pkcs11:token=B' \
	--pin-source env:RIGHT_A
p11a_sign_verify "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
p11a_sign_verify "$b" ecdsa_secp256r1_sha256 "$P11A_TMP/B" b-ec
p11a_expect_exit 0 "$P11AGENT" unlock --token 'pkcs11:token=A' \
	--pin-source env:RIGHT_A
p11a_expect_exit 0 "$P11AGENT" unlock --token 'pkcs11:token=B' \
	--pin-source env:RIGHT_B
# with no --token every token must take the PIN: A's is wrong for B
p11a_expect_exit 7 "$P11AGENT" unlock --pin-source env:RIGHT_A

# a URI that names no token
p11a_expect_exit 11 "$P11AGENT" unlock --token 'pkcs11:token=nosuch' \
	--pin-source env:RIGHT_A
p11a_expect_output_matches 'no token matches'
p11a_expect_exit 0 "$P11AGENT" lock
p11a_expect_exit 11 "$P11AGENT" unlock --token 'pkcs11:token=nosuch' \
	--pin-source env:RIGHT_A
p11a_expect_exit 5 "$P11AGENT" sign --identity "$a" \
	--scheme ecdsa_secp256r1_sha256 --in "$P11A_TMP/A/ca.pem" \
	--out "$P11A_TMP/sig"

# a burst of right and wrong PINs on a locked token, several rounds
races=$(dirname "${BASH_SOURCE[0]}")/pipelined_unlocks.py
for round in 1 2 3; do
	# wrong PINs of the last round back UNLOCK off: the command waits
	# that out, and its right PIN ends the back-off
	p11a_expect_exit 0 "$P11AGENT" unlock --token 'pkcs11:token=A' \
		--pin-source env:RIGHT_A
	p11a_expect_exit 0 "$P11AGENT" lock
	out=$(python3 "$races" "$P11AGENT_SOCK" 1111,0000 4 \
		--token 'pkcs11:token=A' | paste -sd' ' -)
	# the back-off a wrong PIN starts may already refuse (BUSY, 21) the
	# UNLOCKs read after it failed; a wrong PIN must never get OK
	[[ $out =~ ^OK\ ERROR:15\ (OK|ERROR:21)\ (ERROR:15|ERROR:21)$ ]] ||
		p11a_fail "round $round: right,wrong,right,wrong PINs gave: $out"
done
p11a_sign_verify "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
p11a_expect_exit 0 "$P11AGENT" unlock --token 'pkcs11:token=B' \
	--pin-source env:RIGHT_B
p11a_sign_verify "$b" ecdsa_secp256r1_sha256 "$P11A_TMP/B" b-ec

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
