#!/usr/bin/env bash
# Wrong PINs are not passed straight through: after each UNLOCK a token
# refused, the uid's next UNLOCK is refused (BUSY, with the time left)
# for 1, 2, 4, 8, 16 ... s (at most 60), without asking any token, so a
# guessing loop gets a few tries a minute.  `p11agent unlock` waits the
# back-off out by itself: 6 wrong UNLOCKs in a row take at least 31 s
# (so 20 take far longer), yet the token was asked exactly 6 times.  One
# sent during the back-off is refused at once, even with the right PIN.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

p11a_setup_dir
p11a_make_token card 123456 k-9a:p256
export RIGHT=123456 WRONG=000000
p11a_start_agent
races=$(dirname "${BASH_SOURCE[0]}")/../integration/pipelined_unlocks.py

start=$(date +%s%N)
for i in 1 2 3 4 5 6; do
	p11a_expect_exit 7 "$P11AGENT" unlock --pin-source env:WRONG
	p11a_expect_output_matches 'PIN_INCORRECT|PIN is incorrect|incorrect'
done
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
[[ $elapsed_ms -ge 31000 ]] ||
	p11a_fail "6 wrong UNLOCKs took ${elapsed_ms} ms, expected at least 31 s of back-off"
tries=$(grep -c 'token card: login failed' "$P11A_AGENT_LOG" || true)
[[ $tries -eq 6 ]] || p11a_fail "the token was asked $tries times, expected 6"

# during the back-off (32 s now): refused at once, the token not asked
out=$(python3 "$races" "$P11AGENT_SOCK" "$RIGHT" 1)
[[ $out == ERROR:21 ]] || p11a_fail "UNLOCK during the back-off gave $out"
grep -q 'UNLOCK from uid [0-9]* refused for [0-9]* ms more' "$P11A_AGENT_LOG" ||
	p11a_fail "the refusal is not logged"
tries=$(grep -c 'token card: login failed' "$P11A_AGENT_LOG" || true)
[[ $tries -eq 6 ]] || p11a_fail "a refused UNLOCK reached the token"
grep -c 'token card: logged in' "$P11A_AGENT_LOG" >/dev/null &&
	p11a_fail "the token was logged in during the back-off"
echo "ok: ${elapsed_ms} ms for 6 wrong UNLOCKs, 6 tries on the token"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM"
