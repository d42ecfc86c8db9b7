#!/usr/bin/env bash
# p11agent-testenv as another project's CI uses it (docs/CI.md):
# `eval "$(p11agent-testenv start --keys rsa2048,p256,ed25519)"` gives a
# serving agent on $P11AGENT_SOCK whose PIN is on no command line; with
# nothing but the exported paths each key signs (p11agent sign, and
# openssl through the provider with the exported key), verified against
# its certificate, which the exported CA issued; each key authenticates
# a TLS 1.3 and a TLS 1.2 handshake to openssl s_server requiring a
# client certificate from that CA (with the exported server certificate).
# `eval "$(p11agent-testenv stop)"` leaves no process and no file and
# unsets the variables.  The NAME=VALUE format (for $GITHUB_ENV) and
# stop --dir work the same; a start that fails leaves nothing behind.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/../tls/tls_lib.sh"

[[ -x ${P11A_TESTENV:-} ]] || p11a_fail "P11A_TESTENV must name p11agent-testenv"
tls_require
p11a_setup_dir
# the test environment needs nothing of the harness's SoftHSM set-up
unset SOFTHSM2_CONF
export TMPDIR=$P11A_TMP # where start makes its directory
ENV_DIR=
test_cleanup() {
	local rc=$?
	set +e
	[[ -z $ENV_DIR || ! -d $ENV_DIR ]] || "$P11A_TESTENV" stop --dir "$ENV_DIR" >/dev/null 2>&1 || true
	(exit "$rc")
	tls_cleanup
}
trap test_cleanup EXIT
TLS_PROVIDER=(-provider-path "$P11A_PROVIDER_DIR" -provider default -provider p11agent)

# no_process_mentions DIR: no process of ours has DIR in its command line
# or environment (the agent, its helpers, anything start left running).
no_process_mentions() {
	local f
	for f in /proc/[0-9]*; do
		[[ $f == "/proc/$$" || $f == "/proc/$BASHPID" ]] && continue
		if { tr '\0' '\n' <"$f/cmdline"; } 2>/dev/null | grep -qF "$1" ||
			{ tr '\0' '\n' <"$f/environ"; } 2>/dev/null | grep -qF "$1"; then
			echo "${f#/proc/}: $({ tr '\0' ' ' <"$f/cmdline"; } 2>/dev/null)"
			return 1
		fi
	done
}

p11a_log "start: a token with an RSA, a P-256 and an Ed25519 key, an agent"
out=$("$P11A_TESTENV" start --keys rsa2048,p256,ed25519) ||
	p11a_fail "p11agent-testenv start failed"
eval "$out"
ENV_DIR=$P11AGENT_TESTENV_DIR
[[ $ENV_DIR == "$P11A_TMP"/p11agent-testenv.* && -d $ENV_DIR ]] ||
	p11a_fail "P11AGENT_TESTENV_DIR is '$ENV_DIR'"
[[ $(stat -c %a "$ENV_DIR") == 700 ]] || p11a_fail "$ENV_DIR is not private"
[[ -S $P11AGENT_SOCK ]] || p11a_fail "no socket at P11AGENT_SOCK=$P11AGENT_SOCK"
P11A_AGENT_PID=$P11AGENT_TESTENV_PID # lib.sh stops it should the test fail
p11a_agent_alive
[[ $P11AGENT_TESTENV_KEYS == "rsa2048 p256 ed25519" ]] ||
	p11a_fail "P11AGENT_TESTENV_KEYS is '$P11AGENT_TESTENV_KEYS'"

p11a_log "the PIN is in a private file only, on no command line"
[[ $(stat -c %a "$P11AGENT_TESTENV_PIN_FILE") == 600 ]] ||
	p11a_fail "the PIN file is not 0600"
pin=$(head -n 1 "$P11AGENT_TESTENV_PIN_FILE")
[[ ${#pin} -ge 8 ]] || p11a_fail "the PIN is '${pin}': not a random one"
for f in /proc/[0-9]*/cmdline; do
	! { tr '\0' '\n' <"$f"; } 2>/dev/null | grep -qF "$pin" ||
		p11a_fail "the PIN is on the command line of ${f#/proc/}"
done
unset pin

p11a_list
[[ ${#P11A_ID_ID[@]} -eq 3 ]] || p11a_fail "the agent lists ${#P11A_ID_ID[@]} identities, expected 3"

p11a_log "each key signs, verified against its certificate from the CA"
for spec in rsa2048:rsa_pss_rsae_sha256:sha256 p256:ecdsa_secp256r1_sha256:sha256 \
	ed25519:ed25519:; do
	IFS=: read -r k scheme md <<<"$spec"
	up=${k^^}
	v=P11AGENT_TESTENV_${up}_ID && id=${!v}
	v=P11AGENT_TESTENV_${up}_URI && uri=${!v}
	v=P11AGENT_TESTENV_${up}_CERT && cert=${!v}
	v=P11AGENT_TESTENV_${up}_KEY && key=${!v}
	v=P11AGENT_TESTENV_${up}_PUB && pub=${!v}
	[[ $id == "$(p11a_identity_id "$k")" ]] || p11a_fail "${up}_ID is '$id'"
	[[ $uri == "$(p11a_identity_uri "$k")" ]] || p11a_fail "${up}_URI is '$uri'"
	openssl verify -CAfile "$P11AGENT_TESTENV_CA" "$cert" >/dev/null ||
		p11a_fail "the $k certificate is not from P11AGENT_TESTENV_CA"
	openssl x509 -in "$cert" -noout -pubkey >"$P11A_TMP/$k.certpub.pem"
	cmp -s "$P11A_TMP/$k.certpub.pem" "$pub" ||
		p11a_fail "${up}_PUB is not the key of ${up}_CERT"

	msg=$P11A_TMP/$k.msg sig=$P11A_TMP/$k.sig
	p11a_random_file "$msg"
	p11a_expect_exit 0 "$P11AGENT" sign --identity "$id" --scheme "$scheme" \
		--in "$msg" --out "$sig"
	p11a_verify "$sig" "$msg" "$P11A_TMP/$k.certpub.pem" "$scheme"

	# the exported key as OpenSSL takes it, through the provider
	rm -f "$sig"
	tls_openssl pkeyutl "${TLS_PROVIDER[@]}" -sign -inkey "$key" \
		${md:+-digest "$md"} -rawin -in "$msg" -out "$sig" ||
		p11a_fail "openssl pkeyutl -sign -inkey ${up}_KEY ($key) failed"
	openssl pkeyutl -verify -pubin -inkey "$P11A_TMP/$k.certpub.pem" \
		${md:+-digest "$md"} -rawin -in "$msg" -sigfile "$sig" >/dev/null ||
		p11a_fail "the provider's $k signature does not verify"
done

p11a_log "each key authenticates TLS handshakes to a server requiring client certificates"
for k in rsa2048 p256 ed25519; do
	for version in tls1_3 tls1_2; do

		up=${k^^}
		v=P11AGENT_TESTENV_${up}_CERT && cert=${!v}
		v=P11AGENT_TESTENV_${up}_KEY && key=${!v}
		TLS_LOG=$P11A_TMP/server-$k-$version.log
		openssl s_server -accept 127.0.0.1:0 -naccept 1 -www \
			-cert "$P11AGENT_TESTENV_SERVER_CERT" -key "$P11AGENT_TESTENV_SERVER_KEY" \
			-CAfile "$P11AGENT_TESTENV_CA" -Verify 1 -verify_return_error \
			</dev/null >"$TLS_LOG" 2>&1 &
		tls_track $!
		tls_wait_log "$TLS_LOG" '^ACCEPT '
		port=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$TLS_LOG")
		out=$(printf 'GET / HTTP/1.0\r\n\r\n' | tls_openssl s_client \
			"${TLS_PROVIDER[@]}" -connect "127.0.0.1:$port" "-$version" \
			-key "$key" -cert "$cert" -CAfile "$P11AGENT_TESTENV_CA" \
			-verify_return_error -verify_hostname localhost -ign_eof 2>&1) ||
			p11a_fail "$k $version handshake failed: $out"$'\n'"$(cat "$TLS_LOG")"
		grep -q "Subject: CN *= *$k\|CN = $k" <<<"$out" ||
			p11a_fail "the server did not see the $k certificate: $out"
		grep -q 'Verify return code: 0 (ok)' <<<"$out" ||
			p11a_fail "the client did not verify the server certificate: $out"
		tls_stop "$TLS_PID"
	done
done

p11a_log "stop: no process, no file, no variable left"
out=$("$P11A_TESTENV" stop) || p11a_fail "p11agent-testenv stop failed"
eval "$out"
[[ -z ${P11AGENT_SOCK:-} && -z ${P11AGENT_TESTENV_DIR:-} && -z ${P11AGENT_TESTENV_P256_CERT:-} ]] ||
	p11a_fail "stop did not unset the variables: $out"
[[ ! -e $ENV_DIR ]] || p11a_fail "stop left $ENV_DIR"
p11a_pid_alive "$P11A_AGENT_PID" && p11a_fail "the agent $P11A_AGENT_PID still runs"
left=$(no_process_mentions "$ENV_DIR") || p11a_fail "stop left a process: $left"
P11A_AGENT_PID=

p11a_log "--format env and stop --dir; a failed start leaves nothing"
dir=$P11A_TMP/env2
"$P11A_TESTENV" start --keys p256 --dir "$dir" --format env >"$P11A_TMP/github.env" ||
	p11a_fail "start --format env failed"
ENV_DIR=$dir
grep -qx "P11AGENT_SOCK=$dir/agent/agent.sock" "$P11A_TMP/github.env" ||
	p11a_fail "no P11AGENT_SOCK=... line: $(cat "$P11A_TMP/github.env")"
grep -qx "P11AGENT_TESTENV_P256_CERT=$dir/keys/p256.pem" "$P11A_TMP/github.env" ||
	p11a_fail "no P11AGENT_TESTENV_P256_CERT=... line"
! grep -q "^P11AGENT_TESTENV_RSA2048" "$P11A_TMP/github.env" ||
	p11a_fail "a key that was not asked for is exported"
sock=$(sed -n 's/^P11AGENT_SOCK=//p' "$P11A_TMP/github.env")
p11a_expect_exit 0 env P11AGENT_SOCK="$sock" "$P11AGENT" status
pid=$(sed -n 's/^P11AGENT_TESTENV_PID=//p' "$P11A_TMP/github.env")
"$P11A_TESTENV" stop --dir "$dir" >/dev/null || p11a_fail "stop --dir failed"
[[ ! -e $dir ]] || p11a_fail "stop --dir left $dir"
p11a_pid_alive "$pid" && p11a_fail "stop --dir left the agent $pid running"
ENV_DIR=

p11a_expect_exit 1 "$P11A_TESTENV" start --keys p256 --dir "$dir" --module "$P11A_TMP/no-such-module.so"
[[ ! -e $dir ]] || p11a_fail "a failed start left $dir"
p11a_expect_exit 1 "$P11A_TESTENV" start --keys p256,dsa
p11a_expect_output_matches "unknown type 'dsa'"
p11a_expect_exit 1 "$P11A_TESTENV" stop --dir "$P11A_TMP"
p11a_expect_output_matches 'was not made by p11agent-testenv start'
[[ -d $P11A_TMP/tokens ]] || p11a_fail "stop removed a directory start did not make"
[[ -z $(find "$P11A_TMP" -maxdepth 1 -name 'p11agent-testenv.*') ]] ||
	p11a_fail "a directory of start is left: $(find "$P11A_TMP" -maxdepth 1 -name 'p11agent-testenv.*')"
echo "ok: p11agent-testenv start served every key and stop removed everything"
