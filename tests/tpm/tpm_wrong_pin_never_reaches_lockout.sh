#!/usr/bin/env bash
# Wrong PINs count towards the TPM's dictionary-attack lockout (3 tries
# on swtpm, then 1000 s during which even the right PIN fails).  The
# agent must never spend one by itself: a wrong PIN from --pin-source
# costs exactly one try, and then nothing more does, whatever happens
# (signatures asked, presence probes, the module's helper restarted);
# a wrong UNLOCK costs one try and is not repeated; the right UNLOCK
# then signs: the TPM never reaches lockout through p11agent.
# (That several wrong UNLOCKs typed by a person are refused before the
# last try, from the token's PIN flags or a rate limit, is issue 14's;
# tpm2-pkcs11 sets no CKF_USER_PIN_COUNT_LOW, so only a limit in the
# agent can do it.)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tpm_lib.sh"

tpm_setup
tpm_token tok 123456 k-p256:p256
"$P11A_TPM" clear "$TPM_DIR"
lockout() { "$P11A_TPM" lockout "$TPM_DIR"; }
expect_lockout() {
	local n
	n=$(lockout)
	[[ $n -eq $1 ]] || p11a_fail "$2: the TPM's lockout count is $n, expected $1"
}
expect_lockout 0 "a new TPM"
max=$(tpm2_getcap properties-variable | sed -n 's/^TPM2_PT_MAX_AUTH_FAIL: *0x//p')
max=$((16#$max))

export P11A_PIN=999999 GOOD_PIN=123456
tpm_start_agent --pin-source env:P11A_PIN --poll-interval 100
expect_lockout 1 "after the agent's one login with a wrong PIN"
fault_flags=$("$P11A_TRY" token-flags tok)
[[ $fault_flags == *needs-unlock* ]] || p11a_fail "STATUS: $fault_flags"

# nothing the agent does on its own tries the PIN again
p11a_random_file "$P11A_TMP/m"
# (its keys are listed after the first unlock: named by URI)
for _ in 1 2 3; do
	out=$("$P11A_TRY" sign "pkcs11:token=tok;object=k-p256" \
		ecdsa_secp256r1_sha256 "$P11A_TMP/m" "$P11A_TMP/s" 2>&1) || true
	[[ $out == LOCKED* ]] || p11a_fail "a sign while the PIN is wrong gave: $out"
done
helper=$(pgrep -P "$P11A_AGENT_PID" -f p11agent-helper)
kill -KILL "$helper"
for ((i = 0; i < 100; i++)); do
	grep -q "helper restarted" "$P11A_AGENT_LOG" && break
	sleep 0.05
done
grep -q "helper restarted" "$P11A_AGENT_LOG" || p11a_fail "the helper was not restarted"
sleep 1 # ten presence probes
expect_lockout 1 "after signs, probes and a helper restart"

# one wrong UNLOCK: one try, not repeated
p11a_expect_exit 7 env P11A_PIN=111111 "$P11AGENT" unlock --pin-source env:P11A_PIN
sleep 1
expect_lockout 2 "after one wrong UNLOCK"
((2 < max)) || p11a_fail "the TPM allows only $max tries: test set-up is wrong"

"$P11AGENT" unlock --pin-source env:GOOD_PIN || p11a_fail "the right UNLOCK failed"
p11a_list
p11a_sign_verify "$(p11a_identity_id k-p256)" ecdsa_secp256r1_sha256 "$TLS_DIR" k-p256
expect_lockout 2 "after the right UNLOCK"
tpm2_getcap properties-variable | grep -q 'inLockout: *0' ||
	p11a_fail "the TPM is in lockout"
echo "ok: the TPM's lockout count never went past 2 of $max"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
