# shellcheck shell=bash
#
# Helpers of the config tests on top of the integration harness
# (../integration/lib.sh: temporary directory, SoftHSM tokens, a
# foreground p11agentd, OpenSSL verification).  Source from a script
# running under `set -euo pipefail`.

CFG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../integration/lib.sh
. "$CFG_DIR/../integration/lib.sh"

# Helper processes a test started (launchers, listeners), killed at exit
# before p11a_cleanup stops the agent and removes the directory.
CFG_KILL_PIDS=()

cfg_status() {
	return "$1"
}

cfg_cleanup() {
	local rc=$? pid
	set +e
	for pid in "${CFG_KILL_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	# p11a_cleanup takes the test's status from $?
	cfg_status "$rc"
	p11a_cleanup
}

# p11a_setup_dir, and a private XDG_CONFIG_HOME so that no file of the
# user running the tests is read by accident.
cfg_setup() {
	p11a_setup_dir
	trap cfg_cleanup EXIT
	export XDG_CONFIG_HOME=$P11A_TMP/xdg
	mkdir -p "$XDG_CONFIG_HOME"
}

# cfg_wait_line FILE N: wait (up to 10 s) until FILE has N lines; print
# line N.
cfg_wait_line() {
	local i line
	for ((i = 0; i < 200; i++)); do
		line=$(sed -n "${2}p" "$1" 2>/dev/null)
		if [[ -n $line ]]; then
			echo "$line"
			return 0
		fi
		sleep 0.05
	done
	p11a_fail "$1 has no line $2"
}

# cfg_write FILE: stdin into FILE.
cfg_write() {
	cat >"$1"
}

# cfg_expect_error FILE LINE REGEX: --check-config and a real start both
# exit 1 and say "p11agentd: FILE:LINE: <reason matching REGEX>", print
# nothing on stdout, and no socket appears.
cfg_expect_error() {
	local file=$1 line=$2 re=$3 out rc sock=$P11A_TMP/err/agent.sock
	local want="^p11agentd: ${file//./\\.}:${line}: "
	rc=0
	out=$("$P11AGENTD" --config "$file" --check-config 2>&1 >"$P11A_TMP/stdout") ||
		rc=$?
	[[ $rc -eq 1 ]] || p11a_fail "--check-config on $file exited $rc, not 1: $out"
	[[ ! -s $P11A_TMP/stdout ]] ||
		p11a_fail "--check-config printed a configuration for a bad file"
	grep -Eq -- "$want($re)" <<<"$out" ||
		p11a_fail "expected '$file:$line: /$re/', got: $out"
	[[ $(wc -l <<<"$out") -eq 1 ]] ||
		p11a_fail "expected one error line for $file, got: $out"
	rm -rf "$P11A_TMP/err"
	rc=0
	out=$("$P11AGENTD" --config "$file" --foreground --socket "$sock" \
		</dev/null 2>&1) || rc=$?
	[[ $rc -eq 1 ]] || p11a_fail "p11agentd with $file exited $rc, not 1: $out"
	grep -Eq -- "$want($re)" <<<"$out" ||
		p11a_fail "a start with $file did not report '$line: /$re/': $out"
	[[ ! -e $sock ]] || p11a_fail "p11agentd made a socket despite a bad file"
}
