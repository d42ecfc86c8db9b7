#!/usr/bin/env bash
# Each limit, configured small, is enforced on the connection that
# breaks it only (limits.py keeps a witness connection): --max-frame
# (ERROR FRAME_TOO_LARGE and close; the limit is announced in HELLO),
# --max-inflight (BUSY for the requests over it, connection stays open),
# --max-connections (ERROR BUSY and close), --frame-timeout (ERROR
# TIMEOUT and close for a slow sender) and --idle-timeout (a silent
# connection is closed).  --max-per-uid, which closes the uid's
# longest-idle connection first, is idle_connections_never_lock_out_their_uid.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"

command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
limits=$(dirname "${BASH_SOURCE[0]}")/limits.py
fault_setup
p11a_make_token A 1111 a-ed:ed25519
export P11A_PIN=1111

fault_start_agent --pin-source env:P11A_PIN --workers 2 --max-frame 1024 \
	--max-inflight 4 --frame-timeout 1
p11a_list
ed=$(p11a_identity_id a-ed)
failed=0
python3 "$limits" frame "$P11AGENT_SOCK" 1024 "$ed" || failed=1
# a slow card keeps the first requests in flight while the rest arrive
fault_set "delay_ms 300"
python3 "$limits" inflight "$P11AGENT_SOCK" "$ed" 10 4 || failed=1
fault_set "delay_ms 0"
python3 "$limits" slow "$P11AGENT_SOCK" 1 || failed=1
p11a_agent_alive
fault_sign_verify "$ed" ed25519 "$P11A_TMP/A" a-ed
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"

fault_start_agent --pin-source env:P11A_PIN --max-connections 3 \
	--idle-timeout 2
python3 "$limits" connections "$P11AGENT_SOCK" 3 || failed=1
python3 "$limits" idle "$P11AGENT_SOCK" 2 || failed=1
p11a_agent_alive
fault_sign_verify "$ed" ed25519 "$P11A_TMP/A" a-ed
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
[[ $failed -eq 0 ]] || p11a_fail "some limits are not enforced as documented"
echo ok
