#!/usr/bin/env bash
# --pin-source file:PATH and env:VAR both log the agent in (it signs
# straight away); a wrong PIN from either source never gives a signing
# agent: it either refuses to start or stays locked.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

p11a_setup_dir
p11a_make_token tok 97531 e:p256 r:rsa3072
dir=$P11A_TMP/tok

check_signs() {
	p11a_list
	[[ ${#P11A_ID_ID[@]} -eq 2 ]] ||
		p11a_fail "list shows ${#P11A_ID_ID[@]} identities, expected 2"
	local ec rsa
	ec=$(p11a_identity_id e)
	rsa=$(p11a_identity_id r)
	p11a_sign_verify "$ec" ecdsa_secp256r1_sha256 "$dir" e
	p11a_sign_verify "$rsa" rsa_pss_rsae_sha384 "$dir" r
}

stop() {
	local rc=0
	p11a_stop_agent || rc=$?
	[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
}

p11a_log "PIN from a file"
printf '97531\n' >"$P11A_TMP/pin"
chmod 600 "$P11A_TMP/pin"
p11a_start_agent --pin-source "file:$P11A_TMP/pin"
check_signs
stop

p11a_log "PIN from the environment"
export MY_TOKEN_PIN=97531
p11a_start_agent --pin-source env:MY_TOKEN_PIN
check_signs
stop

# A wrong PIN: the agent may exit (non-zero) or start locked; it must
# not sign until unlocked with the right PIN.
wrong_pin() {
	if p11a_try_start_agent "$@"; then
		p11a_random_file "$P11A_TMP/msg"
		p11a_expect_exit 5 "$P11AGENT" sign \
			--identity 'pkcs11:token=tok;object=e' \
			--scheme ecdsa_secp256r1_sha256 --in "$P11A_TMP/msg" \
			--out "$P11A_TMP/sig"
		p11a_expect_exit 0 "$P11AGENT" unlock --pin-source "file:$P11A_TMP/pin"
		check_signs
		stop
	else
		[[ $P11A_AGENT_RC -ne 0 ]] ||
			p11a_fail "p11agentd with a wrong PIN exited 0"
		grep -qi 'pin' "$P11A_AGENT_LOG" ||
			p11a_fail "p11agentd exited on a wrong PIN without saying so"
	fi
}
p11a_log "wrong PIN from a file"
printf '11111\n' >"$P11A_TMP/badpin"
wrong_pin --pin-source "file:$P11A_TMP/badpin"
p11a_log "wrong PIN from the environment"
export BAD_PIN=11111
wrong_pin --pin-source env:BAD_PIN
echo ok
