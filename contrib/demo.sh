#!/usr/bin/env bash
# A guided tour of p11agent on a throwaway SoftHSM token:
#   1. install missing Debian packages (as root, or through sudo) and build
#   2. make a token with an RSA-2048, an ECDSA P-256 and an Ed25519 key,
#      each with a certificate from a throwaway CA
#   3. start p11agentd on it, list the identities, sign a message with
#      each one and verify the signature with OpenSSL
#   4. end with a mutually authenticated TLS connection to a local
#      openssl s_server through the agent (p11agent connect --trace)
# On exit the agent is stopped and the temporary directory removed.
#
#   contrib/demo.sh            (BUILD_DIR=dir to build elsewhere than build/)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. contrib/deps.sh

BUILD_DIR=${BUILD_DIR:-build}
MODULE=/usr/lib/softhsm/libsofthsm2.so
TOKEN=demo
PIN=123456
SO_PIN=12345678

step() {
	printf '\n==> %s\n' "$*"
}

# Show a command, then run it.
show() {
	printf '$ %s\n' "$*"
	"$@"
}

DEMO_DIR=
P11AGENT_PID=
cleanup() {
	local rc=$?
	set +e
	if [[ -n $P11AGENT_PID ]]; then
		step "stopping p11agentd (pid $P11AGENT_PID)"
		kill "$P11AGENT_PID" 2>/dev/null
		local i
		for ((i = 0; i < 100; i++)); do
			kill -0 "$P11AGENT_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$P11AGENT_PID" 2>/dev/null; then
			echo "p11agentd did not stop; killing it"
			kill -KILL "$P11AGENT_PID" 2>/dev/null
		fi
	fi
	if [[ -n $DEMO_DIR ]]; then
		step "removing $DEMO_DIR"
		rm -rf "$DEMO_DIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "installing missing packages"
p11a_install_deps

step "building p11agent in $BUILD_DIR/"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j2 >/dev/null
P11AGENTD=$PWD/$BUILD_DIR/agent/p11agentd
P11AGENT=$PWD/$BUILD_DIR/client/p11agent
MKTOKEN=$PWD/$BUILD_DIR/tests/tools/p11a-mktoken
for b in "$P11AGENTD" "$P11AGENT" "$MKTOKEN"; do
	[[ -x $b ]] || { echo "missing $b after the build" >&2; exit 1; }
done

step "making a throwaway SoftHSM token"
DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/p11agent-demo.XXXXXX")
chmod 700 "$DEMO_DIR"
mkdir "$DEMO_DIR/tokens"
cat >"$DEMO_DIR/softhsm2.conf" <<CONF
directories.tokendir = $DEMO_DIR/tokens
objectstore.backend = file
log.level = ERROR
CONF
export SOFTHSM2_CONF=$DEMO_DIR/softhsm2.conf
show softhsm2-util --init-token --free --label "$TOKEN" --pin "$PIN" \
	--so-pin "$SO_PIN"

step "generating keys on the token and certificates from a throwaway CA"
show "$MKTOKEN" --module "$MODULE" --token "$TOKEN" --pin "$PIN" \
	--out "$DEMO_DIR/keys" demo-rsa:rsa2048 demo-ecdsa:p256 demo-ed25519:ed25519
echo "(public keys, certificates and the CA are in $DEMO_DIR/keys)"

step "starting p11agentd (the PIN comes from the environment variable DEMO_PIN)"
export DEMO_PIN=$PIN
mkdir -m 700 "$DEMO_DIR/agent"
# shellcheck disable=SC2016 # the command is shown, not run, here
printf '$ eval "$(p11agentd --socket %s --module %s --pin-source env:DEMO_PIN)"\n' \
	"$DEMO_DIR/agent/agent.sock" "$MODULE"
eval "$("$P11AGENTD" --socket "$DEMO_DIR/agent/agent.sock" --module "$MODULE" \
	--pin-source env:DEMO_PIN </dev/null)"
unset DEMO_PIN
[[ -n ${P11AGENT_SOCK:-} && -n ${P11AGENT_PID:-} ]] || {
	echo "p11agentd did not print P11AGENT_SOCK and P11AGENT_PID" >&2
	exit 1
}
export P11AGENT_SOCK
echo "agent pid $P11AGENT_PID, socket $P11AGENT_SOCK"
show "$P11AGENT" status

step "listing the identities: ID URI KEYTYPE BITS SCHEMES SUBJECT"
show "$P11AGENT" list

step "signing a message with each identity and verifying with OpenSSL"
msg=$DEMO_DIR/message.txt
echo "TLS handshake transcript stand-in, $(date)" >"$msg"
failed=0
signed=0
while read -r id uri _ _ _; do
	name=$(sed -n 's/.*;object=\([^;?]*\).*/\1/p' <<<"$uri")
	case $name in
	demo-rsa) scheme=rsa_pss_rsae_sha256 ;;
	demo-ecdsa) scheme=ecdsa_secp256r1_sha256 ;;
	demo-ed25519) scheme=ed25519 ;;
	*) continue ;;
	esac
	sig=$DEMO_DIR/$name.sig
	echo
	show "$P11AGENT" sign --identity "$id" --scheme "$scheme" \
		--in "$msg" --out "$sig"
	echo "$(wc -c <"$sig") byte signature from $name ($scheme)"
	signed=$((signed + 1))
	cert=$DEMO_DIR/keys/$name.pem
	openssl x509 -in "$cert" -pubkey -noout >"$DEMO_DIR/$name.certkey.pem"
	case $scheme in
	rsa_pss_*)
		verify=(openssl dgst -sha256 -sigopt rsa_padding_mode:pss
			-sigopt rsa_pss_saltlen:digest
			-verify "$DEMO_DIR/$name.certkey.pem" -signature "$sig" "$msg") ;;
	ecdsa_*)
		verify=(openssl dgst -sha256 -verify "$DEMO_DIR/$name.certkey.pem"
			-signature "$sig" "$msg") ;;
	ed25519)
		verify=(openssl pkeyutl -verify -pubin
			-inkey "$DEMO_DIR/$name.certkey.pem" -rawin -in "$msg"
			-sigfile "$sig") ;;
	esac
	echo "verifying with the public key of its certificate:"
	show "${verify[@]}" || failed=1
done < <("$P11AGENT" list)

step "checking the certificates against the throwaway CA"
show openssl verify -CAfile "$DEMO_DIR/keys/ca.pem" \
	"$DEMO_DIR"/keys/demo-{rsa,ecdsa,ed25519}.pem || failed=1

if [[ $signed -ne 3 ]]; then
	step "expected 3 identities to sign with, found $signed"
	exit 1
fi
if [[ $failed -ne 0 ]]; then
	step "some signature did not verify"
	exit 1
fi

# ---- TLS client authentication through the agent (docs/TLS.md) ----------

step "a mutually authenticated TLS connection, its CertificateVerify signed by p11agentd"
# A server certificate from the demo CA, and a server that demands a
# client certificate from that CA and verifies it.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$DEMO_DIR/server.key" -subj /CN=localhost \
	-out "$DEMO_DIR/server.csr" 2>/dev/null
openssl x509 -req -in "$DEMO_DIR/server.csr" -days 1 \
	-CA "$DEMO_DIR/keys/ca.pem" -CAkey "$DEMO_DIR/keys/ca.key" \
	-CAcreateserial -out "$DEMO_DIR/server.pem" \
	-extfile <(printf 'subjectAltName=IP:127.0.0.1\n') 2>/dev/null
DEMO_SERVER_PID=
# stop the server too when the demo ends, then clean up as before
trap 'rc=$?; [[ -z $DEMO_SERVER_PID ]] || kill "$DEMO_SERVER_PID" 2>/dev/null; (exit $rc); cleanup' EXIT
printf '$ openssl s_server -accept 127.0.0.1:0 -Verify 1 -verify_return_error -CAfile ca.pem -www ... &\n'
openssl s_server -accept 127.0.0.1:0 -cert "$DEMO_DIR/server.pem" \
	-key "$DEMO_DIR/server.key" -Verify 1 -verify_return_error \
	-CAfile "$DEMO_DIR/keys/ca.pem" -www </dev/null \
	>"$DEMO_DIR/server.log" 2>&1 &
DEMO_SERVER_PID=$!
for ((i = 0; i < 100; i++)); do
	grep -q '^ACCEPT' "$DEMO_DIR/server.log" && break
	sleep 0.1
done
port=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$DEMO_DIR/server.log")
[[ -n $port ]] || { echo "s_server did not start" >&2; exit 1; }
echo "the server listens on 127.0.0.1:$port; the trace maps each message"
echo "to a step of the classic ten-step SSL handshake (docs/TLS.md):"
echo
printf '$ printf "GET / HTTP/1.0\\r\\n\\r\\n" | p11agent connect --trace --CAfile ca.pem --identity pkcs11:object=demo-ecdsa 127.0.0.1:%s\n' "$port"
tls_rc=0
printf 'GET / HTTP/1.0\r\n\r\n' | "$P11AGENT" connect --trace \
	--CAfile "$DEMO_DIR/keys/ca.pem" --identity pkcs11:object=demo-ecdsa \
	"127.0.0.1:$port" >"$DEMO_DIR/page.html" || tls_rc=$?
echo
echo "the server's page says it verified our certificate:"
grep -E 'Verify return code|Subject: CN' "$DEMO_DIR/page.html" || true
if [[ $tls_rc -ne 0 ]] || ! grep -q 'Subject: CN=demo-ecdsa' "$DEMO_DIR/page.html"; then
	step "the TLS connection failed (p11agent connect exit $tls_rc)"
	exit 1
fi
step "done: three keys on a PKCS#11 token, three signatures through p11agentd, all verified, and a TLS connection authenticated by the agent"
