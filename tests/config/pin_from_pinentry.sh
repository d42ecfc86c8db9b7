#!/usr/bin/env bash
# --pin-source pinentry[:PROGRAM] asks a pinentry program over Assuan
# (tests/config/fake-pinentry plays the program's side): the agent sends
# SETDESC, SETPROMPT and GETPIN, decodes the D line's %-escapes (also
# when the PIN comes in several D lines between status lines), says BYE,
# logs in and signs (OpenSSL verifies).  "pinentry" is found in PATH, and
# the setting works from the configuration file too.  A cancelled dialog,
# an empty PIN, a pinentry that dies, or one that cannot be run stops
# the start with a reason; the PIN never reaches the log.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/cfglib.sh"

cfg_setup
pin='97%53 1'
p11a_make_token tok "$pin" e:p256
dir=$P11A_TMP/tok
fake=$CFG_DIR/fake-pinentry
export FAKE_PINENTRY_DATA='97%2553 1' FAKE_PINENTRY_LOG=$P11A_TMP/pinentry.log

signs() {
	p11a_list
	local e
	e=$(p11a_identity_id e)
	p11a_sign_verify "$e" ecdsa_secp256r1_sha256 "$dir" e
	local rc=0
	p11a_stop_agent || rc=$?
	[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc"
	: >"$FAKE_PINENTRY_LOG"
}

p11a_log "one D line with a %-escape"
p11a_start_agent --no-config --pin-source "pinentry:$fake"
grep -q '^GETPIN$' "$FAKE_PINENTRY_LOG" || p11a_fail "no GETPIN was sent"
diff <(grep -Eo '^(SETDESC|SETPROMPT|GETPIN|BYE)' "$FAKE_PINENTRY_LOG") \
	<(printf '%s\n' SETDESC SETPROMPT GETPIN BYE) ||
	p11a_fail "unexpected Assuan dialogue: $(cat "$FAKE_PINENTRY_LOG")"
grep -q '^SETDESC .*PIN' "$FAKE_PINENTRY_LOG" ||
	p11a_fail "SETDESC does not say what is asked for"
signs

p11a_log "the PIN in two D lines, with status and comment lines between"
FAKE_PINENTRY_MODE="split" p11a_start_agent --no-config \
	--pin-source "pinentry:$fake"
signs

p11a_log "plain 'pinentry' is looked up in PATH"
mkdir -p "$P11A_TMP/bin"
ln -s "$fake" "$P11A_TMP/bin/pinentry"
PATH=$P11A_TMP/bin:$PATH p11a_start_agent --no-config --pin-source pinentry
grep -q '^GETPIN$' "$FAKE_PINENTRY_LOG" || p11a_fail "pinentry from PATH was not asked"
signs

p11a_log "pin-source = pinentry:PROGRAM in the configuration file"
printf '[agent]\npin-source = pinentry:%s\n' "$fake" >"$P11A_TMP/agent.conf"
p11a_start_agent --config "$P11A_TMP/agent.conf"
signs

# fails MODE REGEX [PIN-SOURCE]: the agent does not start; its log says so.
fails() {
	local mode=$1 re=$2 src=${3:-pinentry:$fake}
	cat "$P11A_AGENT_LOG" >>"$P11A_TMP/all.log"
	: >"$P11A_AGENT_LOG"
	if FAKE_PINENTRY_MODE=$mode p11a_try_start_agent --no-config \
		--pin-source "$src"; then
		p11a_fail "p11agentd started although pinentry answered '$mode'"
	fi
	[[ $P11A_AGENT_RC -eq 1 ]] || p11a_fail "p11agentd exited $P11A_AGENT_RC, not 1"
	grep -Eq "$re" "$P11A_AGENT_LOG" ||
		p11a_fail "no /$re/ in the log: $(cat "$P11A_AGENT_LOG")"
	[[ ! -e $P11AGENT_SOCK ]] || p11a_fail "a socket was left behind"
}
p11a_log "a cancelled dialog"
fails cancel 'PIN entry cancelled'
p11a_log "an empty PIN"
fails empty 'no PIN entered'
p11a_log "a pinentry that exits instead of answering"
fails die 'pinentry closed the dialogue'
p11a_log "a pinentry that cannot be run"
fails ok "cannot run $P11A_TMP/none" "pinentry:$P11A_TMP/none"

cat "$P11A_AGENT_LOG" >>"$P11A_TMP/all.log"
grep -qF -- "$pin" "$P11A_TMP/all.log" && p11a_fail "the PIN is in the agent's log"
grep -qF -- "$FAKE_PINENTRY_DATA" "$P11A_TMP/all.log" &&
	p11a_fail "the escaped PIN is in the agent's log"
echo ok
