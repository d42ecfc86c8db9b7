#!/usr/bin/env bash
# The integration suite on opencryptoki's soft token: an RSA-2048 key
# made on the token is listed with every RSA scheme; each signs (message
# and digest form), verified with OpenSSL against the public key and the
# certificate, by id and by the listed URI pasted back; LOCK and UNLOCK;
# TLS 1.2 and 1.3 handshakes against openssl s_server and gnutls-serv,
# which verify our CertificateVerify, through the provider in s_client,
# `p11agent connect` and curl through `p11agent tunnel`; pkcs11-tool
# signs through p11agent-pkcs11.so.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/ock_lib.sh"

RSA_SCHEMES=rsa_pkcs1_md5_sha1,rsa_pkcs1_sha1,rsa_pkcs1_sha256,rsa_pkcs1_sha384,rsa_pkcs1_sha512,rsa_pss_rsae_sha256,rsa_pss_rsae_sha384,rsa_pss_rsae_sha512
sorted() { tr , '\n' <<<"$1" | sort | paste -sd, -; }

KEYS=(k-rsa:rsa2048)
ock_setup tok 123456 "${KEYS[@]}"
tls_server_cert
TLS_AUDIT=$P11A_TMP/audit.log
export P11A_PIN=123456
ock_start_agent --pin-source env:P11A_PIN --audit "$TLS_AUDIT"
p11a_list
[[ ${#P11A_ID_ID[@]} -eq 1 ]] ||
	p11a_fail "list shows ${#P11A_ID_ID[@]} identities, expected 1: ${P11A_ID_URI[*]}"

i=$(p11a_find_identity k-rsa)
[[ $(sorted "${P11A_ID_SCHEMES[$i]}") == "$(sorted "$RSA_SCHEMES")" ]] ||
	p11a_fail "k-rsa lists '${P11A_ID_SCHEMES[$i]}', expected '$RSA_SCHEMES'"
[[ ${P11A_ID_BITS[$i]} == 2048 ]] || p11a_fail "k-rsa: ${P11A_ID_BITS[$i]} bits"
[[ ${P11A_ID_URI[$i]} == *"model=IBM%20SoftTok;"*"token=tok;"* ]] ||
	p11a_fail "k-rsa: the URI does not name opencryptoki's soft token: ${P11A_ID_URI[$i]}"
n=0
IFS=, read -r -a list <<<"${P11A_ID_SCHEMES[$i]}"
for scheme in "${list[@]}"; do
	p11a_sign_verify "${P11A_ID_ID[$i]}" "$scheme" "$TLS_DIR" k-rsa
	p11a_sign_verify "${P11A_ID_URI[$i]}" "$scheme" "$TLS_DIR" k-rsa
	# the digest form: the client hashes, the agent pads or wraps
	p11a_random_file "$P11A_TMP/dmsg"
	p11a_digest "$scheme" "$P11A_TMP/dmsg" "$P11A_TMP/dgst"
	p11a_expect_exit 0 "$P11AGENT" sign --identity "${P11A_ID_ID[$i]}" \
		--scheme "$scheme" --digest --in "$P11A_TMP/dgst" --out "$P11A_TMP/dsig"
	p11a_verify "$P11A_TMP/dsig" "$P11A_TMP/dmsg" "$TLS_DIR/k-rsa.pub.pem" "$scheme"
	n=$((n + 3))
done
echo "ok: $n signatures on opencryptoki, every listed scheme, verified"

p11a_lock_unlock_signs k-rsa rsa_pss_rsae_sha256 "$TLS_DIR"

# TLS 1.2 (RSA with PKCS#1 v1.5) and 1.3 (RSA-PSS), openssl s_server and
# gnutls-serv
tls_verifying_servers_matrix "${KEYS[@]}"

# pkcs11-tool through p11agent-pkcs11.so: the token as the agent shows it
p11a_front_module_signs tok "$TLS_DIR" k-rsa SHA256-RSA-PKCS:rsa_pkcs1_sha256 \
	SHA384-RSA-PKCS-PSS:rsa_pss_rsae_sha384

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
