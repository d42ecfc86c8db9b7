#!/usr/bin/env bash
# lock logs out: signing then fails with exit 5; unlock with a wrong PIN
# fails with exit 7 and leaves the agent locked; unlock with the right
# PIN makes signing work again.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

p11a_setup_dir
p11a_make_token tok 4321 e:p256 r:rsa2048
export P11A_PIN=4321
p11a_start_agent --pin-source env:P11A_PIN
p11a_list
ec=$(p11a_identity_id e)
rsa=$(p11a_identity_id r)
dir=$P11A_TMP/tok
msg=$P11A_TMP/msg
sig=$P11A_TMP/sig
p11a_random_file "$msg" 64

p11a_sign_verify "$ec" ecdsa_secp256r1_sha256 "$dir" e

p11a_expect_exit 0 "$P11AGENT" lock
for pair in "$ec ecdsa_secp256r1_sha256" "$rsa rsa_pss_rsae_sha256"; do
	read -r id scheme <<<"$pair"
	rm -f "$sig"
	p11a_expect_exit 5 "$P11AGENT" sign --identity "$id" \
		--scheme "$scheme" --in "$msg" --out "$sig"
	p11a_expect_output_matches 'lock'
	[[ ! -s $sig ]] || p11a_fail "a locked agent wrote a signature"
done
# status still answers while locked
p11a_expect_exit 0 "$P11AGENT" status

export WRONG_PIN=0000
p11a_expect_exit 7 "$P11AGENT" unlock --pin-source env:WRONG_PIN
p11a_expect_exit 5 "$P11AGENT" sign --identity "$ec" \
	--scheme ecdsa_secp256r1_sha256 --in "$msg" --out "$sig"

printf '%s\n' 4321 >"$P11A_TMP/pin"
chmod 600 "$P11A_TMP/pin"
p11a_expect_exit 0 "$P11AGENT" unlock --pin-source "file:$P11A_TMP/pin"
p11a_sign_verify "$ec" ecdsa_secp256r1_sha256 "$dir" e
p11a_sign_verify "$rsa" rsa_pss_rsae_sha256 "$dir" r

# and once more, unlocking from the environment
p11a_expect_exit 0 "$P11AGENT" lock
p11a_expect_exit 5 "$P11AGENT" sign --identity "$rsa" \
	--scheme rsa_pkcs1_sha256 --in "$msg" --out "$sig"
export RIGHT_PIN=4321
p11a_expect_exit 0 "$P11AGENT" unlock --pin-source env:RIGHT_PIN
p11a_sign_verify "$rsa" rsa_pkcs1_sha256 "$dir" r

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
