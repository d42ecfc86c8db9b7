#!/usr/bin/env bash
# A client cannot flood the agent's log: a warning about one request is
# logged once per connection, and what was left out is summed up in one
# line when the connection closes.
#   1. 8 connections pipeline LIST and never read their replies;
#   2. 4 connections pipeline 300 SIGNs each to a token that fails every
#      signature (CKR_DEVICE_ERROR, "sign ... failed" per request).
# Each must add at most 40 lines to the log (before: one per request,
# thousands), the failures must still be logged (once per connection)
# and summed up ("not logged"), and the agent keeps signing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"

command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
hostile=$(dirname "${BASH_SOURCE[0]}")/hostile.py
fault_setup
p11a_make_token A 1111 a-ed:ed25519
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --workers 2
p11a_list
ed=$(p11a_identity_id a-ed)

lines() {
	wc -l <"$P11A_AGENT_LOG"
}

# new_lines SINCE: the log lines after line SINCE
new_lines() {
	tail -n "+$(($1 + 1))" "$P11A_AGENT_LOG"
}

before=$(lines)
p11a_expect_exit 0 python3 "$hostile" flood "$P11AGENT_SOCK" 8 --list \
	--close-at-once
echo "flood: $P11A_OUTPUT"
# the agent notices the hang-ups within a sweep
sleep 1
added=$(($(lines) - before))
echo "log lines during the LIST flood: $added"
failed=0
if ((added > 40)); then
	new_lines "$before" | sort | uniq -c | sort -rn | head -5
	echo "FAIL 8 connections that do not read added $added log lines"
	failed=1
fi
p11a_agent_alive

fault_set "device_error 1000000"
before=$(lines)
p11a_expect_exit 0 python3 "$(dirname "${BASH_SOURCE[0]}")/limits.py" \
	failing "$P11AGENT_SOCK" "$ed" 4 300
echo "$P11A_OUTPUT"
sleep 1
added=$(($(lines) - before))
new=$(new_lines "$before")
echo "log lines for 1200 failed signatures: $added"
if ((added > 40)); then
	sort <<<"$new" | uniq -c | sort -rn | head -5
	echo "FAIL 1200 failed SIGNs on 4 connections added $added log lines"
	failed=1
fi
grep -q 'sign with .* failed' <<<"$new" ||
	p11a_fail "the failed signatures are not logged at all"
if ! grep -q 'not logged' <<<"$new"; then
	echo "FAIL no summary of the warnings left out"
	failed=1
fi
fault_set "device_error 0"
fault_sign_verify "$ed" ed25519 "$P11A_TMP/A" a-ed
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
[[ $failed -eq 0 ]] || p11a_fail "per-request warnings flood the log"
echo ok
