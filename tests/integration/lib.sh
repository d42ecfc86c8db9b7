# shellcheck shell=bash
#
# Shared harness of the integration tests: a private SoftHSM token
# directory, tokens filled by p11a-mktoken, a p11agentd in the
# background, and helpers that check exit codes and verify signatures
# with OpenSSL.  Source it from a bash script that runs under
# `set -euo pipefail`.
#
# Environment (set by CTest, see CMakeLists.txt):
#   P11AGENTD, P11AGENT, P11A_MKTOKEN   the binaries under test
#   P11A_MODULE                         PKCS#11 module (default SoftHSM)
#   P11A_KEEP=1                         keep the temporary directory
#   P11A_AGENT_WRAPPER                  command line p11agentd runs
#                                       under, e.g. valgrind (CI)
#
# Exit status 77 means "skipped" (SoftHSM is not installed).

P11A_MODULE=${P11A_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
P11A_SO_PIN=${P11A_SO_PIN:-87654321}
P11A_TIMEOUT=${P11A_TIMEOUT:-10} # seconds to wait for an agent
P11A_TMP=
P11A_AGENT_PID=
P11A_AGENT_LOG=
P11A_AGENT_RC=
P11A_OUTPUT= # output of the last p11a_expect_exit / p11a_check_sig

p11a_log() {
	printf '### %s\n' "$*" >&2
}

p11a_fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

p11a_skip() {
	printf 'SKIP: %s\n' "$*" >&2
	exit 77
}

# Skip when SoftHSM or OpenSSL is missing; fail when the binaries under
# test are not given.
p11a_require() {
	command -v softhsm2-util >/dev/null 2>&1 ||
		p11a_skip "softhsm2-util not installed"
	[[ -r $P11A_MODULE ]] || p11a_skip "no PKCS#11 module at $P11A_MODULE"
	command -v openssl >/dev/null 2>&1 || p11a_skip "openssl not installed"
	local v
	for v in P11AGENTD P11AGENT P11A_MKTOKEN; do
		[[ -n ${!v:-} && -x ${!v} ]] ||
			p11a_fail "$v must name an executable (got '${!v:-}')"
	done
}

# True while pid is a live (not zombie) process.
p11a_pid_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}

p11a_cleanup() {
	local rc=$?
	set +e
	if [[ -n $P11A_AGENT_PID ]] && p11a_pid_alive "$P11A_AGENT_PID"; then
		kill -TERM "$P11A_AGENT_PID" 2>/dev/null
		local i
		for ((i = 0; i < 100; i++)); do
			p11a_pid_alive "$P11A_AGENT_PID" || break
			sleep 0.05
		done
		kill -KILL "$P11A_AGENT_PID" 2>/dev/null
		wait "$P11A_AGENT_PID" 2>/dev/null
	fi
	if [[ $rc -ne 0 && $rc -ne 77 && -s ${P11A_AGENT_LOG:-} ]]; then
		printf -- '--- agent log (%s) ---\n' "$P11A_AGENT_LOG" >&2
		tail -n 50 "$P11A_AGENT_LOG" >&2
	fi
	if [[ -n $P11A_TMP ]]; then
		if [[ ${P11A_KEEP:-0} == 1 ]]; then
			printf 'kept %s\n' "$P11A_TMP" >&2
		else
			rm -rf "$P11A_TMP"
		fi
	fi
	exit "$rc"
}

# A private 0700 directory with its own SoftHSM configuration.
p11a_setup_dir() {
	p11a_require
	P11A_TMP=$(mktemp -d "${TMPDIR:-/tmp}/p11a-test.XXXXXX")
	trap p11a_cleanup EXIT
	chmod 0700 "$P11A_TMP"
	mkdir -m 0700 "$P11A_TMP/tokens"
	cat >"$P11A_TMP/softhsm2.conf" <<-EOF
		directories.tokendir = $P11A_TMP/tokens
		objectstore.backend = file
		log.level = ERROR
	EOF
	export SOFTHSM2_CONF=$P11A_TMP/softhsm2.conf
	P11A_AGENT_LOG=$P11A_TMP/agent.log
	unset P11AGENT_SOCK
	export P11A_TMP
}

# p11a_make_token LABEL PIN KEYSPEC...: a new token with these keys;
# public keys, certificates and the CA land in $P11A_TMP/LABEL.
p11a_make_token() {
	local label=$1 pin=$2
	shift 2
	softhsm2-util --init-token --free --label "$label" --pin "$pin" \
		--so-pin "$P11A_SO_PIN" >"$P11A_TMP/softhsm2-util.out" 2>&1 ||
		{
			cat "$P11A_TMP/softhsm2-util.out" >&2
			p11a_fail "softhsm2-util could not initialise token $label"
		}
	"$P11A_MKTOKEN" --module "$P11A_MODULE" --token "$label" --pin "$pin" \
		--out "$P11A_TMP/$label" "$@" >/dev/null ||
		p11a_fail "p11a-mktoken failed for token $label"
}

# Poll (every 50 ms, up to P11A_TIMEOUT s) until `p11agent status`
# answers on $P11AGENT_SOCK.  Returns 0 when it does; 1 when the agent
# exited first (its status in P11A_AGENT_RC); fails on timeout.
p11a_wait_agent() {
	local pid=$1 i
	for ((i = 0; i < P11A_TIMEOUT * 20; i++)); do
		if ! p11a_pid_alive "$pid"; then
			P11A_AGENT_RC=0
			wait "$pid" || P11A_AGENT_RC=$?
			P11A_AGENT_PID=
			return 1
		fi
		if "$P11AGENT" status >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	cat "$P11A_AGENT_LOG" >&2
	p11a_fail "p11agentd did not answer within ${P11A_TIMEOUT}s"
}

# p11a_try_start_agent [p11agentd args...]: start p11agentd in the
# foreground (as a background job) on $P11A_TMP/agent/agent.sock, with
# SoftHSM as its module, stderr to $P11A_AGENT_LOG, and wait until it
# answers (0) or exits (1, status in P11A_AGENT_RC).
p11a_try_start_agent() {
	local wrapper=()
	# P11A_AGENT_WRAPPER: a command line to run the agent under (valgrind)
	read -ra wrapper <<<"${P11A_AGENT_WRAPPER:-}"
	[[ -d $P11A_TMP/agent ]] || mkdir -m 0700 "$P11A_TMP/agent"
	export P11AGENT_SOCK=$P11A_TMP/agent/agent.sock
	# --no-config unless the test gives --config: a config file of the
	# developer or the system must not change what the tests see
	local config=(--no-config) a
	for a in "$@"; do
		[[ $a == --config || $a == --config=* ]] && config=()
	done
	"${wrapper[@]}" "$P11AGENTD" --foreground "${config[@]}" \
		--socket "$P11AGENT_SOCK" \
		--module "$P11A_MODULE" "$@" \
		</dev/null >>"$P11A_TMP/agent.stdout" 2>>"$P11A_AGENT_LOG" &
	P11A_AGENT_PID=$!
	p11a_wait_agent "$P11A_AGENT_PID"
}

# p11a_start_agent [p11agentd args...]: the same, failing the test
# unless the agent comes up.
p11a_start_agent() {
	p11a_try_start_agent "$@" || {
		cat "$P11A_AGENT_LOG" >&2
		p11a_fail "p11agentd exited with status $P11A_AGENT_RC during start-up"
	}
}

# Send SIGTERM and wait (up to P11A_TIMEOUT s); returns the exit status.
# Call it as `rc=0; p11a_stop_agent || rc=$?` under set -e.
p11a_stop_agent() {
	local pid=$P11A_AGENT_PID i rc=0
	[[ -n $pid ]] || p11a_fail "p11a_stop_agent: no agent running"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < P11A_TIMEOUT * 20; i++)); do
		p11a_pid_alive "$pid" || break
		sleep 0.05
	done
	if p11a_pid_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		P11A_AGENT_PID=
		p11a_fail "p11agentd did not exit within ${P11A_TIMEOUT}s of SIGTERM"
	fi
	wait "$pid" || rc=$?
	P11A_AGENT_PID=
	return "$rc"
}

# Kill the agent with SIGKILL (no clean-up by the agent at all).
p11a_kill9_agent() {
	local pid=$P11A_AGENT_PID
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	P11A_AGENT_PID=
}

# Fail unless the agent started by p11a_start_agent is still running.
p11a_agent_alive() {
	if [[ -z $P11A_AGENT_PID ]] || ! p11a_pid_alive "$P11A_AGENT_PID"; then
		p11a_fail "p11agentd is no longer running"
	fi
}

# p11a_expect_exit CODE cmd...: run cmd, keep its stdout+stderr in
# $P11A_OUTPUT, fail unless it exits with exactly CODE.
p11a_expect_exit() {
	local want=$1 rc=0
	shift
	P11A_OUTPUT=$("$@" 2>&1) || rc=$?
	if [[ $rc -ne $want ]]; then
		printf '%s\n' "$P11A_OUTPUT" >&2
		p11a_fail "'$*' exited $rc, expected $want"
	fi
}

# p11a_expect_output_matches REGEX: fail unless $P11A_OUTPUT matches
# (extended regular expression, case-insensitive).
p11a_expect_output_matches() {
	grep -Eqi -- "$1" <<<"$P11A_OUTPUT" ||
		p11a_fail "output does not match /$1/: $P11A_OUTPUT"
}

# OpenSSL digest name of a TLS scheme's hash; empty for ed25519.
p11a_scheme_md() {
	case $1 in
	rsa_pkcs1_md5_sha1) echo md5-sha1 ;;
	*_sha1) echo sha1 ;;
	*_sha256) echo sha256 ;;
	*_sha384) echo sha384 ;;
	*_sha512) echo sha512 ;;
	ed25519) echo "" ;;
	*) p11a_fail "p11a_scheme_md: unknown scheme $1" ;;
	esac
}

# p11a_check_sig SIG DATA KEY SCHEME: 0 if SIG is a valid signature of
# DATA under SCHEME, made by the key in KEY (a public key or a
# certificate, PEM).  The OpenSSL output goes to $P11A_OUTPUT.
p11a_check_sig() {
	local sig=$1 data=$2 key=$3 scheme=$4 pub md rc=0
	pub=$key
	if grep -q -- '-----BEGIN CERTIFICATE-----' "$key"; then
		pub=$(mktemp "$P11A_TMP/certkey.XXXXXX")
		openssl x509 -in "$key" -pubkey -noout >"$pub" ||
			p11a_fail "cannot read the public key of $key"
	fi
	md=$(p11a_scheme_md "$scheme")
	case $scheme in
	rsa_pkcs1_* | ecdsa_*)
		P11A_OUTPUT=$(openssl dgst "-$md" -verify "$pub" \
			-signature "$sig" "$data" 2>&1) || rc=$?
		;;
	rsa_pss_rsae_*)
		P11A_OUTPUT=$(openssl dgst "-$md" \
			-sigopt rsa_padding_mode:pss \
			-sigopt rsa_pss_saltlen:digest \
			-sigopt "rsa_mgf1_md:$md" \
			-verify "$pub" -signature "$sig" "$data" 2>&1) || rc=$?
		;;
	ed25519)
		P11A_OUTPUT=$(openssl pkeyutl -verify -pubin -inkey "$pub" \
			-rawin -in "$data" -sigfile "$sig" 2>&1) || rc=$?
		;;
	*)
		p11a_fail "p11a_check_sig: unknown scheme $scheme"
		;;
	esac
	[[ $pub == "$key" ]] || rm -f "$pub"
	# both the exit status and OpenSSL's verdict must say yes
	if [[ $rc -eq 0 ]] &&
		grep -Eq 'Verified OK|Signature Verified Successfully' \
			<<<"$P11A_OUTPUT"; then
		return 0
	fi
	return 1
}

# p11a_verify SIG DATA KEY SCHEME: fail unless the signature verifies.
p11a_verify() {
	p11a_check_sig "$@" ||
		p11a_fail "signature $1 ($4) does not verify against $3: $P11A_OUTPUT"
}

# p11a_random_file PATH [BYTES]: random content (default 1..1000 bytes).
p11a_random_file() {
	local n=${2:-$((RANDOM % 1000 + 1))}
	head -c "$n" /dev/urandom >"$1"
}

# p11a_digest SCHEME DATA OUT: the scheme's hash of DATA, binary.
p11a_digest() {
	local md
	md=$(p11a_scheme_md "$1")
	[[ -n $md ]] || p11a_fail "scheme $1 has no digest form"
	openssl dgst "-$md" -binary "$2" >"$3"
}

# Identities as printed by `p11agent list`.  p11a_list fills the arrays
# P11A_ID_ID, P11A_ID_URI, P11A_ID_TYPE, P11A_ID_BITS, P11A_ID_SCHEMES,
# P11A_ID_SUBJECT and P11A_ID_NAME (the object= part of the URI), one
# entry per identity line.
p11a_list() {
	local out line id uri type bits schemes subject
	out=$("$P11AGENT" list) || p11a_fail "p11agent list failed"
	P11A_ID_ID=() P11A_ID_URI=() P11A_ID_TYPE=() P11A_ID_BITS=()
	P11A_ID_SCHEMES=() P11A_ID_SUBJECT=() P11A_ID_NAME=()
	[[ -n $out ]] || return 0
	while IFS= read -r line; do
		read -r id uri type bits schemes subject <<<"$line"
		[[ $id =~ ^[0-9a-f]{32}$ ]] ||
			p11a_fail "list: bad identity line: $line"
		[[ $uri == pkcs11:* ]] || p11a_fail "list: bad URI in: $line"
		P11A_ID_ID+=("$id")
		P11A_ID_URI+=("$uri")
		P11A_ID_TYPE+=("$type")
		P11A_ID_BITS+=("$bits")
		P11A_ID_SCHEMES+=("$schemes")
		P11A_ID_SUBJECT+=("$subject")
		P11A_ID_NAME+=("$(p11a_uri_object "$uri")")
	done <<<"$out"
}

# The object= attribute of a pkcs11: URI (percent-decoded).
p11a_uri_object() {
	local v
	v=$(sed -n 's/^pkcs11:\(.*;\)\{0,1\}object=\([^;?]*\).*/\2/p' <<<"$1")
	printf '%b' "${v//%/\\x}"
}

# Index in the P11A_ID_* arrays of the identity whose object is NAME.
p11a_find_identity() {
	local i
	for i in "${!P11A_ID_NAME[@]}"; do
		if [[ ${P11A_ID_NAME[$i]} == "$1" ]]; then
			echo "$i"
			return 0
		fi
	done
	p11a_fail "no identity with object=$1 in 'p11agent list'"
}

# The id / URI of the identity whose object is NAME.  Use them only in
# plain assignments (x=$(p11a_identity_id NAME)) so that a failure stops
# the test under set -e.
p11a_identity_id() {
	local i
	i=$(p11a_find_identity "$1")
	echo "${P11A_ID_ID[$i]}"
}

p11a_identity_uri() {
	local i
	i=$(p11a_find_identity "$1")
	echo "${P11A_ID_URI[$i]}"
}

# p11a_sign_verify IDENTITY SCHEME DIR NAME: sign a random message with
# IDENTITY (id or URI), verify it with DIR/NAME.pub.pem and DIR/NAME.pem.
p11a_sign_verify() {
	local ident=$1 scheme=$2 dir=$3 name=$4
	local msg=$P11A_TMP/msg.$$ sig=$P11A_TMP/sig.$$
	p11a_random_file "$msg"
	rm -f "$sig"
	p11a_expect_exit 0 "$P11AGENT" sign --identity "$ident" \
		--scheme "$scheme" --in "$msg" --out "$sig"
	p11a_verify "$sig" "$msg" "$dir/$name.pub.pem" "$scheme"
	if [[ -e $dir/$name.pem ]]; then
		p11a_verify "$sig" "$msg" "$dir/$name.pem" "$scheme"
	fi
}

# p11a_lock_unlock_signs NAME SCHEME DIR: after LOCK the identity of
# object NAME is refused (exit 5); after UNLOCK (PIN from $P11A_PIN) it
# signs again, verified with DIR/NAME.pub.pem.
p11a_lock_unlock_signs() {
	local name=$1 scheme=$2 dir=$3 id
	id=$(p11a_identity_id "$name")
	"$P11AGENT" lock || p11a_fail "lock failed"
	p11a_random_file "$P11A_TMP/lmsg"
	p11a_expect_exit 5 "$P11AGENT" sign --identity "$id" \
		--scheme "$scheme" --in "$P11A_TMP/lmsg" --out "$P11A_TMP/lsig"
	"$P11AGENT" unlock --pin-source env:P11A_PIN || p11a_fail "unlock failed"
	p11a_sign_verify "$id" "$scheme" "$dir" "$name"
	echo "ok: locked, refused, unlocked, signs"
}

# p11a_expect_audit_records FILE N: FILE holds exactly N lines and each
# is a SIGN record of the form docs/RELIABILITY.md documents.
p11a_expect_audit_records() {
	local file=$1 want=$2 n
	local re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z sign pid=[0-9]+ uid=[0-9]+ exe=[^ ]+ identity=[0-9a-f]{32} token="[^"]*" scheme=[a-z0-9_]+ result=[A-Z_]+ usec=[0-9]+$'
	n=$(wc -l <"$file")
	[[ $n -eq $want ]] || p11a_fail "$file: $n audit lines, expected $want"
	n=$(grep -Ec "$re" "$file") || true
	[[ $n -eq $want ]] ||
		p11a_fail "$file: only $n of $want audit lines have the documented form"
}

# p11a_start_audited_ec FILE: token A with the P-256 key a-ec, an agent
# (PIN from the environment) with --audit FILE; the identity in P11A_EC_ID.
p11a_start_audited_ec() {
	p11a_make_token A 27182818 a-ec:p256
	export P11A_PIN=27182818
	p11a_start_agent --pin-source env:P11A_PIN --audit "$1"
	p11a_list
	P11A_EC_ID=$(p11a_identity_id a-ec)
}

# p11m_ext CMD ARGS...: run a program that was not built here (openssl,
# curl, pkcs11-tool, ...) with p11agent-pkcs11.so; in sanitizer builds
# (P11M_PRELOAD names the sanitizer runtime) it gets that runtime
# preloaded, and its own leaks are not ours.
p11m_ext() {
	if [[ -n ${P11M_PRELOAD:-} ]]; then
		LD_PRELOAD=$P11M_PRELOAD ASAN_OPTIONS=detect_leaks=0 "$@"
	else
		"$@"
	fi
}

# p11a_front_module_signs LABEL DIR NAME MECH:SCHEME...: for each
# hash-and-sign mechanism MECH (pkcs11-tool's name, e.g. SHA256-RSA-PKCS
# or ECDSA-SHA256), pkcs11-tool signs a random 3000-byte message (more
# than one C_SignUpdate) through p11agent-pkcs11.so ($P11M_MODULE) with
# the key NAME of token LABEL as the agent shows it (its CKA_ID in
# DIR/NAME.id); each signature must verify with OpenSSL against
# DIR/NAME.pub.pem as SCHEME, and not for another message.
p11a_front_module_signs() {
	local label=$1 dir=$2 name=$3 spec mech scheme fmt
	local msg=$P11A_TMP/fm.msg sig=$P11A_TMP/fm.sig
	shift 3
	[[ -n ${P11M_MODULE:-} && -r $P11M_MODULE ]] ||
		p11a_fail "P11M_MODULE must name p11agent-pkcs11.so (got '${P11M_MODULE:-}')"
	command -v pkcs11-tool >/dev/null 2>&1 ||
		p11a_fail "pkcs11-tool not installed (package opensc)"
	for spec in "$@"; do
		mech=${spec%%:*} scheme=${spec#*:} fmt=()
		[[ $scheme == ecdsa_* ]] && fmt=(--signature-format openssl)
		p11a_random_file "$msg" 3000
		rm -f "$sig"
		p11a_expect_exit 0 p11m_ext pkcs11-tool --module "$P11M_MODULE" \
			--token-label "$label" --id "$(cat "$dir/$name.id")" \
			--sign --mechanism "$mech" "${fmt[@]}" \
			--input-file "$msg" --output-file "$sig"
		p11a_verify "$sig" "$msg" "$dir/$name.pub.pem" "$scheme"
		printf x >>"$msg"
		! p11a_check_sig "$sig" "$msg" "$dir/$name.pub.pem" "$scheme" ||
			p11a_fail "$name $mech: the signature verifies for another message"
	done
	echo "ok: pkcs11-tool signs with $name through p11agent-pkcs11.so: ${*%%:*}"
}
