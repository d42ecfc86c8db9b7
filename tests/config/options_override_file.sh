#!/usr/bin/env bash
# The configuration file sets up a working agent on its own (module, PIN
# source, identities with their policy), and the command line overrides
# it: a scalar option replaces the file's value, a list option (module,
# allow-uid, identities) replaces the file's whole list, and what the
# command line does not name stays as the file says.  Checked both in
# --check-config's output and on a live agent that signs (OpenSSL
# verifies) with exactly the identities and policy in effect.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/cfglib.sh"

cfg_setup
p11a_make_token tok 24680 e:p256 r:rsa2048
dir=$P11A_TMP/tok
me=$(id -u)
printf '24680\n' >"$P11A_TMP/pin"
chmod 600 "$P11A_TMP/pin"
conf=$P11A_TMP/agent.conf
cfg_write "$conf" <<EOF
[agent]
module = $P11A_MODULE
pin-source = file:$P11A_TMP/pin
socket = $P11A_TMP/agent/from-file.sock
workers = 1
lock-after = 600
allow-uid = 4001
allow-uid = 4002
log-level = debug

[identity "pkcs11:token=tok;object=e"]
purpose = any
allow-uid = $me

[identity "pkcs11:token=tok;object=r"]
allow-uid = 4242
EOF

# value KEY: the value --check-config printed for KEY in [agent].
value() {
	sed -n '/^\[agent\]/,/^\[identity/p' <<<"$P11A_OUTPUT" |
		sed -n "s/^$1 = //p" | paste -sd, -
}
expect_value() {
	local got
	got=$(value "$1")
	[[ $got == "$2" ]] || p11a_fail "$1 is '$got', expected '$2'"
}

p11a_log "the file alone"
p11a_expect_exit 0 "$P11AGENTD" --config "$conf" --check-config
expect_value workers 1
expect_value lock-after 600
expect_value allow-uid 4001,4002
expect_value log-level debug
expect_value socket "$P11A_TMP/agent/from-file.sock"
[[ $(grep -c '^\[identity ' <<<"$P11A_OUTPUT") -eq 2 ]] ||
	p11a_fail "expected the file's two identities: $P11A_OUTPUT"

p11a_log "options over the file"
p11a_expect_exit 0 "$P11AGENTD" --config "$conf" --check-config \
	--workers 3 -u 5000 --log-level warn \
	--identity 'pkcs11:token=tok;object=r' --purpose tls13-client
expect_value workers 3
expect_value allow-uid 5000
expect_value log-level warn
expect_value lock-after 600
expect_value module "$P11A_MODULE"
ids=$(grep '^\[identity ' <<<"$P11A_OUTPUT")
[[ $ids == '[identity "pkcs11:token=tok;object=r"]' ]] ||
	p11a_fail "the command line's identity did not replace the file's: $ids"
grep -qx 'purpose = tls13-client' <<<"$P11A_OUTPUT" ||
	p11a_fail "--purpose did not apply to the command line's identity"
grep -q '^allow-uid = 4242' <<<"$P11A_OUTPUT" &&
	p11a_fail "the file's per-identity allow-uid leaked into the command line's identity"

p11a_log "a live agent from the file: only the file's identities, its policy"
# p11a_start_agent adds --socket, which overrides the file's socket
p11a_start_agent --config "$conf"
[[ ! -e $P11A_TMP/agent/from-file.sock ]] ||
	p11a_fail "the agent listened on the file's socket despite --socket"
grep -q '^p11agentd\[debug\]' "$P11A_AGENT_LOG" ||
	p11a_fail "log-level = debug from the file did not apply"
p11a_list
[[ ${#P11A_ID_ID[@]} -eq 2 ]] || p11a_fail "expected 2 identities"
e=$(p11a_identity_id e)
r=$(p11a_identity_id r)
p11a_sign_verify "$e" ecdsa_secp256r1_sha256 "$dir" e
# the file lets only uid 4242 sign with r: we are refused
p11a_random_file "$P11A_TMP/msg"
p11a_expect_exit 1 "$P11AGENT" sign --identity "$r" \
	--scheme rsa_pss_rsae_sha256 --in "$P11A_TMP/msg" --out "$P11A_TMP/sig"
p11a_expect_output_matches 'denied|refused|not allowed'
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc"

p11a_log "a live agent with the identities from the command line"
p11a_start_agent --config "$conf" --identity 'pkcs11:token=tok;object=r' \
	--identity-allow-uid "$me"
p11a_list
[[ ${#P11A_ID_ID[@]} -eq 1 && ${P11A_ID_NAME[0]} == r ]] ||
	p11a_fail "expected only identity r, got: ${P11A_ID_NAME[*]}"
r=$(p11a_identity_id r)
p11a_sign_verify "$r" rsa_pss_rsae_sha256 "$dir" r
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc"

p11a_log "the command line's PIN source replaces the file's"
printf '11111\n' >"$P11A_TMP/badpin"
export GOOD_PIN=24680
sed -i "s|^pin-source = .*|pin-source = file:$P11A_TMP/badpin|" "$conf"
p11a_start_agent --config "$conf" --pin-source env:GOOD_PIN
p11a_list
e=$(p11a_identity_id e)
p11a_sign_verify "$e" ecdsa_secp256r1_sha256 "$dir" e
echo ok
