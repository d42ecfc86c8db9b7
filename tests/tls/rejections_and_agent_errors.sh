#!/usr/bin/env bash
# What goes wrong says what went wrong, with its own exit code:
#   - a server that trusts another CA rejects our certificate (TLS 1.2
#     and 1.3, openssl s_server and gnutls-serv): connect exits 8 naming
#     the alert; s_client with the provider and the tunnel fail too;
#     without --identity no identity fits that server's CA list (exit 4);
#   - a server certificate we do not trust, or for another name: exit 9;
#   - a locked agent: exit 5 with "locked", and no handshake at all (the
#     server sees no ClientHello) from connect, s_client or tunnel; after
#     unlock the same connection works;
#   - no agent: exit 3; an identity that does not exist: exit 4; a
#     server that does not listen: exit 10.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"

tls_setup k-p256:p256 k-rsa:rsa2048
tls_other_ca
ID=$(p11a_list && p11a_identity_id k-p256)
KEY=p11agent:$ID
CERT=$TLS_DIR/k-p256.pem

# ---- a server that trusts another CA -------------------------------------
for version in tls1_2 tls1_3; do
	tls_s_server "other-$version" "-$version" -Verify 1 \
		-verify_return_error -CAfile "$TLS_DIR/other-ca.pem"
	port=$TLS_PORT

	rc=0
	tls_connect "$port" "$version" --identity pkcs11:object=k-p256 || rc=$?
	[[ $rc -eq 8 ]] || p11a_fail "connect $version to a server trusting another CA: exit $rc, expected 8: $TLS_OUT"
	grep -q 'the server rejected our certificate: alert unknown_ca' \
		<<<"$TLS_OUT" || p11a_fail "connect $version: message: $TLS_OUT"

	rc=0
	tls_connect "$port" "$version" || rc=$?
	[[ $rc -eq 4 ]] || p11a_fail "connect $version, automatic identity, other CA: exit $rc, expected 4: $TLS_OUT"
	grep -q 'no matching identity' <<<"$TLS_OUT" ||
		p11a_fail "connect $version automatic: message: $TLS_OUT"

	tls_s_client "$port" "$version" "$KEY" "$CERT" || true
	grep -qi 'alert unknown ca' <<<"$TLS_OUT" ||
		p11a_fail "s_client $version: no unknown ca alert: $TLS_OUT"
	! grep -q 'Subject: CN=k-p256' <<<"$TLS_OUT" ||
		p11a_fail "s_client $version: the server served us anyway"

	tls_tunnel "$port" "$version" --identity "$ID"
	tunnel=$TLS_PID
	tls_curl "$TLS_PORT" || true
	! grep -q 'Subject: CN=k-p256' <<<"$TLS_OUT" ||
		p11a_fail "tunnel $version: the server served us anyway"
	tls_wait_log "$TLS_LOG" '#1 from .*closed without a connection \(exit code 8\)'
	grep -q 'rejected our certificate: alert unknown_ca' "$TLS_LOG" ||
		p11a_fail "tunnel $version: log does not say why: $(cat "$TLS_LOG")"
	tls_stop_tunnel "$tunnel" "$TLS_LOG"
	echo "ok: $version server trusting another CA rejects us"
done

if command -v gnutls-serv >/dev/null 2>&1; then
	tls_gnutls_serv other-gnutls --require-client-cert --verify-client-cert \
		--x509cafile "$TLS_DIR/other-ca.pem"
	rc=0
	tls_connect "$TLS_PORT" tls1_3 --identity pkcs11:object=k-p256 || rc=$?
	[[ $rc -eq 8 ]] || p11a_fail "connect to gnutls-serv trusting another CA: exit $rc: $TLS_OUT"
	grep -Eq 'the server rejected our certificate: alert [a-z_]+' \
		<<<"$TLS_OUT" || p11a_fail "gnutls rejection: message: $TLS_OUT"
	echo "ok: gnutls-serv trusting another CA rejects us"
fi

# ---- a server we do not trust ----------------------------------------------
tls_s_server good -tls1_3 -Verify 1 -verify_return_error \
	-CAfile "$TLS_DIR/ca.pem"
GOOD=$TLS_PORT
rc=0
TLS_OUT=$(printf '' | "$P11AGENT" connect --CAfile "$TLS_DIR/other-ca.pem" \
	--identity pkcs11:object=k-p256 "127.0.0.1:$GOOD" 2>&1) || rc=$?
[[ $rc -eq 9 ]] || p11a_fail "untrusted server: exit $rc, expected 9: $TLS_OUT"
grep -q "the server's certificate is not trusted" <<<"$TLS_OUT" ||
	p11a_fail "untrusted server: message: $TLS_OUT"
rc=0
tls_connect "$GOOD" tls1_3 --servername other.example \
	--identity pkcs11:object=k-p256 || rc=$?
[[ $rc -eq 9 ]] || p11a_fail "server name mismatch: exit $rc, expected 9: $TLS_OUT"
tls_connect "$GOOD" tls1_3 --servername localhost \
	--identity pkcs11:object=k-p256 ||
	p11a_fail "--servername localhost: $TLS_OUT"
tls_expect_client_cn k-p256 "--servername localhost"
echo "ok: a server we do not trust, or with another name: exit 9"

# ---- a locked agent: no handshake ------------------------------------------
tls_s_server watched -tls1_3 -Verify 1 -verify_return_error \
	-CAfile "$TLS_DIR/ca.pem" -msg
WATCHED=$TLS_PORT
WATCH_LOG=$TLS_LOG
p11a_expect_exit 0 "$P11AGENT" lock
for args in "--identity pkcs11:object=k-p256" ""; do
	rc=0
	# shellcheck disable=SC2086 # args is a list of words
	tls_connect "$WATCHED" tls1_3 $args || rc=$?
	[[ $rc -eq 5 ]] || p11a_fail "connect '$args' to a locked agent: exit $rc, expected 5: $TLS_OUT"
	grep -q 'locked' <<<"$TLS_OUT" || p11a_fail "locked: message: $TLS_OUT"
done
rc=0
tls_s_client "$WATCHED" tls1_3 "$KEY" "$CERT" || rc=$?
[[ $rc -ne 0 ]] || p11a_fail "s_client with a locked agent succeeded"
grep -q 'the agent is locked' <<<"$TLS_OUT" ||
	p11a_fail "s_client with a locked agent: message: $TLS_OUT"
rc=0
timeout 20 "$P11AGENT" tunnel --listen 127.0.0.1:0 \
	--connect "127.0.0.1:$WATCHED" --CAfile "$TLS_DIR/ca.pem" \
	--identity "$ID" </dev/null >/dev/null 2>"$P11A_TMP/locked-tunnel.log" ||
	rc=$?
[[ $rc -eq 5 ]] || p11a_fail "tunnel with a locked agent: exit $rc, expected 5: $(cat "$P11A_TMP/locked-tunnel.log")"
! grep -q ClientHello "$WATCH_LOG" ||
	p11a_fail "a handshake was started with a locked agent: $(cat "$WATCH_LOG")"
p11a_expect_exit 0 "$P11AGENT" unlock --pin-source env:P11A_PIN
tls_connect "$WATCHED" tls1_3 --identity pkcs11:object=k-p256 ||
	p11a_fail "connect after unlock: $TLS_OUT"
tls_expect_client_cn k-p256 "connect after unlock"
grep -q ClientHello "$WATCH_LOG" || p11a_fail "the watched server saw nothing"
echo "ok: a locked agent: exit 5, no handshake; after unlock it works"

# ---- no agent, no identity, no server --------------------------------------
rc=0
TLS_OUT=$(printf '' | P11AGENT_SOCK=$P11A_TMP/nowhere.sock "$P11AGENT" \
	connect --CAfile "$TLS_DIR/ca.pem" "127.0.0.1:$GOOD" 2>&1) || rc=$?
[[ $rc -eq 3 ]] || p11a_fail "no agent: exit $rc, expected 3: $TLS_OUT"
grep -q 'agent unreachable' <<<"$TLS_OUT" || p11a_fail "no agent: $TLS_OUT"
rc=0
TLS_OUT=$(printf 'GET / HTTP/1.0\r\n\r\n' | P11AGENT_SOCK=$P11A_TMP/nowhere.sock \
	tls_openssl s_client "${TLS_PROVIDER[@]}" -connect "127.0.0.1:$GOOD" \
	-key "$KEY" -cert "$CERT" -CAfile "$TLS_DIR/ca.pem" 2>&1) || rc=$?
[[ $rc -ne 0 ]] && grep -q 'no agent at' <<<"$TLS_OUT" ||
	p11a_fail "s_client without an agent: exit $rc: $TLS_OUT"

rc=0
tls_connect "$GOOD" tls1_3 --identity pkcs11:object=no-such-key || rc=$?
[[ $rc -eq 4 ]] || p11a_fail "unknown identity: exit $rc, expected 4: $TLS_OUT"
grep -q 'no identity matches' <<<"$TLS_OUT" ||
	p11a_fail "unknown identity: $TLS_OUT"

port=$(tls_free_port)
rc=0
tls_connect "$port" tls1_3 --identity pkcs11:object=k-p256 || rc=$?
[[ $rc -eq 10 ]] || p11a_fail "no server: exit $rc, expected 10: $TLS_OUT"
grep -q 'cannot connect' <<<"$TLS_OUT" || p11a_fail "no server: $TLS_OUT"
echo "ok: no agent 3, unknown identity 4, no server 10"
