#!/usr/bin/env bash
# A key asked for a scheme of another key type is refused with exit 6 and
# a message naming the scheme; an identity that does not exist gives
# exit 4.  Nothing is written as a signature, and the agent keeps signing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

p11a_setup_dir
p11a_make_token tok 1234 r:rsa2048 e:p256 ed:ed25519
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN
p11a_list
rsa=$(p11a_identity_id r)
ec=$(p11a_identity_id e)
ed=$(p11a_identity_id ed)
rsa_uri=$(p11a_identity_uri r)

msg=$P11A_TMP/msg
sig=$P11A_TMP/sig
p11a_random_file "$msg" 100

# refused: identity, scheme
refuse() {
	rm -f "$sig"
	p11a_expect_exit 6 "$P11AGENT" sign --identity "$1" --scheme "$2" \
		--in "$msg" --out "$sig"
	p11a_expect_output_matches "$2"
	[[ ! -s $sig ]] || p11a_fail "a refused sign ($2) wrote a signature"
}
refuse "$rsa" ed25519
refuse "$rsa_uri" ed25519
refuse "$rsa" ecdsa_secp256r1_sha256
refuse "$ec" rsa_pss_rsae_sha256
refuse "$ec" rsa_pkcs1_sha256
refuse "$ec" ed25519
refuse "$ed" ecdsa_secp256r1_sha256
refuse "$ed" rsa_pss_rsae_sha256

# identities that do not exist
p11a_expect_exit 4 "$P11AGENT" sign --identity 00000000000000000000000000000000 \
	--scheme rsa_pss_rsae_sha256 --in "$msg" --out "$sig"
p11a_expect_exit 4 "$P11AGENT" sign --identity 'pkcs11:token=tok;object=nosuchkey' \
	--scheme rsa_pss_rsae_sha256 --in "$msg" --out "$sig"
p11a_expect_exit 4 "$P11AGENT" sign --identity 'pkcs11:token=nosuchtoken' \
	--scheme rsa_pss_rsae_sha256 --in "$msg" --out "$sig"

# the connection-level refusals did not disturb the agent
p11a_sign_verify "$rsa" rsa_pss_rsae_sha256 "$P11A_TMP/tok" r
p11a_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/tok" e
p11a_sign_verify "$ed" ed25519 "$P11A_TMP/tok" ed

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
