#!/usr/bin/env bash
# --pin-source systemd-ask-password runs the real systemd-ask-password,
# which a boot-time service answers with a credential: here the
# credential p11agent.pin in $CREDENTIALS_DIRECTORY, as systemd sets it
# up for LoadCredential=.  The agent logs in and signs (OpenSSL
# verifies), from the option and from the configuration file; without
# the program it refuses to start and says why.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/cfglib.sh"

cfg_setup
command -v systemd-ask-password >/dev/null 2>&1 ||
	p11a_skip "systemd-ask-password not installed"
p11a_make_token tok 86420 e:p256 r:rsa2048
dir=$P11A_TMP/tok
mkdir -m 0700 "$P11A_TMP/creds"
printf '86420\n' >"$P11A_TMP/creds/p11agent.pin"
export CREDENTIALS_DIRECTORY=$P11A_TMP/creds

signs() {
	p11a_list
	local e r
	e=$(p11a_identity_id e)
	r=$(p11a_identity_id r)
	p11a_sign_verify "$e" ecdsa_secp256r1_sha256 "$dir" e
	p11a_sign_verify "$r" rsa_pkcs1_sha256 "$dir" r
	local rc=0
	p11a_stop_agent || rc=$?
	[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc"
}

p11a_log "the PIN from the credential p11agent.pin"
p11a_start_agent --no-config --pin-source systemd-ask-password
signs

p11a_log "pin-source = systemd-ask-password in the configuration file"
printf 'pin-source = systemd-ask-password\n' >"$P11A_TMP/agent.conf"
p11a_start_agent --config "$P11A_TMP/agent.conf"
signs

p11a_log "without the program"
# only the agent gets the empty PATH (the harness needs its tools)
mkdir -p "$P11A_TMP/emptybin"
printf '#!/bin/sh\nPATH=%s exec %s "$@"\n' "$P11A_TMP/emptybin" "$P11AGENTD" \
	>"$P11A_TMP/p11agentd-nopath"
chmod +x "$P11A_TMP/p11agentd-nopath"
if P11AGENTD=$P11A_TMP/p11agentd-nopath p11a_try_start_agent --no-config \
	--pin-source systemd-ask-password; then
	p11a_fail "p11agentd started without systemd-ask-password"
fi
[[ $P11A_AGENT_RC -eq 1 ]] || p11a_fail "p11agentd exited $P11A_AGENT_RC, not 1"
grep -q 'cannot run systemd-ask-password' "$P11A_AGENT_LOG" ||
	p11a_fail "no reason in the log: $(cat "$P11A_AGENT_LOG")"
grep -q 86420 "$P11A_AGENT_LOG" && p11a_fail "the PIN is in the agent's log"
echo ok
