#!/usr/bin/env bash
# contrib/python/p11agent_client.py against a live agent: it lists the
# same identities as the C client, with each key's SubjectPublicKeyInfo;
# it signs with every scheme of every identity (message form, and digest
# form where one exists) and OpenSSL verifies each signature against the
# public key p11a-mktoken wrote; its errors carry the protocol's names
# and its exit codes hold.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
[[ -r ${P11A_PY_CLIENT:-} ]] || p11a_fail "P11A_PY_CLIENT must name the client"
py() { python3 "$P11A_PY_CLIENT" "$@"; }

p11a_setup_dir
p11a_make_token tok 4321 k-rsa2048:rsa2048 k-p256:p256 k-p384:p384 \
	k-ed25519:ed25519
export P11A_PIN=4321
p11a_start_agent --pin-source env:P11A_PIN
dir=$P11A_TMP/tok

p11a_expect_exit 0 py hello
p11a_expect_output_matches '^version 1, p11agentd .*capabilities PIPELINING,LOCK,STATUS_DETAIL, max frame 262144$'

# the same identities (id, URI, schemes) as the C client lists
p11a_list
py list >"$P11A_TMP/py.list" || p11a_fail "python client: list failed"
[[ $(wc -l <"$P11A_TMP/py.list") -eq 4 ]] ||
	p11a_fail "python client lists $(wc -l <"$P11A_TMP/py.list") identities, expected 4"
sorted() { tr , '\n' <<<"$1" | sort | paste -sd, -; }
n=0
while read -r id uri kind _ schemes label; do
	i=$(p11a_find_identity "$label")
	[[ $id == "${P11A_ID_ID[$i]}" && $uri == "${P11A_ID_URI[$i]}" ]] ||
		p11a_fail "$label: python client says $id $uri, p11agent ${P11A_ID_ID[$i]} ${P11A_ID_URI[$i]}"
	[[ $(sorted "$schemes") == $(sorted "${P11A_ID_SCHEMES[$i]}") ]] ||
		p11a_fail "$label: schemes '$schemes' differ from '${P11A_ID_SCHEMES[$i]}'"
	[[ $kind == "${P11A_ID_TYPE[$i]}" ]] ||
		p11a_fail "$label: key type '$kind' differs from '${P11A_ID_TYPE[$i]}'"

	# the SPKI the client decoded is the key p11a-mktoken made
	py list --json | python3 -c '
import base64, json, sys
for i in json.load(sys.stdin):
    if i["id"] == sys.argv[1]:
        sys.stdout.buffer.write(base64.b64decode(i["spki"]))' "$id" >"$P11A_TMP/spki.der"
	openssl pkey -pubin -in "$dir/$label.pub.pem" -outform DER \
		-out "$P11A_TMP/want.der"
	cmp -s "$P11A_TMP/spki.der" "$P11A_TMP/want.der" ||
		p11a_fail "$label: SPKI from the python client is not the token's key"

	IFS=, read -r -a list <<<"$schemes"
	for scheme in "${list[@]}"; do
		p11a_random_file "$P11A_TMP/msg"
		rm -f "$P11A_TMP/sig"
		p11a_expect_exit 0 py sign --identity "$id" --scheme "$scheme" \
			--in "$P11A_TMP/msg" --out "$P11A_TMP/sig"
		p11a_verify "$P11A_TMP/sig" "$P11A_TMP/msg" "$dir/$label.pub.pem" "$scheme"
		p11a_verify "$P11A_TMP/sig" "$P11A_TMP/msg" "$dir/$label.pem" "$scheme"
		n=$((n + 1))
		[[ $scheme != ed25519 ]] || continue
		# digest form, by URI, from stdin to stdout
		p11a_digest "$scheme" "$P11A_TMP/msg" "$P11A_TMP/dgst"
		py sign --identity "$uri" --scheme "$scheme" --digest \
			<"$P11A_TMP/dgst" >"$P11A_TMP/sig" ||
			p11a_fail "$label $scheme: digest-form sign failed"
		p11a_verify "$P11A_TMP/sig" "$P11A_TMP/msg" "$dir/$label.pub.pem" "$scheme"
		n=$((n + 1))
	done
done <"$P11A_TMP/py.list"
# RSA 8 schemes x 2 forms + 2 EC keys x 4 x 2 + Ed25519 x 1
[[ $n -eq 33 ]] || p11a_fail "verified $n signatures, expected 33"

# errors: the agent's code by name, exit 1; no agent: exit 3
p11a_expect_exit 1 py sign --identity 00000000000000000000000000000000 \
	--scheme ed25519 --in "$P11A_TMP/msg"
p11a_expect_output_matches 'IDENTITY_NOT_FOUND \(9\)'
ed=$(p11a_identity_id k-ed25519)
p11a_expect_exit 1 py sign --identity "$ed" --scheme rsa_pss_rsae_sha256 \
	--in "$P11A_TMP/msg"
p11a_expect_output_matches 'SCHEME_UNSUPPORTED \(11\)'

# status counts what was signed (33 good signatures, no errors)
py status --json >"$P11A_TMP/status.json" || p11a_fail "python client: status failed"
python3 - "$P11A_TMP/status.json" <<'PY' || p11a_fail "status is not as expected"
import json, sys
st = json.load(open(sys.argv[1]))
t = st["tokens"]
assert len(t) == 1 and t[0]["label"] == "tok", t
assert t[0]["signs"] == 33, t[0]["signs"]
assert t[0]["identities"] == 4, t[0]
assert "LOGGED_IN" in t[0]["flags"], t[0]["flags"]
# the detail: one session per worker, nothing queued or running now
assert t[0]["sessions"] == t[0]["workers"] >= 1, t[0]
assert t[0]["queued"] == 0 and t[0]["running"] == 0, t[0]
# SoftHSM has every mechanism: every scheme on its own, native path
ids = st["identities"]
assert len(ids) == 4, ids
for i in ids:
    assert i["token"] == "tok" and i["paths"], i
    for p in i["paths"]:
        assert p["path"] == "native", i
    if any(p["scheme"].startswith("ecdsa") for p in i["paths"]):
        assert all(p["mechanism"] == "0x1041" for p in i["paths"]), i
PY
py status | grep -E '^tok .* workers=[0-9]+ sessions=[0-9]+ queued=0 running=0 ' >/dev/null ||
	p11a_fail "python client's status shows no queue: $(py status)"

p11a_stop_agent || p11a_fail "p11agentd did not stop cleanly"
p11a_expect_exit 3 py list
p11a_expect_output_matches 'CONNECT'
echo "ok: $n signatures from the python client verified"
