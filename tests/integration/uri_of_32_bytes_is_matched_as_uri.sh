#!/usr/bin/env bash
# A pkcs11: URI that happens to be 32 bytes long (as long as an identity
# id) is matched as a URI: an id is 32 lowercase hex digits and a URI
# starts with pkcs11:, whatever their lengths.  URIs one byte shorter and
# longer sign too; 32 bytes that are neither an id nor a URI match
# nothing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

p11a_setup_dir
p11a_make_token team-a 1111 rsa-1:rsa2048 rsa-12:rsa2048 r:p256
p11a_start_agent --identity 'pkcs11:token=team-a?pin-value=1111'
p11a_list

uri32='pkcs11:token=team-a;object=rsa-1'
[[ ${#uri32} -eq 32 ]] || p11a_fail "test URI is ${#uri32} bytes, not 32"
p11a_sign_verify "$uri32" rsa_pss_rsae_sha256 "$P11A_TMP/team-a" rsa-1
# the scheme of a URI is case-insensitive (RFC 3986), its length no matter
p11a_sign_verify 'PKCS11:token=team-a;object=rsa-1' rsa_pkcs1_sha256 \
	"$P11A_TMP/team-a" rsa-1
p11a_sign_verify 'pkcs11:token=team-a;object=rsa-12' rsa_pss_rsae_sha256 \
	"$P11A_TMP/team-a" rsa-12
p11a_sign_verify 'pkcs11:token=team-a;object=r' ecdsa_secp256r1_sha256 \
	"$P11A_TMP/team-a" r
# the ids still sign
for name in rsa-1 rsa-12; do
	p11a_sign_verify "$(p11a_identity_id "$name")" rsa_pss_rsae_sha256 \
		"$P11A_TMP/team-a" "$name"
done

# the 32-byte URI names rsa-1, not rsa-12: its signature fails rsa-12's key
p11a_random_file "$P11A_TMP/msg"
p11a_expect_exit 0 "$P11AGENT" sign --identity "$uri32" \
	--scheme rsa_pss_rsae_sha256 --in "$P11A_TMP/msg" --out "$P11A_TMP/sig"
! p11a_check_sig "$P11A_TMP/sig" "$P11A_TMP/msg" \
	"$P11A_TMP/team-a/rsa-12.pub.pem" rsa_pss_rsae_sha256 ||
	p11a_fail "the signature by $uri32 verifies with rsa-12's key"

# 32 bytes that are neither: upper-case hex, or not hex at all
id=$(p11a_identity_id rsa-1)
for name in "${id^^}" 'token=team-a;object=rsa-1;type=p' \
	"${id:0:31}g"; do
	[[ ${#name} -eq 32 ]] || p11a_fail "'$name' is not 32 bytes"
	p11a_expect_exit 4 "$P11AGENT" sign --identity "$name" \
		--scheme rsa_pss_rsae_sha256 --in "$P11A_TMP/msg" \
		--out "$P11A_TMP/sig"
done

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
