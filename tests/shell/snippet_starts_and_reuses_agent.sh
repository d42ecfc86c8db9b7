#!/usr/bin/env bash
# snippet_starts_and_reuses_agent.sh SHELL: contrib/shell's snippet for
# SHELL (p11agent.fish for fish, p11agent.sh for the others), sourced the
# way a login shell sources it:
#   1. no agent yet: it starts one, exports P11AGENT_SOCK and the agent
#      signs (verified with OpenSSL);
#   2. a second shell reuses that agent through the default socket,
#      starting nothing (the remembered env file stays as it was);
#   3. without XDG_RUNTIME_DIR, it finds the agent through the env file;
#   4. a P11AGENT_SOCK that answers (as a forwarded one would) is kept;
#   5. after the agent died, it starts a new one.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/../integration/lib.sh"

sh=${1:?usage: $0 bash|zsh|dash|fish}
command -v "$sh" >/dev/null 2>&1 || p11a_skip "$sh not installed"
p11a_setup_dir
p11a_make_token shell 8642 k-p256:p256
export P11A_PIN=8642

# what a user has: the binaries on PATH, a home, a runtime directory
PATH=$(dirname "$P11AGENTD"):$(dirname "$P11AGENT"):$PATH
export PATH
export HOME=$P11A_TMP/home
mkdir -m 0700 "$HOME" "$P11A_TMP/runtime"
export XDG_RUNTIME_DIR=$P11A_TMP/runtime
export P11AGENTD_ARGS="--module $P11A_MODULE --pin-source env:P11A_PIN"
unset P11AGENT_SOCK P11AGENT_PID
envfile=$HOME/.p11agent-env
started=() # pids of agents the snippet started, killed at exit

cleanup_agents() { # also the one a failed step may not have noted
	local pid
	for pid in "${started[@]}" $(envfile_pid 2>/dev/null); do
		kill -TERM "$pid" 2>/dev/null || true
	done
}
# keep the test's status for p11a_cleanup, which reads \$? first
# shellcheck disable=SC2154 # rc is set by the trap itself
trap 'rc=$?; set +e; cleanup_agents; (exit "$rc"); p11a_cleanup' EXIT

# run_shell: source the snippet in $sh, then print P11AGENT_SOCK and the
# snippet's status, and the first identity id that agent lists.
run_shell() {
	case $sh in
	fish)
		fish --no-config -c "source '$P11A_SHELL_SRC/p11agent.fish'
			set rc \$status
			echo \"sock=\$P11AGENT_SOCK rc=\$rc\"
			p11agent list | head -n 1" ;;
	zsh)
		zsh -f -c ". '$P11A_SHELL_SRC/p11agent.sh'
			rc=\$?
			echo \"sock=\$P11AGENT_SOCK rc=\$rc\"
			p11agent list | head -n 1" ;;
	*)
		"$sh" -c ". '$P11A_SHELL_SRC/p11agent.sh'
			rc=\$?
			echo \"sock=\$P11AGENT_SOCK rc=\$rc\"
			p11agent list | head -n 1" ;;
	esac
}

# agent_pid_from_envfile: P11AGENT_PID as the snippet remembered it.
envfile_pid() {
	sed -n 's/^P11AGENT_PID=\([0-9]*\);.*/\1/p' "$envfile"
}

check_shell() { # check_shell WANT_SOCK: run the shell, check it found it
	local out sock id
	out=$(run_shell) || p11a_fail "$sh: sourcing the snippet failed: $out"
	sock=$(sed -n 's/^sock=\(.*\) rc=0$/\1/p' <<<"$out")
	[[ $sock == "$1" ]] || p11a_fail "$sh: expected sock=$1 rc=0, got: $out"
	id=$(sed -n '2p' <<<"$out" | cut -d' ' -f1)
	[[ $id =~ ^[0-9a-f]{32}$ ]] || p11a_fail "$sh: p11agent list through the snippet's agent: $out"
	P11A_LAST_ID=$id
}

default=$XDG_RUNTIME_DIR/p11agent/agent.sock

p11a_log "1. no agent: the snippet starts one"
check_shell "$default"
[[ -s $envfile && $(stat -c %a "$envfile") == 600 ]] ||
	p11a_fail "$sh: no private env file $envfile"
pid1=$(envfile_pid)
started+=("$pid1")
p11a_pid_alive "$pid1" || p11a_fail "$sh: agent $pid1 from the env file is not running"
P11AGENT_SOCK=$default
export P11AGENT_SOCK
msg=$P11A_TMP/msg
p11a_random_file "$msg"
p11a_expect_exit 0 "$P11AGENT" sign --identity "$P11A_LAST_ID" \
	--scheme ecdsa_secp256r1_sha256 --in "$msg" --out "$P11A_TMP/sig"
p11a_verify "$P11A_TMP/sig" "$msg" "$P11A_TMP/shell/k-p256.pub.pem" ecdsa_secp256r1_sha256
unset P11AGENT_SOCK

p11a_log "2. a second shell reuses it"
cp "$envfile" "$P11A_TMP/env.1"
check_shell "$default"
cmp -s "$envfile" "$P11A_TMP/env.1" || p11a_fail "$sh: a second shell started another agent"

p11a_log "3. without XDG_RUNTIME_DIR: found through the env file"
(
	unset XDG_RUNTIME_DIR
	check_shell "$default"
)
cmp -s "$envfile" "$P11A_TMP/env.1" || p11a_fail "$sh: the env file was not reused"

p11a_log "4. a P11AGENT_SOCK that answers is kept"
p11a_start_agent --pin-source env:P11A_PIN # on $P11A_TMP/agent/agent.sock
other=$P11AGENT_SOCK
check_shell "$other"
unset P11AGENT_SOCK

p11a_log "5. the agent died: a new one is started"
kill -TERM "$pid1"
for ((i = 0; i < 100; i++)); do
	p11a_pid_alive "$pid1" || break
	sleep 0.05
done
p11a_pid_alive "$pid1" && p11a_fail "agent $pid1 does not stop"
check_shell "$default"
pid2=$(envfile_pid)
started+=("$pid2")
[[ -n $pid2 && $pid2 != "$pid1" ]] || p11a_fail "$sh: no new agent after the old one died"
p11a_pid_alive "$pid2" || p11a_fail "$sh: the new agent $pid2 is not running"
echo "ok: $sh snippet starts, reuses and replaces the agent"
