#!/usr/bin/env bash
# STATUS with its detail (docs/PROTOCOL.md 6.7) on the shim's piv card
# (2 sessions, 150 ms per signature, CKM_RSA_PKCS + CKM_RSA_X_509 +
# CKM_ECDSA):
#  * `p11agent status` shows WORKERS = SESSIONS = 2 (one session per
#    worker, and the shim saw exactly 2 sessions opened) although
#    --workers asks for 4;
#  * while 30 pipelined signatures wait, it shows them QUEUED and 2
#    RUNNING; once they are done, 0 and 0;
#  * `p11agent status --verbose` shows, for every scheme `p11agent list`
#    gives, the path it is signed on: PKCS#1 native on CKM_RSA_PKCS, PSS
#    raw on CKM_RSA_X_509 (padded by the agent), ECDSA native on
#    CKM_ECDSA; and no scheme the list does not have.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

fault_setup
export FAULTY_PKCS11_CARD=piv
p11a_make_token A 1111 a-rsa:rsa2048 a-ec:p256
export P11A_PIN=1111
fault_start_agent --pin-source env:P11A_PIN --workers 4
p11a_list

# TOKEN FLAGS IDENTITIES WORKERS SESSIONS QUEUED RUNNING SIGNS ERRORS AVG
token_line() { "$P11AGENT" status | awk '$1 == "A"'; }
read -r _ _ _ workers sessions queued running _ <<<"$(token_line)"
[[ $workers == 2 && $sessions == 2 && $queued == 0 && $running == 0 ]] ||
	p11a_fail "idle piv card: status shows workers=$workers sessions=$sessions queued=$queued running=$running: $("$P11AGENT" status)"
[[ $(fault_count '^C_OpenSession token=A rv=0x0$') -eq 2 ]] ||
	p11a_fail "the shim saw $(fault_count '^C_OpenSession token=A rv=0x0$') sessions opened, STATUS says 2"

# the queue, while 30 signatures of 150 ms each wait for 2 sessions
ec=$(p11a_identity_id a-ec)
fault_pipelined_signs "$ec" 30 >"$P11A_TMP/pipe.out" 2>&1 &
pipe=$!
seen=
for ((i = 0; i < 200; i++)); do
	read -r _ _ _ _ _ queued running _ <<<"$(token_line)"
	# started: both sessions busy, each with at most one more in hand
	if ((queued >= 1 && running >= 2 && running <= 4)); then
		seen="queued=$queued running=$running"
		break
	fi
	kill -0 "$pipe" 2>/dev/null || break
	sleep 0.05
done
wait "$pipe" || p11a_fail "pipelined signs failed: $(cat "$P11A_TMP/pipe.out")"
[[ -n $seen ]] ||
	p11a_fail "status never showed a queue while 30 signatures waited: $(token_line)"
echo "while signing: $seen"
[[ $(grep -c ' OK ' "$P11A_TMP/pipe.out") -eq 30 ]] ||
	p11a_fail "not all 30 signed: $(cat "$P11A_TMP/pipe.out")"
read -r _ _ _ _ _ queued running _ <<<"$(token_line)"
[[ $queued == 0 && $running == 0 ]] ||
	p11a_fail "after the signatures: queued=$queued running=$running"

# the signing path of each scheme, exactly the listed schemes
"$P11AGENT" status --verbose >"$P11A_TMP/status.v" ||
	p11a_fail "p11agent status --verbose failed"
for i in "${!P11A_ID_ID[@]}"; do
	id=${P11A_ID_ID[$i]}
	got=$(awk -v id="$id" '$1 == id { print $3 }' "$P11A_TMP/status.v" | sort | paste -sd, -)
	want=$(tr , '\n' <<<"${P11A_ID_SCHEMES[$i]}" | sort | paste -sd, -)
	[[ $got == "$want" ]] ||
		p11a_fail "${P11A_ID_NAME[$i]}: status --verbose has schemes '$got', list '$want'"
	while read -r _ token scheme path mech; do
		[[ $token == A ]] || p11a_fail "$scheme on token '$token', expected A"
		case $scheme in
		rsa_pkcs1_*) want="native CKM_RSA_PKCS" ;;
		rsa_pss_*) want="raw CKM_RSA_X_509" ;;
		ecdsa_*) want="native CKM_ECDSA" ;;
		*) want="?" ;;
		esac
		[[ "$path $mech" == "$want" ]] ||
			p11a_fail "${P11A_ID_NAME[$i]} $scheme: path '$path $mech', expected '$want'"
	done < <(awk -v id="$id" '$1 == id' "$P11A_TMP/status.v")
done
grep -E '^IDENTITY +TOKEN +SCHEME +PATH +MECHANISM$' "$P11A_TMP/status.v" >/dev/null ||
	p11a_fail "status --verbose has no path table: $(cat "$P11A_TMP/status.v")"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
