#!/usr/bin/env bash
# Two different keys that nothing names apart: tokens with the same
# label that report the same serial (the shim), keys with the same label
# and CKA_ID.  Both are listed (neither overwrites the other) under one
# id, the agent logs the collision, and SIGN by that id or by a URI
# matching both is refused as IDENTITY_AMBIGUOUS: no signature by a key
# the client may not have meant.  A key on a third token still signs.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
export FAULTY_PKCS11_SERIAL=0000000000000000
# p11a-mktoken finds its token by label: fill one token C, set it aside
# while the second one C is made and filled, then put it back
p11a_make_token C 1111 k:p256
mkdir "$P11A_TMP/aside"
mv "$P11A_TMP"/tokens/* "$P11A_TMP/aside/"
mv "$P11A_TMP/C" "$P11A_TMP/C1"
p11a_make_token C 1111 k:p256
mv "$P11A_TMP/C" "$P11A_TMP/C2"
mv "$P11A_TMP"/aside/* "$P11A_TMP/tokens/"
p11a_make_token D 1111 k:p256
fault_keys_alike "$P11A_TMP/C1" "$P11A_TMP/C2" k

export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN
fault_list_count 3
c=() d=
for i in 0 1 2; do
	case ${P11A_ID_URI[$i]} in
	*"token=C;"*) c+=("${P11A_ID_ID[$i]}") ;;
	*"token=D;"*) d=${P11A_ID_ID[$i]} ;;
	esac
done
[[ ${#c[@]} -eq 2 && -n $d ]] ||
	p11a_fail "not two keys on tokens C and one on D: ${P11A_ID_URI[*]}"
[[ ${c[0]} == "${c[1]}" ]] ||
	p11a_fail "the keys on the two tokens C have ids ${c[*]}: the id is not made of their names only"
grep -q "key 'k' has the id ${c[0]} of another key (token C" \
	"$P11A_AGENT_LOG" || p11a_fail "the agent did not log the collision"

p11a_random_file "$P11A_TMP/msg"
for name in "${c[0]}" 'pkcs11:token=C;object=k'; do
	rm -f "$P11A_TMP/sig"
	fault_expect IDENTITY_AMBIGUOUS sign "$name" ecdsa_secp256r1_sha256 \
		"$P11A_TMP/msg" "$P11A_TMP/sig"
	[[ ! -s $P11A_TMP/sig ]] || p11a_fail "$name: a signature was written"
	p11a_expect_exit 4 "$P11AGENT" sign --identity "$name" \
		--scheme ecdsa_secp256r1_sha256 --in "$P11A_TMP/msg" \
		--out "$P11A_TMP/sig"
	p11a_expect_output_matches 'ambiguous'
done
fault_sign_verify "$d" ecdsa_secp256r1_sha256 "$P11A_TMP/D" k
fault_sign_verify 'pkcs11:token=D;object=k' ecdsa_secp256r1_sha256 \
	"$P11A_TMP/D" k

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
