#!/usr/bin/env bash
# A token reset (the shim logs the real token out and answers
# USER_NOT_LOGGED_IN): the agent logs in again with the cached PIN and
# retries once, so the client gets a good signature; the login really
# happened (counted in the shim's call log).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
p11a_make_token A 1111 a-rsa:rsa2048 a-ec:p384
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --workers 2
p11a_list
rsa=$(p11a_identity_id a-rsa)
ec=$(p11a_identity_id a-ec)
fault_sign_verify "$rsa" rsa_pss_rsae_sha256 "$P11A_TMP/A" a-rsa

for round in 1 2; do
	logins=$(fault_count '^C_Login token=A rv=0x0$')
	fault_set "logged_out 1"
	fault_sign_verify "$ec" ecdsa_secp384r1_sha384 "$P11A_TMP/A" a-ec
	[[ $(fault_count '^C_SignInit token=A rv=0x101$') -eq $round ]] ||
		p11a_fail "round $round: USER_NOT_LOGGED_IN not injected"
	(($(fault_count '^C_Login token=A rv=0x0$') == logins + 1)) ||
		p11a_fail "round $round: no single successful re-login"
	# every key works after the re-login (handles found again)
	fault_sign_verify "$rsa" rsa_pkcs1_sha256 "$P11A_TMP/A" a-rsa
	fault_sign_verify "$ec" ecdsa_secp384r1_sha384 "$P11A_TMP/A" a-ec
done
fault_wait_flags token A present,logged-in 2

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
