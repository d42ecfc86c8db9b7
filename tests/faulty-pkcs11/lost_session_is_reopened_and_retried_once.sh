#!/usr/bin/env bash
# A session the token lost (SESSION_HANDLE_INVALID, SESSION_CLOSED; the
# shim really closes it): the agent opens a new session, logs in again
# and retries once, so the client gets a good signature.  A second loss
# during that one retry is an error for that request only (TOKEN), and
# the next request signs again.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
p11a_make_token A 1111 a-ec:p256 a-ed:ed25519
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --workers 1
p11a_list
ec=$(p11a_identity_id a-ec)
ed=$(p11a_identity_id a-ed)
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec

for fault in "session_invalid:0xb3" "session_closed:0xb0"; do
	name=${fault%%:*} rv=${fault##*:}
	opens=$(fault_count '^C_OpenSession token=A rv=0x0$')
	fault_set "$name 1"
	fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
	[[ $(fault_count "^C_SignInit token=A rv=$rv\$") -eq 1 ]] ||
		p11a_fail "$name: the shim did not inject $rv exactly once"
	(($(fault_count '^C_OpenSession token=A rv=0x0$') == opens + 1)) ||
		p11a_fail "$name: the agent did not open exactly one new session"
	fault_sign_verify "$ed" ed25519 "$P11A_TMP/A" a-ed
done

# lost again during the retry: one retry only, then an error
fault_set "session_invalid 2"
p11a_random_file "$P11A_TMP/msg"
fault_expect TOKEN sign "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/msg" \
	"$P11A_TMP/sig"
[[ $(fault_count '^C_SignInit token=A rv=0xb3$') -eq 3 ]] ||
	p11a_fail "expected 3 injected SESSION_HANDLE_INVALID in all"
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
fault_sign_verify "$ed" ed25519 "$P11A_TMP/A" a-ed

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
