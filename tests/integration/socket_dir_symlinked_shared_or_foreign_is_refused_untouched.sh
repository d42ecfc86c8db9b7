#!/usr/bin/env bash
# The socket's directory: created 0700 when absent; an existing one is
# used only when it is a real directory (not a symlink), ours, and not
# writable by group or others, and its mode is never changed.  A user
# who owns the parent must not make root's agent chmod, or put its
# socket into, a directory the symlink points at.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

p11a_setup_dir
[[ $(id -u) -eq 0 ]] || p11a_skip "needs root to make another user's directory"
other=nobody
T=$P11A_TMP

# refused SOCKDIR REASON-REGEX: the agent exits 1 at once, without
# binding there (an agent that serves is stopped by timeout: 124)
refused() {
	p11a_expect_exit 1 timeout "$P11A_TIMEOUT" "$P11AGENTD" --foreground \
		--no-config --module "$P11A_MODULE" --socket "$1/agent.sock" \
		</dev/null
	p11a_expect_output_matches "socket directory $1: $2"
}

# our directory 0755, reached through a symlink in a directory of $other
mkdir -m 0755 "$T/victim" "$T/userdir"
ln -s "$T/victim" "$T/userdir/sock"
chown -h "$other" "$T/userdir" "$T/userdir/sock"
refused "$T/userdir/sock" "is a symbolic link"
[[ $(stat -c %a "$T/victim") == 755 ]] ||
	p11a_fail "the symlink's target was chmodded to $(stat -c %a "$T/victim")"
[[ -z $(ls -A "$T/victim") ]] || p11a_fail "a socket was made in the target"

# a symlink to a directory of $other
mkdir -m 0755 "$T/theirs"
chown "$other" "$T/theirs"
ln -s "$T/theirs" "$T/to-theirs"
refused "$T/to-theirs" "is a symbolic link"
[[ $(stat -c %a "$T/theirs") == 755 && -z $(ls -A "$T/theirs") ]] ||
	p11a_fail "the other user's directory was changed"

# a directory of $other itself
refused "$T/theirs" "is owned by uid $(id -u "$other"), not by us"
[[ $(stat -c %a "$T/theirs") == 755 && -z $(ls -A "$T/theirs") ]] ||
	p11a_fail "the other user's directory was changed"

# ours, but others or the group may write to it (sticky or not)
for mode in 0777 1777 0770; do
	mkdir -m "$mode" "$T/shared$mode"
	refused "$T/shared$mode" "is writable by (group|others)"
	[[ $(stat -c %a "$T/shared$mode") == "${mode#0}" ]] ||
		p11a_fail "mode $mode of a shared directory was changed"
done

# a plain file
: >"$T/file"
refused "$T/file" "is not a directory"

# ours and 0755: used as it is, not chmodded
mkdir -m 0755 "$T/agent"
p11a_make_token tok 1234 e:p256
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN
[[ $(stat -c %a "$T/agent") == 755 ]] ||
	p11a_fail "our 0755 socket directory was chmodded to $(stat -c %a "$T/agent")"
[[ $(stat -c %a "$P11AGENT_SOCK") == 600 ]] || p11a_fail "socket mode is not 0600"
p11a_list
p11a_sign_verify "${P11A_ID_ID[0]}" ecdsa_secp256r1_sha256 "$T/tok" e
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
[[ -d $T/agent ]] || p11a_fail "the directory the agent did not make was removed"

# absent: made 0700 and removed at exit
"$P11AGENTD" --foreground --no-config --module "$P11A_MODULE" \
	--pin-source env:P11A_PIN --socket "$T/fresh/agent.sock" \
	</dev/null >/dev/null 2>>"$P11A_AGENT_LOG" &
P11A_AGENT_PID=$!
export P11AGENT_SOCK=$T/fresh/agent.sock
p11a_wait_agent "$P11A_AGENT_PID" || p11a_fail "agent on a fresh directory did not start"
[[ $(stat -c %a "$T/fresh") == 700 ]] ||
	p11a_fail "a fresh socket directory has mode $(stat -c %a "$T/fresh")"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
[[ ! -e $T/fresh ]] || p11a_fail "the directory the agent made was left behind"
echo ok
