#!/usr/bin/env bash
# A key with CKA_ALWAYS_AUTHENTICATE (a PIV card's 9c key; real SoftHSM
# keys made with it) signs 50 times in a row with the token's cached PIN
# (always-auth = cached, the default): every signature verifies, LIST
# marks the key always-authenticate, and the agent logs in to the token
# only once (the per-signature login is CKU_CONTEXT_SPECIFIC inside the
# helper, never a new CKU_USER login).  A 9a-like key beside it signs as
# before.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

p11a_setup_dir
p11a_make_token piv 123456 k-9a:rsa2048 k-9c:p256:always-auth \
	k-9c-rsa:rsa2048:always-auth,mechs=rsa-pkcs+rsa-x-509
export P11A_PIN=123456
p11a_start_agent --pin-source env:P11A_PIN
p11a_list

verbose=$("$P11AGENT" list --verbose)
for name in k-9c k-9c-rsa; do
	grep -A1 "object=$name[;% ]" <<<"$verbose" | grep -q 'always-authenticate' ||
		p11a_fail "list --verbose does not mark $name always-authenticate: $verbose"
done
! grep -A1 "object=k-9a[;% ]" <<<"$verbose" | grep -q 'always-authenticate' ||
	p11a_fail "list --verbose marks k-9a always-authenticate: $verbose"

dir=$P11A_TMP/piv
msg=$P11A_TMP/msg
sig=$P11A_TMP/sig
signed=0
for spec in k-9c:ecdsa_secp256r1_sha256 k-9c-rsa:rsa_pss_rsae_sha256 \
	k-9a:rsa_pss_rsae_sha256; do
	name=${spec%%:*} scheme=${spec#*:}
	id=$(p11a_identity_id "$name")
	n=50
	[[ $name == k-9c ]] || n=5
	for ((i = 0; i < n; i++)); do
		p11a_random_file "$msg"
		p11a_expect_exit 0 "$P11AGENT" sign --identity "$id" \
			--scheme "$scheme" --in "$msg" --out "$sig"
		p11a_verify "$sig" "$msg" "$dir/$name.pub.pem" "$scheme"
		signed=$((signed + 1))
	done
done
[[ $signed -eq 60 ]] || p11a_fail "signed $signed times, expected 60"
logins=$(grep -c 'token piv: logged in' "$P11A_AGENT_LOG" || true)
[[ $logins -eq 1 ]] ||
	p11a_fail "the agent logged in $logins times, expected once"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM"
echo "ok: $signed signatures, 50 in a row with the always-authenticate key"
