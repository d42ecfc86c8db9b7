#!/usr/bin/env bash
# The integration suite on a TPM 2.0 (swtpm) through tpm2-pkcs11, with
# one TPM and one token for all checks: RSA-2048 and P-256 keys made on
# the TPM are listed with their schemes; every scheme signs (message and
# digest form), verified with OpenSSL against the public key and the
# certificate; LOCK and UNLOCK; TLS 1.2 and 1.3 handshakes against
# openssl s_server and gnutls-serv, which verify our CertificateVerify,
# through the provider in s_client, `p11agent connect` and curl through
# `p11agent tunnel`; pkcs11-tool signs with both keys through
# p11agent-pkcs11.so; what the module prints on stderr is in the agent's
# log with the module's name.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tpm_lib.sh"

RSA_SCHEMES=rsa_pkcs1_md5_sha1,rsa_pkcs1_sha1,rsa_pkcs1_sha256,rsa_pkcs1_sha384,rsa_pkcs1_sha512,rsa_pss_rsae_sha256,rsa_pss_rsae_sha384,rsa_pss_rsae_sha512
EC_SCHEMES=ecdsa_sha1,ecdsa_secp256r1_sha256,ecdsa_secp384r1_sha384,ecdsa_secp521r1_sha512
sorted() { tr , '\n' <<<"$1" | sort | paste -sd, -; }

KEYS=(k-rsa:rsa2048 k-p256:p256)
tpm_setup
tpm_token tok 123456 "${KEYS[@]}"
tls_server_cert
TLS_AUDIT=$P11A_TMP/audit.log
export P11A_PIN=123456
tpm_start_agent --pin-source env:P11A_PIN --audit "$TLS_AUDIT"
p11a_list
[[ ${#P11A_ID_ID[@]} -eq 2 ]] ||
	p11a_fail "list shows ${#P11A_ID_ID[@]} identities, expected 2: ${P11A_ID_URI[*]}"

n=0
for k in "k-rsa $RSA_SCHEMES 2048" "k-p256 $EC_SCHEMES 256"; do
	read -r name want bits <<<"$k"
	i=$(p11a_find_identity "$name")
	[[ $(sorted "${P11A_ID_SCHEMES[$i]}") == "$(sorted "$want")" ]] ||
		p11a_fail "$name lists '${P11A_ID_SCHEMES[$i]}', expected '$want'"
	[[ ${P11A_ID_BITS[$i]} == "$bits" ]] ||
		p11a_fail "$name: ${P11A_ID_BITS[$i]} bits, expected $bits"
	[[ ${P11A_ID_URI[$i]} == *"model=SW%20%20%20TPM;"* ]] ||
		p11a_fail "$name: the URI does not give the TPM's model unpadded: ${P11A_ID_URI[$i]}"
	IFS=, read -r -a list <<<"${P11A_ID_SCHEMES[$i]}"
	for scheme in "${list[@]}"; do
		p11a_sign_verify "${P11A_ID_ID[$i]}" "$scheme" "$TLS_DIR" "$name"
		# pasted back, the listed URI names the same key
		p11a_sign_verify "${P11A_ID_URI[$i]}" "$scheme" "$TLS_DIR" "$name"
		n=$((n + 2))
	done
done
echo "ok: $n signatures on the TPM, every listed scheme, verified"

p11a_lock_unlock_signs k-p256 ecdsa_secp256r1_sha256 "$TLS_DIR"

# TLS 1.2 (RSA with PKCS#1 v1.5) and 1.3 (RSA-PSS), openssl s_server and
# gnutls-serv
tls_verifying_servers_matrix "${KEYS[@]}"

# pkcs11-tool through p11agent-pkcs11.so: the TPM's keys as the agent
# shows them
p11a_front_module_signs tok "$TLS_DIR" k-rsa SHA256-RSA-PKCS:rsa_pkcs1_sha256 \
	SHA384-RSA-PKCS-PSS:rsa_pss_rsae_sha384
p11a_front_module_signs tok "$TLS_DIR" k-p256 ECDSA-SHA256:ecdsa_secp256r1_sha256

# tpm2-pkcs11 prints its own lines (it warns about its store at start):
# each one is the agent's, with the module's name
! grep -v '^p11agentd\[' "$P11A_AGENT_LOG" | grep -q . ||
	p11a_fail "lines in the agent's log that are not the agent's: $(grep -v '^p11agentd\[' "$P11A_AGENT_LOG" | head -3)"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
