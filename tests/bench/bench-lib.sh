# shellcheck shell=bash
#
# What run-bench.sh, peers.sh and smoke.sh share: find the binaries,
# make a private SoftHSM token with the three benchmark keys, start
# p11agentd on it, and (peers.sh) p11-kit server and ssh-agent on the
# same token.  Built on the integration tests' lib.sh; every process
# started here is stopped by pid when the script exits.
#
# Keys (labels are what p11agent-bench looks for by default):
#   rsa2048 (RSA-2048), p256 (ECDSA P-256), ed25519 (Ed25519)

P11A_BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
P11A_SRC_DIR=$(cd "$P11A_BENCH_DIR/../.." && pwd)
# shellcheck source=../integration/lib.sh
. "$P11A_SRC_DIR/tests/integration/lib.sh"

P11A_BENCH_TOKEN=bench
P11A_BENCH_PIN=${P11A_BENCH_PIN:-1234}
P11A_BENCH_KEYS=(rsa2048:rsa2048 p256:p256 ed25519:ed25519)
P11A_PEER_PIDS=()

# bench_find_binaries BUILD_DIR: P11AGENTD, P11AGENT, P11A_MKTOKEN and
# P11A_BENCH from the environment, else from BUILD_DIR.
bench_find_binaries() {
	local b=$1
	P11AGENTD=${P11AGENTD:-$b/agent/p11agentd}
	P11AGENT=${P11AGENT:-$b/client/p11agent}
	P11A_MKTOKEN=${P11A_MKTOKEN:-$b/tools/p11a-mktoken}
	P11A_BENCH=${P11A_BENCH:-$b/tests/bench/p11agent-bench}
	[[ -x $P11A_BENCH ]] ||
		p11a_fail "no p11agent-bench at $P11A_BENCH (build first, or give --build DIR)"
	export P11AGENTD P11AGENT P11A_MKTOKEN P11A_BENCH
}

# Stop what bench_start_* started, then lib.sh's clean-up (agent, dir).
bench_cleanup() {
	local rc=$? pid i
	set +e
	for pid in "${P11A_PEER_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 40; i++)); do
			p11a_pid_alive "$pid" || break
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	(exit "$rc")
	p11a_cleanup
}

# The temporary directory and the token with its keys.
bench_setup_token() {
	p11a_setup_dir
	trap bench_cleanup EXIT
	p11a_log "token '$P11A_BENCH_TOKEN' with ${P11A_BENCH_KEYS[*]}"
	p11a_make_token "$P11A_BENCH_TOKEN" "$P11A_BENCH_PIN" "${P11A_BENCH_KEYS[@]}"
	export P11A_PIN=$P11A_BENCH_PIN
}

# The agent with WORKERS workers per token, and the bench's arguments
# for it in P11A_BENCH_ARGS.
bench_start_agent() {
	local workers=$1
	local -a extra
	# more p11agentd options, e.g. P11A_BENCH_AGENT_ARGS="--workers 4"
	read -r -a extra <<<"${P11A_BENCH_AGENT_ARGS:-}"
	p11a_log "p11agentd --workers $workers ${extra[*]}"
	p11a_start_agent --pin-source env:P11A_PIN --workers "$workers" \
		"${extra[@]}"
	# shellcheck disable=SC2034 # used by the scripts that source this
	P11A_BENCH_ARGS=(--token "$P11A_BENCH_TOKEN" --pin-env P11A_PIN
		--socket "$P11AGENT_SOCK" --agent-pid "$P11A_AGENT_PID"
		--pubkey-dir "$P11A_TMP/$P11A_BENCH_TOKEN" --workers "$workers")
}

# Both: the token, then the agent with WORKERS workers.
bench_setup() {
	bench_setup_token
	bench_start_agent "$1"
}

# bench_parse_args HELP_LINES "$@": the options run-bench.sh and peers.sh
# share.  --build DIR sets BENCH_BUILD, --workers N BENCH_WORKERS, --help
# prints lines 2..HELP_LINES of the script; what follows "--" (or the
# first other argument) is kept in BENCH_OPTIONS for p11agent-bench.
# shellcheck disable=SC2034 # the variables are for the scripts that source this
bench_parse_args() {
	local help=$1
	shift
	BENCH_BUILD=${P11A_BUILD_DIR:-build}
	BENCH_WORKERS=$(nproc)
	while [[ $# -gt 0 ]]; do
		case $1 in
		--build) BENCH_BUILD=$2; shift 2 ;;
		--workers) BENCH_WORKERS=$2; shift 2 ;;
		--) shift; break ;;
		-h | --help) sed -n "2,${help}p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
		*) break ;;
		esac
	done
	BENCH_OPTIONS=("$@")
}

# bench_run_and_stop ARGS...: p11agent-bench against the agent that
# bench_setup started, with ARGS; then stop the agent.  Exits with the
# benchmark's status when it fails.
bench_run_and_stop() {
	local rc=0
	p11a_log "p11agent-bench ${P11A_BENCH_ARGS[*]} $*"
	"$P11A_BENCH" "${P11A_BENCH_ARGS[@]}" "$@" || rc=$?
	[[ $rc -eq 0 ]] || exit "$rc"
	p11a_stop_agent || rc=$?
	[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM"
}

# Wait until a Unix socket exists (the server is listening).
bench_wait_socket() {
	local path=$1 pid=$2 what=$3 i
	for ((i = 0; i < P11A_TIMEOUT * 20; i++)); do
		[[ -S $path ]] && return 0
		p11a_pid_alive "$pid" || p11a_fail "$what exited during start-up"
		sleep 0.05
	done
	p11a_fail "$what did not create $path within ${P11A_TIMEOUT}s"
}

# p11-kit server exporting the token; sets P11_KIT_SERVER_ADDRESS for
# p11-kit-client.so.  It needs XDG_RUNTIME_DIR, a 0700 directory.
bench_start_p11kit() {
	command -v p11-kit >/dev/null 2>&1 || p11a_skip "p11-kit not installed"
	local run=$P11A_TMP/run sock
	mkdir -m 0700 "$run"
	sock=$run/p11kit.sock
	XDG_RUNTIME_DIR=$run p11-kit server --foreground \
		--provider "$P11A_MODULE" --name "$sock" \
		"pkcs11:token=$P11A_BENCH_TOKEN" \
		>"$P11A_TMP/p11kit.out" 2>&1 &
	P11A_PEER_PIDS+=($!)
	bench_wait_socket "$sock" "$!" "p11-kit server"
	export P11_KIT_SERVER_ADDRESS=unix:path=$sock
}

# ssh-agent holding the token's keys (ssh-add -s, the PIN given through
# SSH_ASKPASS); sets SSH_AUTH_SOCK.
bench_start_ssh_agent() {
	command -v ssh-agent >/dev/null 2>&1 || p11a_skip "ssh-agent not installed"
	local sock=$P11A_TMP/ssh-agent.sock askpass=$P11A_TMP/askpass
	# ssh-agent checks the resolved path against its allow-list
	ssh-agent -D -a "$sock" -P "$(realpath "$P11A_MODULE")" >"$P11A_TMP/ssh-agent.out" 2>&1 &
	P11A_PEER_PIDS+=($!)
	bench_wait_socket "$sock" "$!" "ssh-agent"
	export SSH_AUTH_SOCK=$sock
	# the PIN comes from the environment, never from the script's text
	# shellcheck disable=SC2016 # $P11A_PIN is for the askpass script
	printf '#!/bin/sh\nprintf "%%s\\n" "$P11A_PIN"\n' >"$askpass"
	chmod 0700 "$askpass"
	SSH_ASKPASS=$askpass SSH_ASKPASS_REQUIRE=force DISPLAY=none \
		ssh-add -s "$P11A_MODULE" </dev/null >"$P11A_TMP/ssh-add.out" 2>&1 ||
		{
			cat "$P11A_TMP/ssh-add.out" >&2
			p11a_fail "ssh-add -s $P11A_MODULE failed"
		}
	p11a_log "ssh-agent holds: $(ssh-add -l | wc -l) keys"
}

# bench_ctxsw_snapshot PID: one line per thread of PID and of its child
# processes (the agent's helpers), "PID/TID COMM VOLUNTARY INVOLUNTARY",
# its context switches so far (/proc/PID/task/TID/status).
bench_ctxsw_snapshot() {
	local pid tid
	for pid in "$1" $(pgrep -P "$1" || true); do
		for tid in /proc/"$pid"/task/*; do
			[[ -r $tid/status ]] || continue
			printf '%s/%s %s %s %s\n' "$pid" "${tid##*/}" \
				"$(tr ' ' _ <"$tid/comm")" \
				"$(sed -n 's/^voluntary_ctxt_switches:[[:space:]]*//p' "$tid/status")" \
				"$(sed -n 's/^nonvoluntary_ctxt_switches:[[:space:]]*//p' "$tid/status")"
		done
	done
}
