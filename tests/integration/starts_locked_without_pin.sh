#!/usr/bin/env bash
# Without a PIN source and with stdin not a terminal, the agent starts
# locked: a sign request is refused with exit 5 (locked), not as an
# unknown identity, until `p11agent unlock`; then the key is listed and
# signs.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

p11a_setup_dir
p11a_make_token tok 2468 e:p384
# shellcheck disable=SC2119 # no PIN source on purpose; stdin is /dev/null
p11a_start_agent
p11a_list
p11a_log "a locked agent lists ${#P11A_ID_ID[@]} identities"

msg=$P11A_TMP/msg
p11a_random_file "$msg"
p11a_expect_exit 5 "$P11AGENT" sign --identity 'pkcs11:token=tok;object=e' \
	--scheme ecdsa_secp384r1_sha384 --in "$msg" --out "$P11A_TMP/sig"
p11a_expect_output_matches 'lock'

export P11A_PIN=2468
p11a_expect_exit 0 "$P11AGENT" unlock --pin-source env:P11A_PIN
p11a_list
[[ ${#P11A_ID_ID[@]} -eq 1 && ${P11A_ID_NAME[0]} == e ]] ||
	p11a_fail "after unlock the list is '${P11A_ID_URI[*]}', expected the key e"
p11a_sign_verify "${P11A_ID_ID[0]}" ecdsa_secp384r1_sha384 "$P11A_TMP/tok" e
p11a_sign_verify 'pkcs11:token=tok;object=e' ecdsa_secp384r1_sha384 \
	"$P11A_TMP/tok" e

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
