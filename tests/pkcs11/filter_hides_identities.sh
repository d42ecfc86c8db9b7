#!/usr/bin/env bash
# Which identities the module shows: P11AGENT_PKCS11_FILTER (key types
# or a pkcs11: URI) and the init-args string "filter=... socket=..."
# (pReserved); the environment wins over init args; a bad filter makes
# C_Initialize fail; without an agent the module loads with no slots and
# finds the agent once it runs.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -x ${P11M_API_TEST:-} ]] || p11a_fail "P11M_API_TEST not set"

p11a_setup_dir
p11a_make_token A 1111 a-rsa:rsa2048 a-ec:p256 a-ed:ed25519
export P11A_PIN=1111
p11a_start_agent --pin-source env:P11A_PIN

# shown [RESERVED]: the object labels of the private keys, sorted
shown() {
	p11a_expect_exit 0 "$P11M_API_TEST" "$P11M_MODULE" list "$@"
	awk '$2 == "private" { print $3 }' <<<"$P11A_OUTPUT" | sort |
		paste -sd' ' -
}
expect() {
	local want=$1 got
	shift
	got=$(shown "$@")
	[[ $got == "$want" ]] ||
		p11a_fail "filter ${P11AGENT_PKCS11_FILTER:-} $*: shows '$got', expected '$want'"
}

expect "a-ec a-ed a-rsa"
P11AGENT_PKCS11_FILTER=rsa,ec expect "a-ec a-rsa"
# a hidden identity takes its certificate and public key along
P11AGENT_PKCS11_FILTER=rsa,ec shown >/dev/null
! grep -q 'a-ed' <<<"$P11A_OUTPUT" || p11a_fail "a-ed objects still shown"
P11AGENT_PKCS11_FILTER=ed25519 expect "a-ed"
P11AGENT_PKCS11_FILTER='pkcs11:token=A;object=a-ec' expect "a-ec"
P11AGENT_PKCS11_FILTER="pkcs11:id=%$(cat "$P11A_TMP/A/a-rsa.id")" expect "a-rsa"
P11AGENT_PKCS11_FILTER='pkcs11:token=nosuch' expect ""
expect "a-ed" "filter=ed25519"
expect "a-ec" "socket=$P11AGENT_SOCK filter=pkcs11:object=a-ec"
P11AGENT_PKCS11_FILTER=rsa expect "a-rsa" "filter=ed25519"

# a filter that means nothing stops the module rather than show all
export P11AGENT_PKCS11_FILTER=rsa,dsa
p11a_expect_exit 1 "$P11M_API_TEST" "$P11M_MODULE" list
p11a_expect_output_matches 'bad filter.*unknown key type'
unset P11AGENT_PKCS11_FILTER

# the socket from init args alone
sock=$P11AGENT_SOCK
unset P11AGENT_SOCK
XDG_RUNTIME_DIR=$P11A_TMP/none expect "a-ec a-ed a-rsa" "socket=$sock"
XDG_RUNTIME_DIR=$P11A_TMP/none expect "" "socket=$P11A_TMP/nosuch.sock"

# no agent: the module loads, shows nothing, and no error
export P11AGENT_SOCK=$sock
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc"
expect ""
p11a_start_agent --pin-source env:P11A_PIN
expect "a-ec a-ed a-rsa"
echo ok
