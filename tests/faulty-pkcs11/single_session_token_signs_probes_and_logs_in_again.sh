#!/usr/bin/env bash
# A token that allows one session (the shim's single-session card:
# ulMaxSessionCount 1, a second C_OpenSession gives SESSION_COUNT): the
# helper opens just one although --workers asks for 4, STATUS says 1
# worker, and on that one session the agent signs (also 40 pipelined
# requests and an always-auth key), probes, logs in again after a token
# reset, comes back after a pull, and LOCK/UNLOCK work: no deadlock
# (every step has a time limit).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
export FAULTY_PKCS11_CARD=single-session
p11a_make_token A 1111 a-ec:p256 a-9c:rsa2048:always-auth
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --workers 4 --poll-interval 50
p11a_list
ec=$(p11a_identity_id a-ec)
aa=$(p11a_identity_id a-9c)
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
fault_sign_verify "$aa" rsa_pss_rsae_sha256 "$P11A_TMP/A" a-9c

workers=$("$P11AGENT" status | awk '$1 == "A" { print $4 }')
[[ $workers == 1 ]] ||
	p11a_fail "STATUS shows '$workers' workers on a one-session token: $("$P11AGENT" status)"
[[ $(fault_count '^C_OpenSession token=A rv=0x0$') -eq 1 ]] ||
	p11a_fail "$(fault_count '^C_OpenSession token=A rv=0x0$') sessions opened, expected 1"

# 40 pipelined requests share the one session
out=$(fault_pipelined_signs "$ec" 40 2>&1) ||
	p11a_fail "pipelined signs on one session failed: $out"
[[ $(grep -c ' OK ' <<<"$out") -eq 40 ]] || p11a_fail "not all 40 signed: $out"

# a token reset: the agent logs in again on the same session
logins=$(fault_count '^C_Login token=A rv=0x0$')
fault_set "logged_out 1"
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
(($(fault_count '^C_Login token=A rv=0x0$') == logins + 1)) ||
	p11a_fail "no re-login after the reset"

# a pull and a return: the probe sees both, a new session is opened
fault_set "removed 1"
fault_wait_flags identity a-ec - 10
fault_set "removed 0"
fault_wait_flags token A present,logged-in 10
fault_sign_verify "$aa" rsa_pkcs1_sha256 "$P11A_TMP/A" a-9c

# LOCK and UNLOCK on the one session
p11a_expect_exit 0 "$P11AGENT" lock
p11a_expect_exit 0 "$P11AGENT" unlock --pin-source env:P11A_PIN
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
[[ $(fault_count '^C_OpenSession token=A rv=0x1b1$') -eq 0 ]] ||
	echo "note: $(fault_count '^C_OpenSession token=A rv=0x1b1$') C_OpenSession refused with SESSION_COUNT"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
