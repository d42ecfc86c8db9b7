#!/usr/bin/env bash
# Access control by the peer's credentials (SO_PEERCRED), tested as root
# with clients run under other uids/gids (setpriv) on a socket made
# reachable on purpose (the agent's own 0700 directory and 0600 socket
# would stop them earlier): by default another uid is refused; with
# --allow-uid it is served and signs; --allow-gid and
# --identity-allow-gid admit the group as the client's primary
# (effective) or a supplementary group (docs/SECURITY.md says why), and
# a client with more groups than the agent reads is judged by its
# effective gid alone, which is logged; --max-per-uid counts each uid on
# its own (and closes the uid's longest-idle connection for a new one).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../faulty-pkcs11/faults.sh"

[[ $(id -u) -eq 0 ]] || p11a_skip "needs root to run clients as other uids"
command -v setpriv >/dev/null 2>&1 || p11a_skip "setpriv not installed"
command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
fault_setup
p11a_make_token A 1111 a-ec:p256
export P11A_PIN=1111
other=65534 other_gid=65534 stranger=54321

# as_uid UID GID cmd...: run cmd with those credentials and no groups;
# with GROUPS=g1,g2,... in the environment, with those supplementary groups
as_uid() {
	local uid=$1 gid=$2 groups=(--clear-groups)
	shift 2
	[[ -z ${GROUPS_OF_CLIENT:-} ]] || groups=(--groups "$GROUPS_OF_CLIENT")
	setpriv --reuid "$uid" --regid "$gid" "${groups[@]}" "$@"
}

open_up() {
	chmod 0711 "$P11A_TMP" "$P11A_TMP/agent"
	chmod 0666 "$P11AGENT_SOCK"
}

# expect_refused UID GID: the agent closes the connection (IO/CONNECT)
expect_refused() {
	local out
	out=$(as_uid "$1" "$2" "$P11A_TRY" token-flags A 2>&1) || true
	[[ $out == IO* || $out == CONNECT* ]] ||
		p11a_fail "uid $1 gid $2 was served: $out"
}

expect_served() {
	local out
	out=$(as_uid "$1" "$2" "$P11A_TRY" token-flags A 2>&1) || true
	[[ $out == "OK present,logged-in" ]] ||
		p11a_fail "uid $1 gid $2 was not served: $out"
}

p11a_start_agent --pin-source env:P11A_PIN
open_up
expect_refused "$other" "$other_gid"
grep -q "uid $other is not allowed" "$P11A_AGENT_LOG" ||
	p11a_fail "the refusal of uid $other is not logged"
fault_wait_flags token A present,logged-in 2 # root is served
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"

p11a_start_agent --pin-source env:P11A_PIN --allow-uid "$other" \
	--allow-gid "$other_gid" --max-per-uid 2
open_up
p11a_list
ec=$(p11a_identity_id a-ec)
expect_served "$other" "$other_gid"
expect_served "$stranger" "$other_gid"          # by its group
expect_refused "$stranger" "$stranger"          # neither uid nor group
GROUPS_OF_CLIENT=4242,$other_gid expect_served "$stranger" "$stranger" # supplementary
GROUPS_OF_CLIENT=4242 expect_refused "$stranger" "$stranger"
# 70 groups, the allowed one last: more than the agent reads (64)
many=$(seq -s, 5001 5069),$other_gid
GROUPS_OF_CLIENT=$many expect_refused "$stranger" "$stranger"
grep -q "more than 64 groups" "$P11A_AGENT_LOG" ||
	p11a_fail "a client with too many groups to read was not logged"
GROUPS_OF_CLIENT=$many expect_served "$stranger" "$other_gid" # by its egid
mkdir -m 0700 "$P11A_TMP/other" && chown "$other:$other_gid" "$P11A_TMP/other"
p11a_random_file "$P11A_TMP/other/msg"
chmod 0644 "$P11A_TMP/other/msg"
out=$(as_uid "$other" "$other_gid" "$P11A_TRY" sign "$ec" \
	ecdsa_secp256r1_sha256 "$P11A_TMP/other/msg" "$P11A_TMP/other/sig") ||
	p11a_fail "uid $other could not sign: $out"
p11a_verify "$P11A_TMP/other/sig" "$P11A_TMP/other/msg" \
	"$P11A_TMP/A/a-ec.pub.pem" ecdsa_secp256r1_sha256

# root holds its 2 connections idle: uid $other is served without
# taking one of them, and a third root connection is served as the
# longest idle of root's makes room for it (hold.py then finds 1 open)
cat >"$P11A_TMP/hold.py" <<'EOP'
import socket, struct, sys, time
s = []
for _ in range(int(sys.argv[2])):
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(5)
    c.connect(sys.argv[1])
    c.sendall(struct.pack(">IBIHHI", 13, 1, 1, 1, 1, 0))
    c.recv(4096)
    s.append(c)
print("held", flush=True)
time.sleep(float(sys.argv[3]))
n = 0
for c in s:
    try:
        c.sendall(struct.pack(">IBI", 5, 4, 2))  # STATUS
        n += len(c.recv(4096)) > 0
    except OSError:
        pass
print("open", n, flush=True)
EOP
python3 "$P11A_TMP/hold.py" "$P11AGENT_SOCK" 2 3 >"$P11A_TMP/hold.out" &
hold=$!
for ((i = 0; i < 100; i++)); do
	grep -q held "$P11A_TMP/hold.out" 2>/dev/null && break
	sleep 0.05
done
expect_served "$other" "$other_gid"
expect_served "$other" "$other_gid"
out=$(python3 - "$P11AGENT_SOCK" <<'EOP'
import socket, struct, sys
c = socket.socket(socket.AF_UNIX)
c.settimeout(5)
c.connect(sys.argv[1])
c.sendall(struct.pack(">IBIHHI", 13, 1, 1, 1, 1, 0))
d = c.recv(4096)
print("HELLO_REPLY" if len(d) >= 5 and d[4] == 0x81 else "other: %r" % d)
EOP
)
[[ $out == HELLO_REPLY ]] ||
	p11a_fail "a third root connection got '$out', expected HELLO_REPLY"
wait "$hold" || p11a_fail "hold.py failed"
grep -qx "open 1" "$P11A_TMP/hold.out" ||
	p11a_fail "root's held connections: $(cat "$P11A_TMP/hold.out")"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"

# per identity: the group as a supplementary group lets the client sign
p11a_start_agent --pin-source env:P11A_PIN --allow-uid "$stranger" \
	--identity 'pkcs11:token=A;object=a-ec' --identity-allow-gid 4242
open_up
chown "$stranger" "$P11A_TMP/other"
rm -f "$P11A_TMP/other/sig"
out=$(GROUPS_OF_CLIENT=4242 as_uid "$stranger" "$stranger" "$P11A_TRY" sign \
	"$ec" ecdsa_secp256r1_sha256 "$P11A_TMP/other/msg" "$P11A_TMP/other/sig") ||
	p11a_fail "a member of group 4242 (supplementary) could not sign: $out"
p11a_verify "$P11A_TMP/other/sig" "$P11A_TMP/other/msg" \
	"$P11A_TMP/A/a-ec.pub.pem" ecdsa_secp256r1_sha256
out=$(as_uid "$stranger" "$stranger" "$P11A_TRY" sign "$ec" \
	ecdsa_secp256r1_sha256 "$P11A_TMP/other/msg" "$P11A_TMP/other/sig2" 2>&1) || true
[[ $out == DENIED* ]] || p11a_fail "a client outside group 4242 got '$out', expected DENIED"
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
