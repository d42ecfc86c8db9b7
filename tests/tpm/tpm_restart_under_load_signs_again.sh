#!/usr/bin/env bash
# swtpm restarted under load (the TPM forgets every loaded object and
# session; tpm2-pkcs11 then answers CKR_GENERAL_ERROR for good): the
# agent restarts the module's helper, logs in again with the cached PIN,
# and the TPM token signs again within 10 s, without an agent restart;
# STATUS does not say logged-in while it fails; a SoftHSM token on
# another module signs all along, every signature verified.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tpm_lib.sh"

tpm_setup
tpm_token tok 123456 k-p256:p256
p11a_make_token B 123456 b-ec:p256
export P11A_PIN=123456
tpm_start_agent --pin-source env:P11A_PIN --module "$P11A_MODULE"
p11a_list
t=$(p11a_identity_id k-p256)
b=$(p11a_identity_id b-ec)
p11a_sign_verify "$t" ecdsa_secp256r1_sha256 "$TLS_DIR" k-p256

tload= bload=
trap 'rc=$?; set +e; touch "$P11A_TMP/stop"; kill $tload $bload 2>/dev/null; (exit $rc); tpm_cleanup' EXIT
# t_load: the TPM's client signs (verified) until $P11A_TMP/stop exists
t_load() {
	local out
	while [[ ! -e $P11A_TMP/stop ]]; do
		p11a_random_file "$P11A_TMP/tl.msg" 64
		out=$("$P11A_TRY" sign "$t" ecdsa_secp256r1_sha256 \
			"$P11A_TMP/tl.msg" "$P11A_TMP/tl.sig" 2>&1) || true
		if [[ $out == OK ]] && ! p11a_verify "$P11A_TMP/tl.sig" \
			"$P11A_TMP/tl.msg" "$TLS_DIR/k-p256.pub.pem" \
			ecdsa_secp256r1_sha256 >/dev/null 2>&1; then
			out=BAD_SIGNATURE
		fi
		echo "$out"
		flags=$("$P11A_TRY" token-flags tok 2>&1) || true
		[[ $out == OK || $flags != *logged-in* ]] || echo "STATUS $flags after $out"
	done
}
"$P11A_TRY" load "$b" ecdsa_secp256r1_sha256 "$P11A_TMP/B/b-ec.pub.pem" 8 \
	>"$P11A_TMP/bload.out" 2>&1 &
bload=$!
t_load >"$P11A_TMP/tload.out" &
tload=$!
sleep 1
"$P11A_TPM" restart "$TPM_DIR" || p11a_fail "swtpm did not restart"
t0=$(now_ms)
ok=0
for ((i = 0; i < 200; i++)); do
	p11a_random_file "$P11A_TMP/m" 64
	out=$("$P11A_TRY" sign "$t" ecdsa_secp256r1_sha256 "$P11A_TMP/m" \
		"$P11A_TMP/s" 2>&1) || true
	[[ $out == OK ]] && { ok=1; break; }
	sleep 0.05
done
((ok)) || p11a_fail "the TPM token does not sign again after swtpm restarted: $out"
p11a_verify "$P11A_TMP/s" "$P11A_TMP/m" "$TLS_DIR/k-p256.pub.pem" ecdsa_secp256r1_sha256
elapsed=$(($(now_ms) - t0))
((elapsed < 10000)) || p11a_fail "the TPM token signed again only after $elapsed ms"
echo "the TPM token signs again $elapsed ms after swtpm restarted"
wait "$bload" || true
touch "$P11A_TMP/stop"
wait "$tload"
grep -q '^OK' "$P11A_TMP/bload.out" ||
	p11a_fail "the SoftHSM token's client: $(cat "$P11A_TMP/bload.out")"
echo "SoftHSM token under the restart: $(cat "$P11A_TMP/bload.out")"
echo "TPM token's client: $(sort "$P11A_TMP/tload.out" | uniq -c | tr -s ' \n' ' ')"
! grep -q BAD_SIGNATURE "$P11A_TMP/tload.out" || p11a_fail "a bad signature"
! grep -q '^STATUS' "$P11A_TMP/tload.out" ||
	p11a_fail "STATUS said logged-in while the TPM failed: $(grep '^STATUS' "$P11A_TMP/tload.out" | head -1)"
grep -q 'helper was restarted: token tok' "$P11A_AGENT_LOG" ||
	p11a_fail "the log does not say why the helper was restarted"
grep -q "module libtpm2_pkcs11.*: ERROR" "$P11A_AGENT_LOG" ||
	p11a_fail "tpm2-pkcs11's own error lines are not in the log with its name"
fault_flags=$("$P11A_TRY" token-flags tok)
[[ $fault_flags == "OK present,logged-in" ]] || p11a_fail "STATUS at the end: $fault_flags"
p11a_agent_alive
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
