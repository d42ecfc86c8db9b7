#!/usr/bin/env bash
# libp11agent never busy-waits for a reply: while it waits it sleeps in
# a blocking read, so no system call it makes may be a non-blocking read
# (recvfrom/recvmsg with MSG_DONTWAIT), a yield, or a poll with a finite
# timeout.  `p11agent sign` (HELLO and one fast P-256 SIGN, the replies a
# polling client would poll for) runs under strace, which records every
# such call; each signature still verifies.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v strace >/dev/null 2>&1 || p11a_skip "strace not installed"
strace -o /dev/null true 2>/dev/null || p11a_skip "strace cannot trace here"

p11a_setup_dir
p11a_make_token tok 1234 ec:p256 r:rsa2048
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN
p11a_list
log=$P11A_TMP/strace.log
msg=$P11A_TMP/msg
p11a_random_file "$msg" 130

for spec in ec:ecdsa_secp256r1_sha256 r:rsa_pss_rsae_sha256; do
	name=${spec%%:*}
	scheme=${spec#*:}
	for i in 1 2 3; do
		sig=$P11A_TMP/sig.$name.$i
		# LeakSanitizer (sanitizer builds) cannot ptrace under strace
		ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 \
			strace -f -qq -o "$log.$name.$i" \
			-e trace=read,recvfrom,recvmsg,poll,ppoll,select,pselect6,sched_yield \
			"$P11AGENT" sign --identity "$(p11a_identity_id "$name")" \
			--scheme "$scheme" --in "$msg" --out "$sig" ||
			p11a_fail "p11agent sign $name under strace failed"
		p11a_verify "$sig" "$msg" "$P11A_TMP/tok/$name.pub.pem" "$scheme"
	done
done
cat "$log".* >"$log"
grep -Eq 'recvfrom|read\(' "$log" ||
	p11a_fail "strace saw no read at all: $(cat "$log")"
if grep -E 'MSG_DONTWAIT|sched_yield|poll\(.*, [0-9]+\)|ppoll\(.*\{tv_sec=' "$log"; then
	p11a_fail "the client polled or read without blocking while it waited (above)"
fi
echo ok
