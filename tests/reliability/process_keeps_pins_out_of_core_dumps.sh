#!/usr/bin/env bash
# Hardening: without --debug the agent runs with RLIMIT_CORE 0 and is not
# dumpable (PR_SET_DUMPABLE 0: no core file, no ptrace attach by its own
# uid), and the cached PIN lives in locked memory (VmLck > 0); with
# --debug core dumps stay allowed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

p11a_setup_dir
p11a_make_token A 1111 a-ec:p256
export P11A_PIN=1111

core_limit() {
	awk '/^Max core file size/ {print $5}' "/proc/$P11A_AGENT_PID/limits"
}

# A process that is not dumpable has its /proc/PID files owned by root
# (the kernel's ptrace protection); one that is, by its own uid.  So run
# the agent under an unprivileged uid when we are root.
proc_owner() {
	stat -c %u "/proc/$P11A_AGENT_PID/status"
}
agent_uid=$(id -u)
if [[ $agent_uid -eq 0 ]] && command -v setpriv >/dev/null 2>&1; then
	agent_uid=65534
	mkdir -m 0700 "$P11A_TMP/agent"
	chown -R "$agent_uid" "$P11A_TMP"
	P11A_AGENT_WRAPPER="setpriv --reuid $agent_uid --regid $agent_uid --clear-groups ${P11A_AGENT_WRAPPER:-}"
	# our clients talk only to agents of uids they trust
	export P11AGENT_AGENT_UID=$agent_uid
fi

# give the agent a core limit to lose (the test's shell may have 0)
ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)" || true
p11a_start_agent --pin-source env:P11A_PIN
[[ $(core_limit) == 0 ]] || p11a_fail "RLIMIT_CORE is $(core_limit), expected 0"
if [[ $agent_uid -ne 0 ]]; then
	[[ $(proc_owner) == 0 ]] ||
		p11a_fail "the agent is dumpable (/proc/PID owned by $(proc_owner))"
fi
lck=$(awk '/^VmLck:/ {print $2}' "/proc/$P11A_AGENT_PID/status")
if [[ ${P11A_SANITIZED:-0} == 1 ]]; then
	p11a_log "sanitizer build: ASan ignores mlock, VmLck not checked"
else
	((lck > 0)) || p11a_fail "no locked memory (VmLck $lck kB): where is the PIN?"
fi
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"

if [[ $(ulimit -c) == 0 || ${P11A_SANITIZED:-0} == 1 ]]; then
	# ASan sets RLIMIT_CORE to 0 itself (its disable_coredump option)
	p11a_log "core dumps are off for this shell or build; --debug not checked"
	echo ok
	exit 0
fi
p11a_start_agent --pin-source env:P11A_PIN --debug
[[ $(core_limit) != 0 ]] || p11a_fail "--debug still has RLIMIT_CORE 0"
if [[ $agent_uid -ne 0 ]]; then
	[[ $(proc_owner) == "$agent_uid" ]] ||
		p11a_fail "--debug agent is not dumpable (/proc/PID owned by $(proc_owner))"
fi
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
