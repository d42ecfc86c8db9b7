#!/usr/bin/env bash
# --confirm on an identity: before each signature the agent runs the
# --confirm-program with the identity and the peer's pid, uid and
# executable in its environment; exit 0 (yes) signs, anything else (no)
# answers DENIED.  Identities without --confirm never ask.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"

fault_setup
p11a_make_token A 1111 a-ec:p256 a-ed:ed25519
export P11A_PIN=1111
answer=$P11A_TMP/answer asked=$P11A_TMP/asked
confirm=$P11A_TMP/confirm.sh
cat >"$confirm" <<EOS
#!/bin/sh
# test confirm program: log what the agent says, answer from a file
printf '%s %s %s %s\n' "\$P11AGENT_CONFIRM_IDENTITY" "\$P11AGENT_CONFIRM_PID" \
	"\$P11AGENT_CONFIRM_UID" "\$P11AGENT_CONFIRM_EXE" >>"$asked"
[ "\$(cat "$answer")" = yes ]
EOS
chmod 0700 "$confirm"
: >"$asked"
p11a_start_agent --pin-source env:P11A_PIN \
	--identity 'pkcs11:token=A;object=a-ec' --confirm \
	--identity 'pkcs11:token=A;object=a-ed' --confirm-program "$confirm"
p11a_list
ec=$(p11a_identity_id a-ec)
ed=$(p11a_identity_id a-ed)
p11a_random_file "$P11A_TMP/msg"

echo yes >"$answer"
"$P11A_TRY" sign "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/msg" \
	"$P11A_TMP/sig" >"$P11A_TMP/try.out" &
pid=$!
wait "$pid" || p11a_fail "confirmed sign failed: $(cat "$P11A_TMP/try.out")"
p11a_verify "$P11A_TMP/sig" "$P11A_TMP/msg" "$P11A_TMP/A/a-ec.pub.pem" \
	ecdsa_secp256r1_sha256
[[ $(wc -l <"$asked") -eq 1 ]] || p11a_fail "asked $(wc -l <"$asked") times, expected 1"
read -r a_id a_pid a_uid a_exe <"$asked"
[[ $a_id == "$ec" ]] || p11a_fail "confirm program got identity '$a_id'"
[[ $a_pid == "$pid" ]] || p11a_fail "confirm program got pid '$a_pid', client was $pid"
[[ $a_uid == "$(id -u)" ]] || p11a_fail "confirm program got uid '$a_uid'"
[[ $a_exe == "$(realpath "$P11A_TRY")" ]] ||
	p11a_fail "confirm program got executable '$a_exe'"

echo no >"$answer"
fault_expect DENIED sign "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/msg" \
	"$P11A_TMP/sig"
[[ $(wc -l <"$asked") -eq 2 ]] || p11a_fail "a refused use was not asked"

# no --confirm on a-ed: signs without asking, even while the answer is no
fault_sign_verify "$ed" ed25519 "$P11A_TMP/A" a-ed
[[ $(wc -l <"$asked") -eq 2 ]] || p11a_fail "asked for an identity without --confirm"

echo yes >"$answer"
fault_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
[[ $(wc -l <"$asked") -eq 3 ]] || p11a_fail "each use must be asked again"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
