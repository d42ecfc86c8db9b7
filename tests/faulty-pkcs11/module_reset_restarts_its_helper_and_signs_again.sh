#!/usr/bin/env bash
# A device reset under the module (a TPM restarted: tpm2-pkcs11 then
# answers CKR_GENERAL_ERROR for good, whatever sessions it reopens) is
# repaired by restarting the module's helper process: after a few such
# errors in a row the agent restarts it, logs in again with the cached
# PIN, and the token signs again within 10 s without an agent restart.
# While signing fails, STATUS never says logged-in.  Token B, on another
# module, keeps signing (every signature verified) the whole time.
# The shim's "reset N" fault fails every C_Sign of a process that
# initialised the module before the reset, as a real reset does.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
# the background clients end with the test, whatever way it ends
aload= bload=
trap 'rc=$?; set +e; touch "$P11A_TMP/stop"; kill $aload $bload 2>/dev/null; (exit $rc); p11a_cleanup' EXIT
fault_start_two_modules --workers 2
a=$FAULT_A b=$FAULT_B

# a_load_until FILE: A's client signs (verified) in a loop until FILE
# exists, one line per request: OK, or the error
a_load_until() {
	local i=0 out
	while [[ ! -e $1 ]]; do
		i=$((i + 1))
		p11a_random_file "$P11A_TMP/al.msg" 64
		out=$("$P11A_TRY" sign "$a" ecdsa_secp256r1_sha256 \
			"$P11A_TMP/al.msg" "$P11A_TMP/al.sig" 2>&1) || true
		if [[ $out == OK ]] && ! p11a_verify "$P11A_TMP/al.sig" \
			"$P11A_TMP/al.msg" "$P11A_TMP/A/a-ec.pub.pem" \
			ecdsa_secp256r1_sha256 >/dev/null 2>&1; then
			out=BAD_SIGNATURE
		fi
		echo "$out"
	done
}

a_sign() {
	p11a_random_file "$P11A_TMP/amsg" 64
	"$P11A_TRY" sign "$a" ecdsa_secp256r1_sha256 "$P11A_TMP/amsg" \
		"$P11A_TMP/asig" 2>&1 || true
}
a_flags() {
	"$P11A_TRY" token-flags A 2>&1 || true
}
helper_replaced() {
	local after
	after=$(fault_shim_helper_pid)
	[[ -n $after && $after != "$1" ]] ||
		p11a_fail "$2: A's helper was not restarted ($1 -> $after)"
}

# 1. one client, one request at a time: two failures leave STATUS saying
# not logged-in; the third restarts the helper, logs in again and is
# retried on the new helper, so that client gets a good signature
before=$(fault_shim_helper_pid)
logins=$(fault_count '^C_Login token=A rv=0x0$')
fault_set "reset 1"
for n in 1 2; do
	out=$(a_sign)
	[[ $out == TOKEN* ]] || p11a_fail "failure $n after the reset gave: $out"
	flags=$(a_flags)
	[[ $flags == "OK present,recovering" ]] ||
		p11a_fail "STATUS says '$flags' after $n failed signatures"
done
out=$(a_sign)
[[ $out == OK ]] || p11a_fail "the third request after the reset gave: $out"
p11a_verify "$P11A_TMP/asig" "$P11A_TMP/amsg" "$P11A_TMP/A/a-ec.pub.pem" \
	ecdsa_secp256r1_sha256
helper_replaced "$before" "one client"
(($(fault_count '^C_Login token=A rv=0x0$') == logins + 1)) ||
	p11a_fail "A was not logged in again exactly once"
fault_wait_flags token A present,logged-in
echo "one client: two errors, then signed on the restarted helper"

# 2. under load: A's clients and B's client sign all the time; A signs
# again within 10 s, B never stops
before=$(fault_shim_helper_pid)
rm -f "$P11A_TMP/stop"
"$P11A_TRY" load "$b" ecdsa_secp256r1_sha256 \
	"$P11A_TMP/B/b-ec.pub.pem" 5 >"$P11A_TMP/bload.out" 2>&1 &
bload=$!
a_load_until "$P11A_TMP/stop" >"$P11A_TMP/aload.out" &
aload=$!
sleep 0.5
fault_set "reset 2"
t0=$(now_ms)
ok=0
for ((i = 0; i < 200; i++)); do
	out=$(a_sign)
	[[ $out == OK ]] && { ok=1; break; }
	sleep 0.05
done
((ok)) || p11a_fail "under load: A does not sign again after the reset: $out"
p11a_verify "$P11A_TMP/asig" "$P11A_TMP/amsg" "$P11A_TMP/A/a-ec.pub.pem" \
	ecdsa_secp256r1_sha256
elapsed=$(($(now_ms) - t0))
((elapsed < 10000)) || p11a_fail "under load: A signed again only after $elapsed ms"
echo "under load: A signs again $elapsed ms after the reset"
sleep 0.5
touch "$P11A_TMP/stop"
wait "$aload"
wait "$bload" || true
grep -q '^OK' "$P11A_TMP/bload.out" ||
	p11a_fail "under load: B's client: $(cat "$P11A_TMP/bload.out")"
echo "B under load: $(cat "$P11A_TMP/bload.out")"
! grep -q BAD_SIGNATURE "$P11A_TMP/aload.out" ||
	p11a_fail "under load: A's client got a bad signature"
[[ $(tail -n 1 "$P11A_TMP/aload.out") == OK ]] ||
	p11a_fail "under load: A's load did not end signing: $(tail -n 3 "$P11A_TMP/aload.out")"
echo "A's load: $(sort "$P11A_TMP/aload.out" | uniq -c | tr -s ' \n' ' ')"
helper_replaced "$before" "under load"
fault_wait_flags token A present,logged-in
fault_wait_flags token B present,logged-in
p11a_agent_alive
grep -q "module libfaulty-pkcs11.so: .*restart" "$P11A_AGENT_LOG" ||
	p11a_fail "the log does not say why A's helper was restarted"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
