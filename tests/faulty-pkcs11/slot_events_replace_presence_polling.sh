#!/usr/bin/env bash
# A module that supports C_WaitForSlotEvent (the shim with
# FAULTY_PKCS11_SLOT_EVENTS=1) tells its helper of a pulled or returned
# card, and the agent looks at once: with --poll-interval at an hour, a
# pulled card shows as absent within 3 s, and a returned one signs again
# (logged in with the cached PIN) within 3 s.  The agent does not poll
# such a module at all, so an idle agent does not wake for it.  Without
# slot events the same hour-long interval leaves a pulled card unnoticed
# (the control case).
set -euo pipefail
shopt -s extglob
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
p11a_make_token A 1111 a-ec:p256
export P11A_PIN=1111

# flags_within SECONDS PATTERN: token A's STATUS flags match in time
flags_within() {
	local i out=
	for ((i = 0; i < $1 * 20; i++)); do
		out=$("$P11A_TRY" token-flags A 2>&1) || true
		# shellcheck disable=SC2053
		[[ ${out#OK } == $2 ]] && return 0
		sleep 0.05
	done
	echo "$out"
	return 1
}

export FAULTY_PKCS11_SLOT_EVENTS=1
fault_start_agent --pin-source env:P11A_PIN --poll-interval 3600000
p11a_list
a=$(p11a_identity_id a-ec)
fault_sign_verify "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
probes=$(fault_count '^C_GetTokenInfo')
fault_set "token A" "removed 1"
out=$(flags_within 3 '@(logged-in|-|needs-unlock)') ||
	p11a_fail "a pulled card is not noticed within 3 s: $out"
fault_expect TOKEN_NOT_PRESENT sign "$a" ecdsa_secp256r1_sha256 \
	"$P11A_TMP/fsv.msg" "$P11A_TMP/fsv.sig"
fault_set "token A" "removed 0"
flags_within 3 present,logged-in >/dev/null ||
	p11a_fail "a returned card is not back within 3 s"
fault_sign_verify "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
grep -q "token A is not present" "$P11A_AGENT_LOG" ||
	p11a_fail "the agent did not log the pulled card"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"

# control: the same without slot events is not noticed in 3 s
unset FAULTY_PKCS11_SLOT_EVENTS
fault_set
fault_start_agent --pin-source env:P11A_PIN --poll-interval 3600000
p11a_list
fault_set "token A" "removed 1"
sleep 3
out=$("$P11A_TRY" token-flags A 2>&1) || true
[[ $out == "OK present,logged-in" ]] ||
	p11a_fail "without slot events the card was noticed anyway ($out): the test proves nothing"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
