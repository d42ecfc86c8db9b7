#!/usr/bin/env bash
# A card that counts wrong PINs (the shim's piv personality: COUNT_LOW
# after one, FINAL_TRY after two, LOCKED after three) is not guessed at:
#  * a wrong UNLOCK of every token costs one try on the first token only
#    (the logins of one UNLOCK run one after the other and stop there);
#  * the last try is not spent without `unlock --final-try`: the error
#    says so and the card is not asked (no C_Login in the shim's log);
#    with --final-try the right PIN works and resets the counter;
#  * a card that blocked its PIN is not asked at all: PIN_LOCKED;
#  * STATUS and `p11agent status` show the counter.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
export FAULTY_PKCS11_CARD=piv
p11a_make_token A 1111 a-ec:p256
p11a_make_token B 2222 b-ec:p256
export WRONG=0000 PIN_A=1111 PIN_B=2222
# C_Logins that reached the card's PIN check (USER_ALREADY_LOGGED_IN,
# 0x100, does not: a probe racing an UNLOCK's key listing may log in
# again on a logged-in token, which costs no try)
py_client=$(dirname "${BASH_SOURCE[0]}")/../../contrib/python/p11agent_client.py
# py_unlock TOKEN PIN FINAL_TRY(0|1): the Python client's unlock (waiting
# out a back-off as p11agent does); prints OK or the error's name
py_unlock() {
	python3 - "$py_client" "$P11AGENT_SOCK" "$@" <<'PY'
import importlib.util, re, sys, time
spec = importlib.util.spec_from_file_location("c", sys.argv[1])
c = importlib.util.module_from_spec(spec)
spec.loader.exec_module(c)
for _ in range(8):
    try:
        c.Client(sys.argv[2]).unlock(sys.argv[4].encode(),
                                     "pkcs11:token=" + sys.argv[3],
                                     final_try=sys.argv[5] == "1")
        print("OK")
        break
    except c.AgentError as e:
        m = re.search(r"retry-after-ms=(\d+)", e.message)
        if e.name != "BUSY" or m is None:
            print(e.name)
            break
        time.sleep(int(m.group(1)) / 1000 + 0.01)
PY
}
logins() { fault_count "^C_Login token=$1 rv=0x([^1]|1[^0]|10[^0])"; }

# no PIN: both tokens wait for an UNLOCK
fault_start_agent --poll-interval 50
fault_wait_flags token A present,needs-unlock 5
fault_wait_flags token B present,needs-unlock 5

# 1. a wrong PIN for every token: one token tried, once
p11a_expect_exit 7 "$P11AGENT" unlock --pin-source env:WRONG
p11a_expect_output_matches 'incorrect'
[[ $(($(logins A) + $(logins B))) -eq 1 ]] ||
	p11a_fail "a wrong UNLOCK made $(logins A) + $(logins B) logins, expected 1 (the first token only)"
if [[ $(logins A) -eq 1 ]]; then T=A U=B PIN_T=$PIN_A PIN_U=$PIN_B; else T=B U=A PIN_T=$PIN_B PIN_U=$PIN_A; fi
export PIN_T PIN_U
fault_wait_flags token "$T" present,needs-unlock,pin-count-low 5
fault_wait_flags token "$U" present,needs-unlock 5

# 2. the second wrong PIN leaves the last try
p11a_expect_exit 7 "$P11AGENT" unlock --token "pkcs11:token=$T" --pin-source env:WRONG
[[ $(logins "$T") -eq 2 && $(logins "$U") -eq 0 ]] ||
	p11a_fail "logins $T=$(logins "$T") $U=$(logins "$U"), expected 2 and 0"
fault_wait_flags token "$T" present,needs-unlock,pin-count-low,pin-final-try 5
"$P11AGENT" status | grep -E "^ *$T .*pin-final-try" >/dev/null ||
	p11a_fail "p11agent status does not show the final try: $("$P11AGENT" status)"

# 3. not spent without --final-try, not even with the right PIN
p11a_expect_exit 7 "$P11AGENT" unlock --token "pkcs11:token=$T" --pin-source env:PIN_T
p11a_expect_output_matches 'one PIN try left.*--final-try'
[[ $(logins "$T") -eq 2 ]] ||
	p11a_fail "the last try was used without --final-try ($(logins "$T") logins)"
out=$(py_unlock "$T" "$PIN_T" 0)
[[ $out == PIN_FINAL_TRY ]] || p11a_fail "the Python client's unlock gave $out"
[[ $(logins "$T") -eq 2 ]] || p11a_fail "the Python client's unlock used the last try"

# 4. with --final-try the right PIN works and the counter is reset
p11a_expect_exit 0 "$P11AGENT" unlock --final-try --token "pkcs11:token=$T" \
	--pin-source env:PIN_T
fault_wait_flags token "$T" present,logged-in 5
p11a_list
id=$(p11a_identity_id "${T,,}-ec")
fault_sign_verify "$id" ecdsa_secp256r1_sha256 "$P11A_TMP/$T" "${T,,}-ec"

# 5. three wrong PINs block the other card; then it is never asked
p11a_expect_exit 7 "$P11AGENT" unlock --token "pkcs11:token=$U" --pin-source env:WRONG
p11a_expect_exit 7 "$P11AGENT" unlock --token "pkcs11:token=$U" --pin-source env:WRONG
out=$(py_unlock "$U" "$WRONG" 1)
[[ $out == PIN_INCORRECT ]] || p11a_fail "the Python client's final try gave $out"
[[ $(logins "$U") -eq 3 ]] || p11a_fail "$(logins "$U") logins on $U, expected 3"
fault_wait_flags token "$U" present,needs-unlock,pin-locked 5
p11a_expect_exit 7 "$P11AGENT" unlock --final-try --token "pkcs11:token=$U" \
	--pin-source env:PIN_U
p11a_expect_output_matches "token $U: PIN locked"
[[ $(logins "$U") -eq 3 ]] || p11a_fail "a locked card was asked for its PIN"
grep -q "token $U: its PIN is locked" "$P11A_AGENT_LOG" ||
	p11a_fail "the agent's log does not say the PIN is locked"
# the other card was not touched by any of that
[[ $(logins "$T") -eq 3 ]] ||
	p11a_fail "$(logins "$T") logins on $T, expected 3: $(grep "token=$T" "$FAULTY_PKCS11_LOG")"
fault_sign_verify "$id" ecdsa_secp256r1_sha256 "$P11A_TMP/$T" "${T,,}-ec"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
