#!/usr/bin/env bash
# What a module writes to stderr (tpm2-pkcs11 prints WARNING and ERROR
# lines of its own) goes to the agent's log, one line per line, with the
# module's name, control characters replaced: nothing on the agent's
# own stderr that is not in the log's format.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
export FAULTY_PKCS11_STDERR=$'WARNING:fapi:a line of the module\'s own \e[31mred'
p11a_make_token A 1111 a-ec:p256
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN
p11a_list
fault_sign_verify "$(p11a_identity_id a-ec)" ecdsa_secp256r1_sha256 \
	"$P11A_TMP/A" a-ec
want="module libfaulty-pkcs11.so: WARNING:fapi:a line of the module's own ?[31mred"
grep -qF "$want" "$P11A_AGENT_LOG" ||
	p11a_fail "the log does not have the module's line as '$want'"
! grep -q $'\e' "$P11A_AGENT_LOG" ||
	p11a_fail "the log has the module's escape character"
! grep -v '^p11agentd\[' "$P11A_AGENT_LOG" | grep -q . ||
	p11a_fail "lines in the log that are not the agent's: $(grep -v '^p11agentd\[' "$P11A_AGENT_LOG")"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
