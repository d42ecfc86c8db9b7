#!/usr/bin/env bash
# Two tokens that report the same manufacturer, model and serial (as
# every tpm2-pkcs11 token does: serial 0000000000000000), each with a key
# of the same label and CKA_ID: both are listed with distinct ids, and a
# signature asked of one token's key, by its URI or by its id, is made
# by that key and not by the other one.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
export FAULTY_PKCS11_SERIAL=0000000000000000
p11a_make_token A 1111 k:p256
p11a_make_token B 1111 k:p256
fault_keys_alike "$P11A_TMP/A" "$P11A_TMP/B" k
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN
fault_list_count 2
[[ ${P11A_ID_ID[0]} != "${P11A_ID_ID[1]}" ]] ||
	p11a_fail "both keys got the id ${P11A_ID_ID[0]}"
for i in 0 1; do
	[[ ${P11A_ID_URI[$i]} == *serial=0000000000000000* ]] ||
		p11a_fail "the shim did not make the serials equal: ${P11A_ID_URI[$i]}"
done

# the id listed with each token's URI
declare -A id
for i in 0 1; do
	[[ ${P11A_ID_URI[$i]} =~ token=([AB]) ]] ||
		p11a_fail "URI names neither token: ${P11A_ID_URI[$i]}"
	id[${BASH_REMATCH[1]}]=${P11A_ID_ID[$i]}
done
[[ -n ${id[A]:-} && -n ${id[B]:-} ]] ||
	p11a_fail "not one identity per token: ${P11A_ID_URI[*]}"

# each token's key signs, by its URI and by its id, and the other token's
# key does not verify the signature
each_token_signs_with_its_own_key() {
	local tok other name
	p11a_random_file "$P11A_TMP/msg"
	for tok in A B; do
		other=B
		[[ $tok == B ]] && other=A
		for name in "pkcs11:token=$tok;object=k" "${id[$tok]}"; do
			rm -f "$P11A_TMP/sig"
			p11a_expect_exit 0 "$P11AGENT" sign --identity "$name" \
				--scheme ecdsa_secp256r1_sha256 \
				--in "$P11A_TMP/msg" --out "$P11A_TMP/sig"
			p11a_check_sig "$P11A_TMP/sig" "$P11A_TMP/msg" \
				"$P11A_TMP/$tok/k.pub.pem" ecdsa_secp256r1_sha256 ||
				p11a_fail "$name: signature is not by token $tok's key"
			! p11a_check_sig "$P11A_TMP/sig" "$P11A_TMP/msg" \
				"$P11A_TMP/$other/k.pub.pem" \
				ecdsa_secp256r1_sha256 ||
				p11a_fail "$name: signature verifies with token $other's key"
		done
	done
}
each_token_signs_with_its_own_key

# a later login finds the same two keys again: no third identity, no
# key handle of one token given to the other
p11a_expect_exit 0 "$P11AGENT" lock
p11a_expect_exit 0 "$P11AGENT" unlock --pin-source env:P11A_PIN
fault_list_count 2
each_token_signs_with_its_own_key
! grep -q 'has the id' "$P11A_AGENT_LOG" ||
	p11a_fail "the agent logged a collision of ids that differ"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
