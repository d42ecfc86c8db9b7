#!/usr/bin/env bash
# A module's helper process runs it under a seccomp filter: a module that
# tries to run a program (the shim's "exec" fault calls execve in C_Sign)
# gets EPERM, and signing goes on.  --unconfined-module GLOB lifts the
# filter for that module only: execve then fails only because the
# program does not exist (ENOENT).  /proc shows the filter on the helper.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
shim=$(realpath "$FAULTY_PKCS11")

# helper_pid: the helper of the shim's module
helper_pid() {
	pgrep -P "$P11A_AGENT_PID" -f "p11agent-helper .*libfaulty-pkcs11" || true
}
# execve_errno: the errno the shim's last execve got (0x1 EPERM, 0x2 ENOENT)
execve_errno() {
	sed -n 's/^execve token=A rv=\(0x[0-9a-f]*\)$/\1/p' "$FAULTY_PKCS11_LOG" | tail -1
}

fault_start_one_ec
pid=$(helper_pid)
[[ -n $pid ]] || p11a_fail "no helper process for the shim"
grep -q '^Seccomp:[[:space:]]*2' "/proc/$pid/status" ||
	p11a_fail "the helper has no seccomp filter: $(grep Seccomp "/proc/$pid/status")"
grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$pid/status" ||
	p11a_fail "the helper may gain privileges"
fault_set "token A" "exec 1"
fault_sign_verify "$FAULT_ID" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
[[ $(execve_errno) == 0x1 ]] ||
	p11a_fail "the module's execve got errno $(execve_errno), expected EPERM (0x1)"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"

fault_set
fault_start_agent --pin-source env:P11A_PIN --unconfined-module "$shim"
grep -q "its helper runs unconfined" "$P11A_AGENT_LOG" ||
	p11a_fail "the agent does not say the module runs unconfined"
pid=$(helper_pid)
grep -q '^Seccomp:[[:space:]]*0' "/proc/$pid/status" ||
	p11a_fail "--unconfined-module left the filter on"
fault_set "token A" "exec 1"
fault_sign_verify "$FAULT_ID" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
[[ $(execve_errno) == 0x2 ]] ||
	p11a_fail "unconfined, the module's execve got errno $(execve_errno), expected ENOENT (0x2)"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
