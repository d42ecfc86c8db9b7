#!/usr/bin/env bash
# Clients that pipeline requests and never read a reply cannot grow the
# agent (hostile.py): a connection is paused (the agent stops reading
# it) once it holds about 1 MiB of unread replies and queued requests,
# and every connection that holds anything is paused while all of them
# together hold --max-memory.
#   1. 200 connections pipeline LIST (180) and SIGN (20) without reading
#      for up to 20 s, --max-memory 16: the agent's peak RSS (VmHWM) stays within 40 MiB
#      of its RSS before, a well-behaved client meanwhile signs (verified
#      with OpenSSL), and paused connections that start reading get
#      exactly one reply per request: pausing loses nothing.
#   2. 8 connections pipeline 40 SIGNs of 200 KiB to a slow token (requests
#      pile up in its queue), --max-memory 1024: peak RSS within 32 MiB
#      (8 times the 1 MiB a connection may hold, and a margin).
# The agent's RSS is watched while flooding; the flood stops at the
# bound so an unbounded agent fails the test without eating the machine.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"

command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
hostile=$(dirname "${BASH_SOURCE[0]}")/hostile.py
fault_setup
p11a_make_token A 1111 a-ed:ed25519
export P11A_PIN=1111

# vm PID FIELD: a /proc/PID/status field in kB (VmRSS, VmHWM)
vm() {
	sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"
}

# ASan's quarantine keeps freed memory by design (see stress.sh): there
# only the behaviour is checked, not the RSS
sanitized=0
[[ ${P11A_SANITIZED:-0} == 1 ]] && sanitized=1

# flood_phase MARGIN_KB HOSTILE_ARGS...: warm up, note the RSS, run the
# flood, sign with a well-behaved client while it holds its connections,
# check the peak RSS against RSS + MARGIN_KB, then drain.
flood_phase() {
	local margin=$1 base limit hwm line
	shift
	fault_sign_verify "$ed" ed25519 "$P11A_TMP/A" a-ed
	fault_sign_verify "$ed" ed25519 "$P11A_TMP/A" a-ed
	base=$(vm "$P11A_AGENT_PID" VmRSS)
	limit=$((base + margin))
	((sanitized)) && limit=0
	coproc FLOOD { python3 "$hostile" flood "$P11AGENT_SOCK" "$@" \
		--pid "$P11A_AGENT_PID" --rss-limit-kb "$limit"; }
	read -r -t 180 line <&"${FLOOD[0]}" ||
		p11a_fail "the flood did not settle"
	echo "flood: $line (agent RSS before: $base kB)"
	p11a_agent_alive
	# a well-behaved client is served while the flood holds its ground
	fault_sign_verify "$ed" ed25519 "$P11A_TMP/A" a-ed
	hwm=$(vm "$P11A_AGENT_PID" VmHWM)
	echo "agent VmHWM $hwm kB, bound $limit kB"
	if ((!sanitized && hwm > limit)); then
		echo go >&"${FLOOD[1]}"
		p11a_fail "agent peak RSS $hwm kB is over $limit kB"
	fi
	[[ $line =~ closed=0 ]] ||
		p11a_fail "the agent closed flooding connections: $line"
	echo go >&"${FLOOD[1]}"
	read -r -t 120 line <&"${FLOOD[0]}" ||
		p11a_fail "draining paused connections did not finish"
	echo "$line"
	[[ $line =~ once=yes ]] ||
		p11a_fail "a paused connection lost or doubled replies: $line"
	wait "$FLOOD_PID" || p11a_fail "hostile.py failed"
	p11a_agent_alive
	fault_sign_verify "$ed" ed25519 "$P11A_TMP/A" a-ed
}

fault_start_agent --pin-source env:P11A_PIN --max-memory 16
p11a_list
ed=$(p11a_identity_id a-ed)
flood_phase $((40 * 1024)) 200 --mix 20 --sign "$ed:2000" --drain 3 \
	--max-seconds 20
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"

# a slow token: SIGNs wait in its queue with their data
fault_set "delay_ms 20"
fault_start_agent --pin-source env:P11A_PIN --workers 1 --max-memory 1024
flood_phase $((32 * 1024)) 8 --sign "$ed:204800" --count 40 --drain 2
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
