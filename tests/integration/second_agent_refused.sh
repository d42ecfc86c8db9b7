#!/usr/bin/env bash
# A second agent started on the socket of a live one refuses to start
# (non-zero exit, says an agent is running) and leaves the first one
# working.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

p11a_setup_dir
p11a_make_token tok 1234 e:p256
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN
p11a_list
ec=${P11A_ID_ID[0]}

rc=0
out=$(timeout 20 "$P11AGENTD" --foreground --socket "$P11AGENT_SOCK" \
	--module "$P11A_MODULE" --pin-source env:P11A_PIN </dev/null 2>&1) || rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || {
	printf '%s\n' "$out" >&2
	p11a_fail "a second agent on a live socket exited $rc (124: did not exit)"
}
grep -Eqi 'running' <<<"$out" || p11a_fail "second agent's message does not say an agent is running: $out"

# the first agent still owns the socket
p11a_agent_alive
[[ -S $P11AGENT_SOCK ]] || p11a_fail "the socket of the live agent was removed"
p11a_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/tok" e

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
# and a clean shutdown removes the socket
[[ ! -e $P11AGENT_SOCK ]] || p11a_fail "p11agentd left its socket behind on SIGTERM"
echo ok
