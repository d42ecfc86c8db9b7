#!/usr/bin/env bash
# A card that can only hash-and-sign (the shim's hashed-only card:
# CKM_ECDSA_SHA1/256/384/512, CKM_SHA*_RSA_PKCS and CKM_SHA*_RSA_PKCS_PSS,
# but no CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_PSS or CKM_RSA_X_509):
#  * `p11agent list` shows exactly the schemes that work (P-256: the four
#    ECDSA schemes; RSA: PKCS#1 v1.5 and PSS with SHA-1/256/384/512, not
#    rsa_pkcs1_md5_sha1), each flagged MESSAGE_ONLY; every listed scheme
#    signs a message and verifies with OpenSSL, its DIGEST form is
#    BAD_INPUT, and `status --verbose` shows every path hashed;
#  * the provider keeps the message for such keys: `openssl dgst -sign`
#    and `pkeyutl -sign -rawin` make signatures that verify, and
#    `pkeyutl -sign` of a bare digest fails with a clear error;
#  * TLS 1.2 (the client signs the handshake messages) and TLS 1.3 client
#    authentication succeed against `openssl s_server -Verify 1
#    -verify_return_error` and gnutls-serv --verify-client-cert, through
#    the provider (s_client) and `p11agent connect`, for both keys.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"

command -v gnutls-serv >/dev/null 2>&1 || p11a_skip "gnutls-serv not installed"
KEYS=(k-p256:p256 k-rsa:rsa2048)
tls_setup "${KEYS[@]}"
export FAULTY_PKCS11_CARD=hashed-only FAULTY_PKCS11_LOG=$P11A_TMP/faulty.log
fault_slow_card_agent 0 --pin-source env:P11A_PIN --audit "$TLS_AUDIT"

EC_WANT="ecdsa_sha1,ecdsa_secp256r1_sha256,ecdsa_secp384r1_sha384,ecdsa_secp521r1_sha512"
RSA_WANT="rsa_pkcs1_sha1,rsa_pkcs1_sha256,rsa_pkcs1_sha384,rsa_pkcs1_sha512,rsa_pss_rsae_sha256,rsa_pss_rsae_sha384,rsa_pss_rsae_sha512"
sorted() { tr , '\n' <<<"$1" | sort | paste -sd, -; }
p11a_list
msg=$P11A_TMP/msg
p11a_random_file "$msg" 3000
for name in k-p256 k-rsa; do
	i=$(p11a_find_identity "$name")
	id=${P11A_ID_ID[$i]}
	[[ $name == k-p256 ]] && want=$EC_WANT || want=$RSA_WANT
	[[ $(sorted "${P11A_ID_SCHEMES[$i]}") == $(sorted "$want") ]] ||
		p11a_fail "$name on a hashed-only card lists '${P11A_ID_SCHEMES[$i]}', expected '$want'"
	for s in ${P11A_ID_SCHEMES[$i]//,/ }; do
		rm -f "$P11A_TMP/sig"
		p11a_expect_exit 0 "$P11AGENT" sign --identity "$id" --scheme "$s" \
			--in "$msg" --out "$P11A_TMP/sig"
		p11a_verify "$P11A_TMP/sig" "$msg" "$TLS_DIR/$name.pub.pem" "$s"
		p11a_digest "$s" "$msg" "$P11A_TMP/digest"
		p11a_expect_exit 1 "$P11AGENT" sign --identity "$id" --scheme "$s" \
			--digest --in "$P11A_TMP/digest" --out "$P11A_TMP/sig"
		p11a_expect_output_matches 'BAD_INPUT|bad input'
	done
	"$P11AGENT" list --verbose | grep -A1 "^$id " |
		grep -q 'hash-and-sign (message only' ||
		p11a_fail "$name: list --verbose does not say hash-and-sign"
	paths=$("$P11AGENT" status --verbose | awk -v id="$id" '$1 == id { print $4 }' | sort -u)
	[[ $paths == hashed ]] ||
		p11a_fail "$name: status --verbose shows paths '$paths', expected only hashed"
done
# the card was never asked for a mechanism it lacks (MECHANISM_INVALID)
[[ $(fault_count '^C_SignInit token=tok rv=0x70$') -eq 0 &&
	$(fault_count '^C_SignInit token=tok rv=0x0$') -gt 0 ]] ||
	p11a_fail "C_SignInit on the hashed-only card: $(grep -c C_SignInit "$FAULTY_PKCS11_LOG") calls, $(fault_count '^C_SignInit token=tok rv=0x70$') refused"

# the provider in openssl's own commands
ossl() { tls_openssl "$1" "${TLS_PROVIDER[@]}" "${@:2}"; }
for name in k-p256 k-rsa; do
	id=$(p11a_identity_id "$name")
	pub=$TLS_DIR/$name.pub.pem
	sig=$P11A_TMP/$name.sig
	ossl dgst -sha384 -sign "p11agent:$id" -out "$sig" "$msg" ||
		p11a_fail "dgst -sign $name on a hashed-only card"
	openssl dgst -sha384 -verify "$pub" -signature "$sig" "$msg" >/dev/null ||
		p11a_fail "dgst -sign signature of $name does not verify"
	ossl pkeyutl -sign -inkey "p11agent:$id" -rawin -digest sha256 \
		-in "$msg" -out "$sig" || p11a_fail "pkeyutl -sign -rawin $name"
	openssl dgst -sha256 -verify "$pub" -signature "$sig" "$msg" >/dev/null ||
		p11a_fail "pkeyutl -rawin signature of $name does not verify"
	openssl dgst -sha256 -binary "$msg" >"$msg.sha256"
	if out=$(ossl pkeyutl -sign -inkey "p11agent:$id" -in "$msg.sha256" \
		-pkeyopt digest:sha256 -out "$sig" 2>&1); then
		p11a_fail "pkeyutl -sign of a digest succeeded on a hashed-only card"
	fi
	grep -Eq 'whole message|message only' <<<"$out" ||
		p11a_fail "pkeyutl -sign of a digest: no clear error: $out"
done

tls_verifying_servers

passed=0
for server in s12 s13 g12 g13; do
	[[ $server == *13 ]] && version=tls1_3 || version=tls1_2
	for name in k-p256 k-rsa; do
		id=$(p11a_identity_id "$name")
		[[ $name == k-p256 ]] && scheme='ecdsa_[a-z0-9_]+' ||
			scheme='rsa_(pss_rsae|pkcs1)_sha(256|384|512)'
		tls_provider_and_connect "${TLS_SERVER_PORT[$server]}" "$version" \
			"$name" "$id" "$scheme" "$server"
		passed=$((passed + 2))
	done
done
[[ $passed -eq 16 ]] || p11a_fail "expected 16 handshakes, did $passed"
echo "ok: $passed handshakes with hash-and-sign-only card keys, verified by the servers"
