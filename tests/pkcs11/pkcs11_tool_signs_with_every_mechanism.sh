#!/usr/bin/env bash
# pkcs11-tool --sign through the module with every mechanism it offers
# (raw and hashed; PSS with its parameters; ECDSA on P-256/384/521;
# EdDSA), each signature verified with OpenSSL against the public key
# read from the real token; mechanisms a key cannot do are refused.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
p11m_need pkcs11-tool

p11a_setup_dir
p11a_make_token tok 1234 r:rsa2048 e:p256 e384:p384 e521:p521 ed:ed25519
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN
dir=$P11A_TMP/tok
msg=$P11A_TMP/msg
input=$P11A_TMP/input
sig=$P11A_TMP/sig

# DER DigestInfo prefixes (RFC 8017 9.2) for CKM_RSA_PKCS input
declare -A DI=(
	[sha1]=3021300906052b0e03021a05000414
	[sha256]=3031300d060960864801650304020105000420
	[sha384]=3041300d060960864801650304020205000430
	[sha512]=3051300d060960864801650304020305000440
)

# sign NAME MECHANISM INPUT-KIND SCHEME [pkcs11-tool args...]
#   INPUT-KIND: msg (the message), dgst (its digest), di (DigestInfo)
signed=0
sign() {
	local name=$1 mech=$2 kind=$3 scheme=$4 md
	shift 4
	p11a_random_file "$msg"
	md=$(p11a_scheme_md "$scheme")
	case $kind in
	msg) cp "$msg" "$input" ;;
	dgst) openssl dgst "-$md" -binary "$msg" >"$input" ;;
	di)
		{
			# shellcheck disable=SC2059,SC2001 # the format is the bytes
			printf "$(sed 's/../\\x&/g' <<<"${DI[$md]}")"
			openssl dgst "-$md" -binary "$msg"
		} >"$input"
		;;
	esac
	rm -f "$sig"
	p11a_expect_exit 0 p11m_ext pkcs11-tool --module "$P11M_MODULE" \
		--token-label tok --id "$(cat "$dir/$name.id")" --sign \
		--mechanism "$mech" --input-file "$input" --output-file "$sig" "$@"
	p11a_verify "$sig" "$msg" "$dir/$name.pub.pem" "$scheme"
	printf x >>"$msg"
	! p11a_check_sig "$sig" "$msg" "$dir/$name.pub.pem" "$scheme" ||
		p11a_fail "$name $mech: signature verifies for another message"
	signed=$((signed + 1))
}

for h in sha1 sha256 sha384 sha512; do
	sign r RSA-PKCS di "rsa_pkcs1_$h"
	sign r "${h^^}-RSA-PKCS" msg "rsa_pkcs1_$h"
done
sign r RSA-PKCS dgst rsa_pkcs1_md5_sha1
for h in sha256 sha384 sha512; do
	sign r RSA-PKCS-PSS dgst "rsa_pss_rsae_$h" --hash-algorithm "${h^^}" \
		--mgf "MGF1-${h^^}" --salt-len -1
	sign r "${h^^}-RSA-PKCS-PSS" msg "rsa_pss_rsae_$h"
done
for name in e e384 e521; do
	sign "$name" ECDSA dgst ecdsa_sha1 --signature-format openssl
	for s in secp256r1_sha256 secp384r1_sha384 secp521r1_sha512; do
		sign "$name" ECDSA dgst "ecdsa_$s" --signature-format openssl
		sign "$name" "ECDSA-${s##*_}" msg "ecdsa_$s" \
			--signature-format openssl
	done
	sign "$name" ECDSA-SHA1 msg ecdsa_sha1 --signature-format openssl
done
sign ed EDDSA msg ed25519

# 4 x 2 + 1 + 3 x 2 RSA, 3 x 8 ECDSA, 1 EdDSA
[[ $signed -eq 40 ]] || p11a_fail "made $signed signatures, expected 40"

# refused: a PSS salt other than the hash length, another key's mechanism
p11a_random_file "$msg"
openssl dgst -sha256 -binary "$msg" >"$input"
p11a_expect_exit 1 p11m_ext pkcs11-tool --module "$P11M_MODULE" \
	--token-label tok --id "$(cat "$dir/r.id")" --sign \
	--mechanism RSA-PKCS-PSS --hash-algorithm SHA256 --mgf MGF1-SHA256 \
	--salt-len 20 --input-file "$input" --output-file "$sig"
p11a_expect_output_matches 'CKR_MECHANISM_PARAM_INVALID'
p11a_expect_exit 1 p11m_ext pkcs11-tool --module "$P11M_MODULE" \
	--token-label tok --id "$(cat "$dir/r.id")" --sign --mechanism ECDSA \
	--input-file "$input" --output-file "$sig"
p11a_expect_output_matches 'CKR_MECHANISM_INVALID'
echo "ok: $signed signatures verified"
