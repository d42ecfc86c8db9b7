#!/usr/bin/env bash
# The provider signs with RSA-PSS, ECDSA and Ed25519 in the stock openssl
# commands that carry a signature algorithm: `cms -sign` (which asks the
# signature context for its padding as a string: it crashed when that
# went unanswered), `dgst -sign`, `req -new` and `req -new -x509`, and
# `x509 -req` with the agent key as the CA key.  Every result is verified
# by stock openssl with the default provider against the public key or
# certificate, and for PSS with the exact salt length (the agent signs
# with salt = hash length and MGF1 of the same hash, as TLS does).
# Settings the agent cannot do (another salt length or MGF1 digest, no
# padding, X9.31) fail with the provider's error on OpenSSL's error
# stack: no crash, no output, no wrong signature.
#
# Ed25519 goes through req and x509 only: OpenSSL 3.0's cms and dgst do
# not sign with Ed25519 keys at all, not even with key files.
#
# The parameters in both forms (numbers and strings) are compared with
# the default provider's by p11a_sig_params.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"

tls_setup k-rsa:rsa2048 k-p256:p256 k-ed:ed25519
p11a_list
ossl() {
	tls_openssl "$1" "${TLS_PROVIDER[@]}" "${@:2}"
}
msg=$P11A_TMP/msg
p11a_random_file "$msg" 3000
rsa=p11agent:$(p11a_identity_id k-rsa)
p256=p11agent:$(p11a_identity_id k-p256)
ed=p11agent:$(p11a_identity_id k-ed)
declare -A salt=([sha256]=32 [sha384]=48 [sha512]=64)

# run_ok WHAT CMD...: CMD must exit 0 (a signal shows as >= 128).
run_ok() {
	local what=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	[[ $rc -eq 0 ]] || p11a_fail "$what: exit $rc: $out"
}

# fails_cleanly WHAT OUTFILE CMD...: CMD must exit non-zero but not by a
# signal or a sanitizer report, leave no OUTFILE, and say why in an
# error of the p11agent provider.
fails_cleanly() {
	local what=$1 outfile=$2 out rc=0
	shift 2
	rm -f "$outfile"
	out=$("$@" 2>&1) || rc=$?
	[[ $rc -ne 0 ]] || p11a_fail "$what: succeeded"
	[[ $rc -lt 124 ]] || p11a_fail "$what: exit $rc (crash or hang): $out"
	! grep -Eq 'Sanitizer|runtime error' <<<"$out" ||
		p11a_fail "$what: sanitizer report: $out"
	grep -Eq '^[0-9A-F]+:error:[0-9A-F]+:p11agent::' <<<"$out" ||
		p11a_fail "$what: no p11agent error on the stack: $out"
	[[ ! -s $outfile ]] || p11a_fail "$what: wrote $outfile"
}

# ---- cms --------------------------------------------------------------------

# cms_sign NAME OUT ARGS...: a CMS signature of $msg with the content in it.
cms_sign() {
	local name=$1 out=$2
	shift 2
	ossl cms -sign -binary -nodetach -outform DER -in "$msg" \
		-signer "$TLS_DIR/$name.pem" -out "$out" "$@"
}

# cms_verified WHAT FILE: stock openssl verifies it and gets $msg back.
cms_verified() {
	run_ok "$1: cms -verify" openssl cms -verify -inform DER -in "$2" \
		-CAfile "$TLS_DIR/ca.pem" -purpose any -out "$2.content"
	cmp -s "$2.content" "$msg" || p11a_fail "$1: cms -verify gave other content"
}

cms=$P11A_TMP/msg.cms
for md in sha256 sha384 sha512; do
	for attrs in "" -noattr; do
		what="cms -sign $attrs -md $md PSS"
		run_ok "$what" cms_sign k-rsa "$cms" -inkey "$rsa" -md "$md" \
			$attrs -keyopt rsa_padding_mode:pss
		cms_verified "$what" "$cms"
		out=$(openssl cms -cmsout -print -inform DER -in "$cms")
		grep -q 'algorithm: rsassaPss' <<<"$out" ||
			p11a_fail "$what: the signer info does not name RSASSA-PSS: $out"
		grep -Eq "INTEGER +:$(printf %X "${salt[$md]}")\$" <<<"$out" ||
			p11a_fail "$what: the PSS parameters lack salt ${salt[$md]}: $out"
	done
done
run_ok "cms -sign PSS salt digest" cms_sign k-rsa "$cms" -inkey "$rsa" \
	-keyopt rsa_padding_mode:pss -keyopt rsa_pss_saltlen:digest
cms_verified "cms -sign PSS salt digest" "$cms"
run_ok "cms -sign PKCS#1" cms_sign k-rsa "$cms" -inkey "$rsa"
cms_verified "cms -sign PKCS#1" "$cms"
openssl cms -cmsout -print -inform DER -in "$cms" |
	grep -q 'algorithm: rsaEncryption' ||
	p11a_fail "cms -sign PKCS#1: the signer info does not name rsaEncryption"
for attrs in "" -noattr; do
	run_ok "cms -sign $attrs ECDSA" cms_sign k-p256 "$cms" -inkey "$p256" \
		$attrs
	cms_verified "cms -sign $attrs ECDSA" "$cms"
done
for opt in rsa_pss_saltlen:20 rsa_pss_saltlen:max rsa_mgf1_md:sha1; do
	fails_cleanly "cms -sign PSS with $opt" "$cms" cms_sign k-rsa "$cms" \
		-inkey "$rsa" -keyopt rsa_padding_mode:pss -keyopt "$opt"
done
echo "ok: cms: PSS with and without signed attributes, PKCS#1, ECDSA; bad PSS fails cleanly"

# ---- dgst -------------------------------------------------------------------

sig=$P11A_TMP/dgst.sig
for md in sha256 sha384 sha512; do
	for sl in "" digest "${salt[$md]}"; do
		opts=(-sigopt rsa_padding_mode:pss)
		[[ -z $sl ]] || opts+=(-sigopt "rsa_pss_saltlen:$sl")
		run_ok "dgst -$md PSS salt '$sl'" ossl dgst "-$md" -sign "$rsa" \
			"${opts[@]}" -out "$sig" "$msg"
		run_ok "dgst -$md PSS salt '$sl' verifies with salt ${salt[$md]}" \
			openssl dgst "-$md" -verify "$TLS_DIR/k-rsa.pub.pem" \
			-sigopt rsa_padding_mode:pss \
			-sigopt "rsa_pss_saltlen:${salt[$md]}" \
			-sigopt "rsa_mgf1_md:$md" -signature "$sig" "$msg"
	done
	run_ok "dgst -$md ECDSA" ossl dgst "-$md" -sign "$p256" -out "$sig" "$msg"
	run_ok "dgst -$md ECDSA verifies" openssl dgst "-$md" \
		-verify "$TLS_DIR/k-p256.pub.pem" -signature "$sig" "$msg"
done
echo "ok: dgst: PSS with SHA-256/384/512, salt unset, digest, hash length; ECDSA"

for opt in rsa_pss_saltlen:20 rsa_pss_saltlen:max rsa_pss_saltlen:auto \
	rsa_pss_saltlen:-5 rsa_pss_saltlen:many rsa_mgf1_md:sha1 \
	rsa_mgf1_md:sha512; do
	fails_cleanly "dgst PSS with $opt" "$sig" ossl dgst -sha256 \
		-sign "$rsa" -sigopt rsa_padding_mode:pss -sigopt "$opt" \
		-out "$sig" "$msg"
done
for pad in none x931; do
	fails_cleanly "dgst with padding $pad" "$sig" ossl dgst -sha256 \
		-sign "$rsa" -sigopt "rsa_padding_mode:$pad" -out "$sig" "$msg"
done
echo "ok: dgst: other salt lengths, MGF1 digests and paddings fail cleanly"

# ---- req and x509 -----------------------------------------------------------

# signed_with CERT-OR-CSR KIND ALG [SALT]: its signature algorithm is ALG
# (and for PSS the salt length is SALT).
signed_with() {
	local text
	text=$(openssl "$2" -in "$1" -noout -text)
	grep -Eq "Signature Algorithm: ?$3" <<<"$text" ||
		p11a_fail "$1 is not signed with $3: $text"
	[[ -z ${4:-} ]] || grep -q "Salt Length: 0x$(printf %X "$4")\$" <<<"$text" ||
		p11a_fail "$1: PSS salt is not $4: $text"
}

# ca_and_leaf NAME KEY ALG SALT ARGS...: with KEY (sign options ARGS),
# req -new -x509 makes a CA certificate, req -new a CSR and x509 -req a
# leaf certificate for the server's CSR; stock openssl verifies all three.
ca_and_leaf() {
	local name=$1 key=$2 alg=$3 sl=$4 d=$P11A_TMP/$1
	shift 4
	run_ok "$name: req -new -x509" ossl req -new -x509 -key "$key" \
		-subj "/CN=ca-$name" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign -days 2 "$@" -out "$d.ca.pem"
	run_ok "$name: the CA certificate verifies" openssl verify \
		-check_ss_sig -CAfile "$d.ca.pem" "$d.ca.pem"
	signed_with "$d.ca.pem" x509 "$alg" "$sl"
	run_ok "$name: req -new" ossl req -new -key "$key" \
		-subj "/CN=csr-$name" "$@" -out "$d.csr"
	openssl req -in "$d.csr" -verify -noout 2>&1 | grep -q 'verify OK' ||
		p11a_fail "$name: the CSR does not verify"
	signed_with "$d.csr" req "$alg" "$sl"
	run_ok "$name: x509 -req" ossl x509 -req -in "$TLS_DIR/srv.csr" \
		-CA "$d.ca.pem" -CAkey "$key" -CAcreateserial -days 2 "$@" \
		-out "$d.leaf.pem"
	run_ok "$name: the leaf certificate verifies" openssl verify \
		-CAfile "$d.ca.pem" "$d.leaf.pem"
	signed_with "$d.leaf.pem" x509 "$alg" "$sl"
}

pss=(-sigopt rsa_padding_mode:pss)
ca_and_leaf pss256 "$rsa" rsassaPss 32 -sha256 "${pss[@]}"
ca_and_leaf pss384 "$rsa" rsassaPss 48 -sha384 "${pss[@]}" \
	-sigopt rsa_pss_saltlen:digest
ca_and_leaf pss512 "$rsa" rsassaPss 64 -sha512 "${pss[@]}" \
	-sigopt rsa_pss_saltlen:64
ca_and_leaf pkcs1 "$rsa" sha256WithRSAEncryption "" -sha256
ca_and_leaf ecdsa "$p256" ecdsa-with-SHA384 "" -sha384
ca_and_leaf ed25519 "$ed" ED25519 ""
echo "ok: req -x509, req and x509 -req: PSS (SHA-256/384/512), PKCS#1, ECDSA, Ed25519"

out=$P11A_TMP/bad.pem
for opt in rsa_pss_saltlen:20 rsa_pss_saltlen:max rsa_mgf1_md:sha1; do
	fails_cleanly "req -new -x509 PSS with $opt" "$out" ossl req -new -x509 \
		-key "$rsa" -subj /CN=bad "${pss[@]}" -sigopt "$opt" -out "$out"
	fails_cleanly "req -new PSS with $opt" "$out" ossl req -new \
		-key "$rsa" -subj /CN=bad "${pss[@]}" -sigopt "$opt" -out "$out"
	fails_cleanly "x509 -req PSS with $opt" "$out" ossl x509 -req \
		-in "$TLS_DIR/srv.csr" -CA "$P11A_TMP/pss256.ca.pem" \
		-CAkey "$rsa" -CAcreateserial "${pss[@]}" -sigopt "$opt" \
		-out "$out"
done
echo "ok: req and x509 with PSS the agent cannot do fail cleanly"

# ---- the parameters, against the default provider's -----------------------

[[ -n ${P11A_SIG_PARAMS:-} && -x $P11A_SIG_PARAMS ]] ||
	p11a_fail "P11A_SIG_PARAMS must name the parameter test program"
out=$("$P11A_SIG_PARAMS" "$P11A_PROVIDER_DIR" "$rsa" "$p256" "$ed" 2>&1) ||
	p11a_fail "p11a_sig_params: $out"
echo "ok: every signature parameter answers as the default provider's ($(grep -c '^ok:' <<<"$out") cases)"
