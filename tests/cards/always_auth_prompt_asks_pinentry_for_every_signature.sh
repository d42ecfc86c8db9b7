#!/usr/bin/env bash
# always-auth = prompt (per identity): an always-authenticate key (a PIV
# 9c key) gets the PIN of each signature from pinentry (the fake one of
# tests/config, found in PATH), not from the cache: 50 signatures in a
# row on one connection (p11a-try), 50 GETPINs, each signature verified.  A normal key beside it asks nothing.  A
# cancelled dialog refuses that signature (DENIED, exit 1) without
# logging the token out; a wrong PIN is PIN_INCORRECT for that signature
# only.  The same key with the default (cached) asks nothing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

p11a_setup_dir
p11a_make_token piv 123456 k-9a:p256 k-9c:p256:always-auth
export P11A_PIN=123456
fake=$(realpath "$(dirname "${BASH_SOURCE[0]}")/../config/fake-pinentry")
mkdir -p "$P11A_TMP/bin"
# the dialog's answer comes from files the test changes between signatures
cat >"$P11A_TMP/bin/pinentry" <<EOS
#!/usr/bin/env bash
export FAKE_PINENTRY_MODE=\$(cat "$P11A_TMP/mode") FAKE_PINENTRY_DATA=\$(cat "$P11A_TMP/pin")
export FAKE_PINENTRY_LOG="$P11A_TMP/pinentry.log"
exec "$fake" "\$@"
EOS
chmod +x "$P11A_TMP/bin/pinentry"
echo ok >"$P11A_TMP/mode"
echo 123456 >"$P11A_TMP/pin"
: >"$P11A_TMP/pinentry.log"
export PATH=$P11A_TMP/bin:$PATH
getpins() { grep -c '^GETPIN$' "$P11A_TMP/pinentry.log" || true; }
dir=$P11A_TMP/piv

p11a_start_agent --pin-source env:P11A_PIN \
	--identity 'pkcs11:token=piv;object=k-9c' --always-auth prompt \
	--identity 'pkcs11:token=piv;object=k-9a'
p11a_list
c=$(p11a_identity_id k-9c)
a=$(p11a_identity_id k-9a)
p11a_sign_verify "$c" ecdsa_secp256r1_sha256 "$dir" k-9c
[[ $(getpins) -eq 1 ]] || p11a_fail "$(getpins) PIN dialogs after 1 signature"
p11a_expect_exit 0 "$P11A_TRY" signs "$c" ecdsa_secp256r1_sha256 \
	"$dir/k-9c.pub.pem" 50
[[ $P11A_OUTPUT == "OK n=50 "* ]] ||
	p11a_fail "50 signatures in a row: $P11A_OUTPUT"
[[ $(getpins) -eq 51 ]] || p11a_fail "$(getpins) PIN dialogs after 51 signatures"
grep -q '^SETDESC .*k-9c' "$P11A_TMP/pinentry.log" ||
	p11a_fail "the dialog does not name the key: $(cat "$P11A_TMP/pinentry.log")"
p11a_sign_verify "$a" ecdsa_secp256r1_sha256 "$dir" k-9a
[[ $(getpins) -eq 51 ]] || p11a_fail "a normal key asked for a PIN"

p11a_random_file "$P11A_TMP/msg"
echo cancel >"$P11A_TMP/mode"
p11a_expect_exit 1 "$P11AGENT" sign --identity "$c" \
	--scheme ecdsa_secp256r1_sha256 --in "$P11A_TMP/msg" --out "$P11A_TMP/sig"
p11a_expect_output_matches 'denied'
echo ok >"$P11A_TMP/mode"
echo 000000 >"$P11A_TMP/pin"
p11a_expect_exit 7 "$P11AGENT" sign --identity "$c" \
	--scheme ecdsa_secp256r1_sha256 --in "$P11A_TMP/msg" --out "$P11A_TMP/sig"
echo 123456 >"$P11A_TMP/pin"
p11a_sign_verify "$c" ecdsa_secp256r1_sha256 "$dir" k-9c
p11a_sign_verify "$a" ecdsa_secp256r1_sha256 "$dir" k-9a
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM"

# the default: the cached PIN, no dialog
: >"$P11A_TMP/pinentry.log"
p11a_start_agent --pin-source env:P11A_PIN --identity 'pkcs11:token=piv'
p11a_sign_verify "$c" ecdsa_secp256r1_sha256 "$dir" k-9c
[[ $(getpins) -eq 0 ]] || p11a_fail "always-auth = cached asked for a PIN"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM"
echo ok
