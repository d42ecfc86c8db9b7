#!/usr/bin/env bash
# Java through SunPKCS11 with a configuration naming the module:
# `keytool -list` shows the agent's keys and certificates (fingerprints
# equal to the token's; an Ed25519 key among them), and Java's TLS
# client (JsseClient.java, run as a single-file source program)
# authenticates with them to `openssl s_server -Verify 1
# -verify_return_error` over TLS 1.2 and 1.3 with RSA and P-256 keys.
# The server's -www page shows the protocol it agreed and the client
# certificate it verified; the agent's audit log shows one signature per
# handshake with the expected scheme.  TLS 1.3 with RSA needs
# RSASSA-PSS, which SunPKCS11 offers only when the module digests
# (C_GetMechanismInfo(CKM_SHA256) and the others succeed).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# javac: a JDK, whose java runs a single-file source program
p11m_need java javac keytool
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

p11a_setup_dir
# an Ed25519 key too: Java 17's SunPKCS11 cannot sign with it, but
# lists it, and it must not hide the other keys
p11a_make_token tok 1234 j-rsa:rsa2048 j-ec:p256 j-ed:ed25519
export P11A_PIN=1234
audit=$P11A_TMP/audit.log
p11a_start_agent --pin-source env:P11A_PIN --audit "$audit"
dir=$P11A_TMP/tok
p11m_server_cert "$dir"

cfg=$P11A_TMP/sunpkcs11.cfg
cat >"$cfg" <<-EOF
	name = p11agent
	library = $P11M_MODULE
	slotListIndex = 0
EOF

# java_run TOOL ARGS...: java or keytool in a JVM that starts quickly;
# in sanitizer builds the JVM takes SIGSEGV for its own use, so the
# preloaded sanitizer runtime must leave that signal alone
java_run() {
	local tool=$1 opts=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC)
	shift
	[[ $tool == java ]] || opts=("${opts[@]/#/-J}")
	if [[ -n ${P11M_PRELOAD:-} ]]; then
		LD_PRELOAD=$P11M_PRELOAD \
			ASAN_OPTIONS=detect_leaks=0:handle_segv=0:allow_user_segv_handler=1 \
			timeout 60 "$tool" "${opts[@]}" "$@"
	else
		timeout 60 "$tool" "${opts[@]}" "$@"
	fi
}

# --- keytool ------------------------------------------------------------
# -protected: no store password; the module needs no login
p11a_expect_exit 0 java_run keytool -list -v -keystore NONE -storetype PKCS11 \
	-addprovider SunPKCS11 -providerArg "$cfg" -protected
p11a_expect_output_matches 'Your keystore contains 3 entries'
for n in j-rsa j-ec j-ed; do
	p11a_expect_output_matches "^Alias name: $n\$"
	fp=$(openssl x509 -in "$dir/$n.pem" -noout -fingerprint -sha256 |
		sed 's/.*=//')
	grep -A12 "^Alias name: $n\$" <<<"$P11A_OUTPUT" | grep -q "SHA256: $fp" ||
		p11a_fail "keytool: $n without the token's certificate $fp: $P11A_OUTPUT"
done
p11a_expect_output_matches 'Entry type: PrivateKeyEntry'

# --- JSSE against openssl s_server --------------------------------------
port=$(p11m_free_port)
p11m_start_server "$P11A_TMP/s_server.log" openssl s_server \
	-accept "127.0.0.1:$port" -cert "$dir/srv.pem" -key "$dir/srv.key" \
	-CAfile "$dir/ca.pem" -Verify 1 -verify_return_error -www
p11m_wait_port "$port" "$P11M_SERVER_PID"

cases=(j-rsa:TLSv1.2 j-ec:TLSv1.2 j-rsa:TLSv1.3 j-ec:TLSv1.3)
# the scheme each handshake signs with, in order: TLS 1.2 lets the
# server's preference pick PSS or PKCS#1 v1.5; TLS 1.3 allows RSA-PSS
# only, and the ECDSA scheme of the key's curve
schemes=('rsa_pss_rsae_sha256|rsa_pkcs1_sha256' ecdsa_secp256r1_sha256
	rsa_pss_rsae_sha256 ecdsa_secp256r1_sha256)
mkdir "$P11A_TMP/pages"
before=$(wc -l <"$audit")
rc=0
out=$(java_run java "$here/JsseClient.java" "$cfg" "$dir/ca.pem" "$port" \
	"$P11A_TMP/pages" "${cases[@]}" 2>&1) || rc=$?
printf '%s\n' "$out" | grep -E '^(ok|FAILED) ' >&2 || true
[[ $rc -eq 0 ]] || p11a_fail "JsseClient exited $rc: $out"

for c in "${cases[@]}"; do
	name=${c%%:*} proto=${c#*:}
	page=$P11A_TMP/pages/$name-$proto.page
	[[ -s $page ]] || p11a_fail "$c: no page from the server"
	grep -Eq "^ +Protocol +: ${proto//./\\.}\$" "$page" ||
		p11a_fail "$c: the server did not agree on $proto: $(cat "$page")"
	if ! grep -Eq '^ +Verify return code: 0 \(ok\)$' "$page" ||
		! grep -q "^Client certificate" "$page" ||
		! grep -Eq "Subject:.*CN ?= ?$name\$" "$page"; then
		p11a_fail "$c: the server verified no certificate of $name: $(cat "$page")"
	fi
done
signs=$(tail -n +"$((before + 1))" "$audit")
[[ $(grep -c ' result=OK ' <<<"$signs") -eq ${#cases[@]} ]] ||
	p11a_fail "expected ${#cases[@]} signatures in the audit log: $signs"
i=0
while read -r line; do
	grep -Eq " scheme=(${schemes[i]}) " <<<"$line" ||
		p11a_fail "${cases[i]}: signed with another scheme than ${schemes[i]}: $line"
	i=$((i + 1))
done < <(grep ' result=OK ' <<<"$signs")
p11a_agent_alive
echo "ok: keytool and ${#cases[@]} JSSE handshakes"
