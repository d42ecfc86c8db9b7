#!/usr/bin/env bash
# The module through its raw function list (api_test.c conformance):
# one slot per agent token shown as the real token, no login needed (any
# PIN accepted, never checked), the objects' attributes equal to the real
# token's, every mechanism single- and multi-part verified with OpenSSL,
# refusals with the right CK_RV, size queries, unsupported functions.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -x ${P11M_API_TEST:-} ]] || p11a_fail "P11M_API_TEST not set"

p11a_setup_dir
p11a_make_token A 1111 a-rsa:rsa2048 a-ec:p256 a-p521:p521 a-ed:ed25519
p11a_make_token B 2222 b-rsa:rsa3072 b-ec:p384
p11a_start_agent --identity 'pkcs11:token=A?pin-value=1111' \
	--identity 'pkcs11:token=B?pin-value=2222'

p11a_expect_exit 0 "$P11M_API_TEST" "$P11M_MODULE" conformance \
	"$P11A_TMP/A" A a-rsa a-ec a-p521 a-ed
p11a_expect_exit 0 "$P11M_API_TEST" "$P11M_MODULE" conformance \
	"$P11A_TMP/B" B b-rsa b-ec

# every identity on its own token's slot, with its three objects
p11a_expect_exit 0 "$P11M_API_TEST" "$P11M_MODULE" list
got=$(sort <<<"$P11A_OUTPUT" | paste -sd, -)
want=$(for n in a-rsa a-ec a-p521 a-ed b-rsa b-ec; do
	tok=${n:0:1}
	for c in cert private public; do echo "${tok^^} $c $n"; done
done | sort | paste -sd, -)
[[ $got == "$want" ]] || p11a_fail "objects: got '$got', expected '$want'"
p11a_agent_alive
echo ok
