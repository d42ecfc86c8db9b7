#!/usr/bin/env bash
# After the agent has logged in, its PIN is only in the locked PIN pages:
# - --pin-source env:VAR (also as a URI's pin-source, where several
#   tokens may name the same VAR) takes VAR out of the agent's environment
#   and wipes its bytes, so /proc/PID/environ no longer shows the PIN;
# - the rest of its memory (heap, stacks, every other mapping readable
#   through /proc/PID/mem, which needs root) holds no copy of the PIN:
#   not after a PIN from the environment or from a file, nor after an
#   UNLOCK sent over the socket.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

p11a_setup_dir
# a PIN no other bytes of the process happen to contain; the memory is
# searched for its end, which survives the allocator's bookkeeping that
# overwrites the start of a freed block
pin=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
tail=${pin:16}
p11a_make_token A "$pin" a-ec:p256
p11a_make_token B "$pin" b-ec:p256
printf '%s\n' "$pin" >"$P11A_TMP/pin"
chmod 600 "$P11A_TMP/pin"
export TEST_TOKEN_PIN=$pin
finder=$(dirname "${BASH_SOURCE[0]}")/find_in_memory.py

check_environ() {
	local env
	env=$(tr '\0' '\n' <"/proc/$P11A_AGENT_PID/environ")
	! grep -qF -- "$pin" <<<"$env" ||
		p11a_fail "$1: /proc/PID/environ of the agent shows the PIN"
	! grep -q '^TEST_TOKEN_PIN=.' <<<"$env" ||
		p11a_fail "$1: TEST_TOKEN_PIN is still in the agent's environment"
}

# check_memory WHAT [started-with-env]
check_memory() {
	local out rc=0
	if [[ $(id -u) -ne 0 ]]; then
		p11a_log "$1: not root, the agent's memory is not searched"
		return 0
	fi
	if [[ ${P11A_SANITIZED:-0} == 1 && ${2:-} == started-with-env ]]; then
		# ASan reads /proc/self/environ into a buffer of its own at start
		p11a_log "$1: sanitizer build, its copy of the environment holds the PIN: not searched"
		return 0
	fi
	out=$(python3 "$finder" "$P11A_AGENT_PID" "$tail") || rc=$?
	case $rc in
	0) ;;
	77) p11a_fail "$1: cannot read the agent's memory as root: $out" ;;
	*) p11a_fail "$1: the PIN is in the agent's memory outside its PIN pages:
$out" ;;
	esac
}

signs() {
	p11a_list
	p11a_sign_verify "$(p11a_identity_id a-ec)" ecdsa_secp256r1_sha256 \
		"$P11A_TMP/A" a-ec
}

stop() {
	local rc=0
	p11a_stop_agent || rc=$?
	[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
}

p11a_log "PIN from the environment"
p11a_start_agent --pin-source env:TEST_TOKEN_PIN
signs
check_environ "env:"
check_memory "env:" started-with-env
p11a_log "PIN sent by p11agent unlock"
p11a_expect_exit 0 "$P11AGENT" lock
p11a_expect_exit 0 "$P11AGENT" unlock --pin-source env:TEST_TOKEN_PIN
signs
check_memory "unlock" started-with-env
stop

p11a_log "PIN from a URI's pin-source=env:, the same variable for two tokens"
p11a_start_agent --identity 'pkcs11:token=A?pin-source=env:TEST_TOKEN_PIN' \
	--identity 'pkcs11:token=B?pin-source=env:TEST_TOKEN_PIN'
signs
p11a_sign_verify "$(p11a_identity_id b-ec)" ecdsa_secp256r1_sha256 \
	"$P11A_TMP/B" b-ec
check_environ "URI pin-source"
stop

p11a_log "PIN from a file"
unset TEST_TOKEN_PIN # nothing else may hold it
p11a_start_agent --pin-source "file:$P11A_TMP/pin"
signs
check_memory "file:"
stop
echo ok
