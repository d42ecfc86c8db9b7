#!/usr/bin/env bash
# A pin-value in an --identity URI on the command line is readable by
# every user in /proc/PID/cmdline: the agent warns at start (and points to
# pin-source), logs in with it, and overwrites it in its argv, so that
# `ps` shows stars from then on.  A PIN from a pin-source gives no warning.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

[[ -z ${P11A_AGENT_WRAPPER:-} ]] ||
	p11a_skip "the agent runs under $P11A_AGENT_WRAPPER: its cmdline is not the agent's"
p11a_setup_dir
pin=31415926535
p11a_make_token A "$pin" a-ec:p256

stop() {
	local rc=0
	p11a_stop_agent || rc=$?
	[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
}

p11a_start_agent --identity "pkcs11:token=A?pin-value=$pin" \
	"--identity=pkcs11:token=B?pin-value=$pin&module-name=x"
p11a_list
p11a_sign_verify "$(p11a_identity_id a-ec)" ecdsa_secp256r1_sha256 \
	"$P11A_TMP/A" a-ec
grep -Eq '\[warn\].*pin-value.*/proc/PID/cmdline.*pin-source' \
	"$P11A_AGENT_LOG" || p11a_fail "no warning about pin-value on the command line"
cmdline=$(tr '\0' ' ' <"/proc/$P11A_AGENT_PID/cmdline")
[[ $cmdline != *"$pin"* ]] || p11a_fail "/proc/PID/cmdline shows the PIN: $cmdline"
[[ $cmdline == *"pkcs11:token=A?pin-value=***********"* &&
	$cmdline == *"pin-value=***********&module-name=x"* ]] ||
	p11a_fail "/proc/PID/cmdline does not show the URIs with the PIN hidden: $cmdline"
! grep -qF -- "$pin" "$P11A_AGENT_LOG" || p11a_fail "the log shows the PIN"
stop

: >"$P11A_AGENT_LOG"
export TEST_PIN=$pin
p11a_start_agent --identity 'pkcs11:token=A?pin-source=env:TEST_PIN'
p11a_list
p11a_sign_verify "$(p11a_identity_id a-ec)" ecdsa_secp256r1_sha256 \
	"$P11A_TMP/A" a-ec
! grep -q 'pin-value' "$P11A_AGENT_LOG" ||
	p11a_fail "a warning about pin-value without one: $(grep pin-value "$P11A_AGENT_LOG")"
stop
echo ok
