#!/usr/bin/env bash
# The confirm program's environment is built from a short list of
# variables (PATH, HOME, the display and locale ones, ...) plus the
# P11AGENT_CONFIRM_* ones: whatever else the agent's environment holds,
# P11A_PIN or any other variable with the PIN in it, never reaches it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

p11a_setup_dir
p11a_make_token A 48151623 a-ec:p256
printf '48151623\n' >"$P11A_TMP/pin"
chmod 600 "$P11A_TMP/pin"
# the PIN comes from the file; these only sit in the agent's environment
export P11A_PIN=48151623 MY_TOKEN_PIN=48151623 UNRELATED_SETTING=48151623
export DISPLAY=:42 LANG=C.UTF-8
seen=$P11A_TMP/confirm.env
confirm=$P11A_TMP/confirm.sh
cat >"$confirm" <<EOS
#!/bin/sh
# test confirm program: keep its whole environment, then say yes
cat /proc/\$\$/environ >"$seen"
EOS
chmod 0700 "$confirm"
p11a_start_agent --pin-source "file:$P11A_TMP/pin" \
	--identity 'pkcs11:token=A;object=a-ec' --confirm \
	--confirm-program "$confirm"
p11a_list
ec=$(p11a_identity_id a-ec)
p11a_sign_verify "$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/A" a-ec
[[ -s $seen ]] || p11a_fail "the confirm program was not run"
env=$(tr '\0' '\n' <"$seen")
! grep -q 48151623 <<<"$env" ||
	p11a_fail "the confirm program's environment holds the PIN:
$(grep 48151623 <<<"$env")"
! grep -q '^P11A_PIN=' <<<"$env" ||
	p11a_fail "the confirm program got P11A_PIN"
# what it needs to decide, and to show a dialog, is there
for want in "P11AGENT_CONFIRM_IDENTITY=$ec" "DISPLAY=:42" "LANG=C.UTF-8" \
	"PATH=$PATH"; do
	grep -qxF -- "$want" <<<"$env" ||
		p11a_fail "the confirm program's environment lacks $want:
$env"
done
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
