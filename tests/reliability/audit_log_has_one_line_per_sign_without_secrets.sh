#!/usr/bin/env bash
# --audit FILE: one line per SIGN request that names a known identity,
# signed or refused (time, peer pid/uid/executable, identity, token,
# scheme, result, time taken), and never the data, its digest or the PIN.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"

fault_setup
pin=73915286
p11a_make_token A "$pin" a-ec:p256 a-rsa:rsa2048
export P11A_PIN=$pin
audit=$P11A_TMP/audit.log
p11a_start_agent --pin-source env:P11A_PIN --audit "$audit"
p11a_list
ec=$(p11a_identity_id a-ec)
rsa=$(p11a_identity_id a-rsa)
# a message whose hex and text would stand out in the log
printf 'AUDIT-SECRET-MESSAGE-%s' "$RANDOM$RANDOM" >"$P11A_TMP/msg"

pids=()
for _ in 1 2 3; do
	"$P11A_TRY" sign "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/msg" \
		"$P11A_TMP/sig" >/dev/null &
	pids+=($!)
	wait "${pids[-1]}" || p11a_fail "sign failed"
done
p11a_verify "$P11A_TMP/sig" "$P11A_TMP/msg" "$P11A_TMP/A/a-ec.pub.pem" \
	ecdsa_secp256r1_sha256
fault_expect OK sign "$rsa" rsa_pss_rsae_sha384 "$P11A_TMP/msg" "$P11A_TMP/sig"
fault_expect SCHEME_UNSUPPORTED sign "$ec" rsa_pss_rsae_sha256 \
	"$P11A_TMP/msg" "$P11A_TMP/sig"
p11a_expect_exit 0 "$P11AGENT" lock
fault_expect LOCKED sign "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/msg" \
	"$P11A_TMP/sig"
# an unknown identity names no key: nothing to audit
fault_expect IDENTITY_NOT_FOUND sign 0123456789abcdef0123456789abcdef \
	ecdsa_secp256r1_sha256 "$P11A_TMP/msg" "$P11A_TMP/sig"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"

cat "$audit"
p11a_expect_audit_records "$audit" 6
for i in 0 1 2; do
	grep -q "^[^ ]* sign pid=${pids[$i]} uid=$(id -u) exe=$(realpath "$P11A_TRY") identity=$ec token=\"A\" scheme=ecdsa_secp256r1_sha256 result=OK " "$audit" ||
		p11a_fail "no OK line for client pid ${pids[$i]}"
done
for want in "identity=$rsa .* scheme=rsa_pss_rsae_sha384 result=OK" \
	"identity=$ec .* scheme=rsa_pss_rsae_sha256 result=SCHEME_UNSUPPORTED" \
	"identity=$ec .* scheme=ecdsa_secp256r1_sha256 result=LOCKED"; do
	grep -Eq "$want" "$audit" || p11a_fail "no audit line matching /$want/"
done
# no secrets: not the PIN, not the message, not its digest, not its hex
msg_hex=$(od -An -tx1 "$P11A_TMP/msg" | tr -d ' \n')
digest=$(openssl dgst -sha256 -r "$P11A_TMP/msg" | cut -d' ' -f1)
for secret in "$pin" "AUDIT-SECRET" "${msg_hex:0:16}" "${digest:0:16}"; do
	! grep -qi -- "$secret" "$audit" ||
		p11a_fail "the audit log contains '$secret'"
done
[[ $(stat -c %a "$audit") == 600 ]] ||
	p11a_fail "audit log mode $(stat -c %a "$audit"), expected 600"
echo ok
