# shellcheck shell=bash
#
# Harness of the token fault tests, on top of tests/integration/lib.sh:
# the agent loads the faulty-pkcs11 shim (which forwards to SoftHSM), and
# the test writes the shim's control file to inject faults.
#
#   fault_setup               private dir, shim control file and call log
#   fault_start_agent ARGS    p11agentd on the shim (allow-listed)
#   fault_set LINE...         replace the control file with these lines
#   fault_expect RESULT ARGS  run p11a-try ARGS, fail unless its result
#                             (OK or an error name) is RESULT
#   fault_sign_verify ID SCHEME DIR NAME   sign with p11a-try, verify
#   fault_start_one_ec ARGS   token A with P-256 key a-ec, the agent with
#                             ARGS; its identity in $FAULT_ID
#   fault_start_two_modules ARGS   token A (a-ec) behind the shim, token B
#                             (b-ec) on plain SoftHSM: two helpers; their
#                             identities in $FAULT_A and $FAULT_B
#   fault_shim_helper_pid     pid of the helper that runs the shim
#   fault_pipelined_signs ID N   N SIGNs in one write, replies as printed
#   fault_wait_flags token|identity LABEL FLAGS [SECONDS]
#   fault_count REGEX         lines of the shim's call log matching REGEX
#   fault_keys_alike D1 D2 K  keys K in D1 and D2: same CKA_ID, two pairs
#   fault_list_count N        p11a_list, failing unless N identities
#   fault_slow_card_agent MS ARGS   (re)start the agent with ARGS on the
#                             shim, every C_Sign delayed by MS ms
#   fault_expect_overlap MS N FN    N threads' signatures ran at once
#   now_ms                    monotonic-enough wall clock in ms

. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

FAULT_SEQ=0

fault_setup() {
	[[ -n ${FAULTY_PKCS11:-} && -r $FAULTY_PKCS11 ]] ||
		p11a_fail "FAULTY_PKCS11 must name the shim module"
	[[ -n ${P11A_TRY:-} && -x $P11A_TRY ]] ||
		p11a_fail "P11A_TRY must name the p11a-try tool"
	p11a_setup_dir
	export FAULTY_PKCS11_MODULE=$P11A_MODULE
	export FAULTY_PKCS11_CONTROL=$P11A_TMP/faults
	export FAULTY_PKCS11_LOG=$P11A_TMP/faulty.log
	: >"$FAULTY_PKCS11_CONTROL"
}

# The agent loads the shim; its directory must be allow-listed because
# the default allow-list is the system's module directories.
fault_start_agent() {
	local shim
	shim=$(realpath "$FAULTY_PKCS11")
	P11A_MODULE=$shim p11a_start_agent \
		--allow-module "$(dirname "$shim")/*" "$@"
}

# Token A (PIN 1111) with the P-256 key a-ec, p11agentd on it with ARGS;
# the key's identity in FAULT_ID, checked with one verified signature.
fault_start_one_ec() {
	p11a_make_token A 1111 a-ec:p256
	export P11A_PIN=1111
	fault_start_agent --pin-source env:P11A_PIN "$@"
	p11a_list
	FAULT_ID=$(p11a_identity_id a-ec)
	fault_sign_verify "$FAULT_ID" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
}

# fault_start_two_modules ARGS...: token B (PIN 1111, P-256 key b-ec) on
# plain SoftHSM and token A (a-ec) in a token directory only the shim's
# SoftHSM sees, so each has a helper process of its own; the agent with
# ARGS; one verified signature each; identities in FAULT_A and FAULT_B.
fault_start_two_modules() {
	p11a_make_token B 1111 b-ec:p256
	mkdir -m 0700 "$P11A_TMP/tokens-a"
	sed "s|$P11A_TMP/tokens|$P11A_TMP/tokens-a|" "$SOFTHSM2_CONF" \
		>"$P11A_TMP/softhsm2-a.conf"
	SOFTHSM2_CONF=$P11A_TMP/softhsm2-a.conf p11a_make_token A 1111 a-ec:p256
	export FAULTY_PKCS11_SOFTHSM2_CONF=$P11A_TMP/softhsm2-a.conf
	export P11A_PIN=1111
	fault_start_agent --pin-source env:P11A_PIN "$@" --module "$P11A_MODULE" \
		--allow-module "$(dirname "$(realpath "$P11A_MODULE")")/*"
	fault_list_count 2
	FAULT_A=$(p11a_identity_id a-ec)
	FAULT_B=$(p11a_identity_id b-ec)
	fault_sign_verify "$FAULT_A" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
	fault_sign_verify "$FAULT_B" ecdsa_secp256r1_sha256 "$P11A_TMP/B" b-ec
}

fault_shim_helper_pid() {
	pgrep -P "$P11A_AGENT_PID" -f "p11agent-helper .*libfaulty-pkcs11" || true
}

# fault_pipelined_signs ID N: N P-256 SIGN requests for identity ID on
# one connection, sent in one write (pipelined_signs.py), of the 130-byte
# message $P11A_TMP/msg.  Prints a line per reply: request id, OK or the
# error code, ms since sending; signatures go to $P11A_TMP/sigs/sig.ID.
fault_pipelined_signs() {
	p11a_random_file "$P11A_TMP/msg" 130
	rm -rf "$P11A_TMP/sigs"
	mkdir "$P11A_TMP/sigs"
	python3 "$(dirname "${BASH_SOURCE[0]}")/pipelined_signs.py" \
		"$P11AGENT_SOCK" "$1" ecdsa_secp256r1_sha256 "$P11A_TMP/msg" \
		"$P11A_TMP/sigs" "$2"
}

# Atomically replace the control file (a rename, so the shim never reads
# half of it); a sequence line re-arms one-shot faults every time.
fault_set() {
	local tmp=$FAULTY_PKCS11_CONTROL.tmp
	FAULT_SEQ=$((FAULT_SEQ + 1))
	{
		printf '%s\n' "$@"
		printf 'seq %d\n' "$FAULT_SEQ"
	} >"$tmp"
	mv -f "$tmp" "$FAULTY_PKCS11_CONTROL"
}

now_ms() {
	date +%s%3N
}

# fault_expect RESULT p11a-try-args...: the first word p11a-try prints
# must be RESULT; the whole line stays in $P11A_OUTPUT.
fault_expect() {
	local want=$1
	shift
	P11A_OUTPUT=$("$P11A_TRY" "$@" 2>&1) || true
	[[ ${P11A_OUTPUT%%[ $'\n']*} == "$want" ]] ||
		p11a_fail "p11a-try $* gave '$P11A_OUTPUT', expected $want"
}

# fault_sign_verify IDENTITY SCHEME DIR NAME: sign a random message
# through libp11agent and verify it with DIR/NAME.pub.pem (OpenSSL).
fault_sign_verify() {
	local msg=$P11A_TMP/fsv.msg sig=$P11A_TMP/fsv.sig
	# 200 bytes: fits the small --max-frame some tests run the agent with
	p11a_random_file "$msg" 200
	rm -f "$sig"
	fault_expect OK sign "$1" "$2" "$msg" "$sig"
	p11a_verify "$sig" "$msg" "$3/$4.pub.pem" "$2"
}

# fault_wait_flags token|identity LABEL FLAGS [SECONDS]: poll STATUS or
# LIST until the flags of LABEL are exactly FLAGS (e.g. present,logged-in
# or -); fail after SECONDS (default 10).
fault_wait_flags() {
	local kind=$1 label=$2 want=$3 secs=${4:-10} i out=
	for ((i = 0; i < secs * 20; i++)); do
		out=$("$P11A_TRY" "$kind-flags" "$label" 2>&1) || true
		[[ $out == "OK $want" ]] && return 0
		sleep 0.05
	done
	p11a_fail "$kind $label: flags '$out' after ${secs}s, expected 'OK $want'"
}

# Lines of the shim's call log matching an extended regex.
fault_count() {
	local n
	n=$(grep -Ec -- "$1" "$FAULTY_PKCS11_LOG" 2>/dev/null) || true
	echo "${n:-0}"
}

# fault_keys_alike DIR1 DIR2 NAME: fail unless the keys NAME that
# p11a_make_token wrote to DIR1 and DIR2 share a CKA_ID and are two key
# pairs (the set-up of the tests of tokens that look alike).
fault_keys_alike() {
	[[ $(cat "$1/$3.id") == $(cat "$2/$3.id") ]] ||
		p11a_fail "the two keys $3 do not share a CKA_ID: test set-up is wrong"
	! cmp -s "$1/$3.pub.pem" "$2/$3.pub.pem" ||
		p11a_fail "the two keys $3 are one key pair: test set-up is wrong"
}

# fault_list_count N: p11a_list, failing unless it shows N identities.
fault_list_count() {
	p11a_list
	[[ ${#P11A_ID_ID[@]} -eq $1 ]] ||
		p11a_fail "list shows ${#P11A_ID_ID[@]} identities, expected $1: ${P11A_ID_URI[*]}"
}

# fault_slow_card_agent MS ARGS...: stop the agent if one runs, and start
# one with ARGS on the shim, every C_Sign delayed by MS ms (a slow card).
# Needs only p11a_setup_dir, so tests of other directories use it too.
fault_slow_card_agent() {
	local ms=$1 rc=0
	shift
	if [[ -n $P11A_AGENT_PID ]]; then
		p11a_stop_agent || rc=$?
		[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM"
	fi
	[[ -n ${FAULTY_PKCS11:-} && -r $FAULTY_PKCS11 ]] ||
		p11a_fail "FAULTY_PKCS11 must name the shim module"
	export FAULTY_PKCS11_MODULE=$P11A_MODULE
	export FAULTY_PKCS11_CONTROL=$P11A_TMP/faults
	printf 'delay_ms %d\n' "$ms" >"$FAULTY_PKCS11_CONTROL"
	fault_start_agent "$@"
}

# fault_expect_overlap MS N FN: on a card that takes MS ms per signature,
# "FN THREADS COUNT" (COUNT signatures in each of THREADS threads, the
# time in ELAPSED_MS) must take at least MS for one, and for one in each
# of N threads clearly less than 4 times as long: a concurrency check
# (one at a time would take N times as long), not a speed test.
fault_expect_overlap() {
	local ms=$1 n=$2 fn=$3 one
	"$fn" 1 1
	one=$ELAPSED_MS
	((one >= ms)) || p11a_fail "one signature took $one ms, under the card's $ms ms"
	"$fn" "$n" 1
	((ELAPSED_MS < 4 * one)) ||
		p11a_fail "$n threads took $ELAPSED_MS ms for one signature each, one thread $one ms: their signatures did not overlap"
	echo "ok: one signature $one ms, $n at once $ELAPSED_MS ms"
}
