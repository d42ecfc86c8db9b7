#!/usr/bin/env bash
# A client's executable path comes from outside: a name with a newline
# (and spaces) must not forge a second audit record or a field.  Every
# SIGN is exactly one line of the documented form; the newline and the
# spaces show as \x0a and \x20 (docs/RELIABILITY.md, "The audit log").
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

p11a_setup_dir
audit=$P11A_TMP/audit.log
p11a_start_audited_ec "$audit"
ec=$P11A_EC_ID
p11a_random_file "$P11A_TMP/msg"

# the forged record the name carries (a file name has no "/")
forged='2000-01-01T00:00:00Z sign pid=1 uid=0 exe=true identity=00000000000000000000000000000000 token="A" scheme=ecdsa_secp256r1_sha256 result=OK usec=1'
mkdir "$P11A_TMP/bin"
evil="$P11A_TMP/bin/p11agent"$'\n'"$forged"
cp "$P11AGENT" "$evil"
p11a_expect_exit 0 "$evil" sign --identity "$ec" \
	--scheme ecdsa_secp256r1_sha256 --in "$P11A_TMP/msg" --out "$P11A_TMP/sig"
p11a_verify "$P11A_TMP/sig" "$P11A_TMP/msg" "$P11A_TMP/A/a-ec.pub.pem" \
	ecdsa_secp256r1_sha256
# and one plain client, for the count
p11a_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"

cat "$audit"
p11a_expect_audit_records "$audit" 2
! grep -q '^2000-01-01' "$audit" || p11a_fail "the forged record is in the log"
want="exe=$(realpath "$P11A_TMP/bin")/p11agent\\x0a2000-01-01T00:00:00Z\\x20sign\\x20pid=1"
grep -qF " $want" "$audit" || p11a_fail "no line with the escaped name $want"
grep -qF " identity=$ec token=\"A\" scheme=ecdsa_secp256r1_sha256 result=OK " \
	"$audit" || p11a_fail "the escaped line lost its real fields"
echo ok
