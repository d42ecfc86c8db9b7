#!/usr/bin/env bash
# Every identity signs with every scheme it lists, in message form and
# (except Ed25519) in digest form; each signature verifies with OpenSSL
# against the public key read from the token and against the certificate.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The schemes each key type must list (common/scheme.c: every ECDSA
# scheme on every curve, every RSA scheme whose encoding fits the modulus).
RSA_SCHEMES=rsa_pkcs1_md5_sha1,rsa_pkcs1_sha1,rsa_pkcs1_sha256,rsa_pkcs1_sha384,rsa_pkcs1_sha512,rsa_pss_rsae_sha256,rsa_pss_rsae_sha384,rsa_pss_rsae_sha512
EC_SCHEMES=ecdsa_sha1,ecdsa_secp256r1_sha256,ecdsa_secp384r1_sha384,ecdsa_secp521r1_sha512
ED_SCHEMES=ed25519

# NAME TYPE BITS EXPECTED-SCHEMES
KEYS=(
	"k-rsa2048 rsa2048 2048 $RSA_SCHEMES"
	"k-rsa3072 rsa3072 3072 $RSA_SCHEMES"
	"k-p256 p256 256 $EC_SCHEMES"
	"k-p384 p384 384 $EC_SCHEMES"
	"k-p521 p521 521 $EC_SCHEMES"
	"k-ed25519 ed25519 - $ED_SCHEMES"
)

sorted() { tr , '\n' <<<"$1" | sort | paste -sd, -; }

p11a_setup_dir
specs=()
for k in "${KEYS[@]}"; do
	read -r name type _ _ <<<"$k"
	specs+=("$name:$type")
done
p11a_make_token tok 1234 "${specs[@]}"
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN
p11a_list

[[ ${#P11A_ID_ID[@]} -eq ${#KEYS[@]} ]] ||
	p11a_fail "list shows ${#P11A_ID_ID[@]} identities, expected ${#KEYS[@]}"

dir=$P11A_TMP/tok
msg=$P11A_TMP/msg
dgst=$P11A_TMP/msg.dgst
sig=$P11A_TMP/sig
expected=0
verified=0
for k in "${KEYS[@]}"; do
	read -r name type bits want <<<"$k"
	i=$(p11a_find_identity "$name")
	id=${P11A_ID_ID[$i]}
	uri=${P11A_ID_URI[$i]}
	schemes=${P11A_ID_SCHEMES[$i]}
	[[ $(sorted "$schemes") == "$(sorted "$want")" ]] ||
		p11a_fail "$name lists schemes '$schemes', expected '$want'"
	if [[ $bits != - && ${P11A_ID_BITS[$i]} != "$bits" ]]; then
		p11a_fail "$name: list says ${P11A_ID_BITS[$i]} bits, expected $bits"
	fi
	[[ ${P11A_ID_SUBJECT[$i]} =~ CN\ ?=\ ?$name ]] ||
		p11a_fail "$name: subject '${P11A_ID_SUBJECT[$i]}' is not CN=$name"

	IFS=, read -r -a list <<<"$schemes"
	for scheme in "${list[@]}"; do
		forms=(message)
		[[ $scheme == ed25519 ]] || forms+=(digest)
		for form in "${forms[@]}"; do
			expected=$((expected + 1))
			p11a_random_file "$msg"
			rm -f "$sig"
			if [[ $form == message ]]; then
				# by id
				p11a_expect_exit 0 "$P11AGENT" sign --identity "$id" \
					--scheme "$scheme" --in "$msg" --out "$sig"
			else
				# by URI, over a digest made by OpenSSL
				p11a_digest "$scheme" "$msg" "$dgst"
				p11a_expect_exit 0 "$P11AGENT" sign --identity "$uri" \
					--scheme "$scheme" --digest --in "$dgst" --out "$sig"
			fi
			p11a_verify "$sig" "$msg" "$dir/$name.pub.pem" "$scheme"
			p11a_verify "$sig" "$msg" "$dir/$name.pem" "$scheme"
			# and a different message must not verify
			printf x >>"$msg"
			! p11a_check_sig "$sig" "$msg" "$dir/$name.pub.pem" "$scheme" ||
				p11a_fail "$name $scheme: signature verifies for another message"
			verified=$((verified + 1))
		done
	done
done

# 2 RSA keys x 8 schemes x 2 forms + 3 EC keys x 4 x 2 + Ed25519 x 1 x 1
[[ $expected -eq 57 ]] ||
	p11a_fail "expected 57 signatures in all, the identities gave $expected"
[[ $verified -eq 57 ]] || p11a_fail "verified $verified signatures, expected 57"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo "ok: $verified signatures verified"
