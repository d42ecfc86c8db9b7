#!/usr/bin/env bash
# logrotate moves the audit log away and sends SIGHUP: the agent keeps
# running, the records before the signal stay in the moved file and the
# ones after it go to a new file at the original path.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

p11a_setup_dir
audit=$P11A_TMP/audit.log
p11a_start_audited_ec "$audit"
ec=$P11A_EC_ID
p11a_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
p11a_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec

mv "$audit" "$audit.1"
kill -HUP "$P11A_AGENT_PID"
# the reopen is logged; wait for it (bounded) rather than for a time
for ((i = 0; i < P11A_TIMEOUT * 20; i++)); do
	grep -q "reopened audit log" "$P11A_AGENT_LOG" && break
	p11a_pid_alive "$P11A_AGENT_PID" || p11a_fail "SIGHUP killed the agent"
	sleep 0.05
done
p11a_pid_alive "$P11A_AGENT_PID" || p11a_fail "SIGHUP killed the agent"
[[ -e $audit ]] || p11a_fail "no new audit log at $audit after SIGHUP"
p11a_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"

p11a_expect_audit_records "$audit.1" 2
p11a_expect_audit_records "$audit" 1
[[ $(stat -c %a "$audit") == 600 ]] ||
	p11a_fail "new audit log mode $(stat -c %a "$audit"), expected 600"
echo ok
