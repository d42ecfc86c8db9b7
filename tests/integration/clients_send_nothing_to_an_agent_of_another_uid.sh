#!/usr/bin/env bash
# Where another user can write, a fake agent can take the socket's
# place.  Before sending anything (HELLO, and so an UNLOCK's PIN) the
# clients check the listener's uid (SO_PEERCRED): ours, root, the
# account p11agent, or P11AGENT_AGENT_UID.  Here the fake agent
# (fake_agent.py) runs as nobody and logs every byte it receives.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

p11a_setup_dir
[[ $(id -u) -eq 0 ]] || p11a_skip "needs root to run a fake agent as another uid"
command -v setpriv >/dev/null 2>&1 || p11a_skip "setpriv not installed"
command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pyclient=$here/../../contrib/python/p11agent_client.py
T=$P11A_TMP
other=nobody
other_uid=$(id -u "$other")

# the fake agent in a directory of its own uid
chmod 0711 "$T"
mkdir -m 0755 "$T/theirs"
chown "$other" "$T/theirs"
got=$T/theirs/received
as_other() {
	setpriv --reuid "$other" --regid "$(id -g "$other")" --clear-groups "$@"
}
# a python3 the other uid may run (not one under root's home), and the
# script where it may read it
py=
for p in /usr/bin/python3 "$(command -v python3)"; do
	as_other "$p" -c '' 2>/dev/null && py=$p && break
done
[[ -n $py ]] || p11a_skip "no python3 that $other may run"
cp "$here/fake_agent.py" "$T/fake_agent.py"
chmod 0644 "$T/fake_agent.py"
setpriv --reuid "$other" --regid "$(id -g "$other")" --clear-groups \
	"$py" "$T/fake_agent.py" "$T/theirs/agent.sock" "$got" &
fake=$!
trap 'rc=$?; set +e; kill "$fake" 2>/dev/null; (exit $rc); p11a_cleanup' EXIT
for ((i = 0; i < P11A_TIMEOUT * 20; i++)); do
	[[ -S $T/theirs/agent.sock ]] && break
	p11a_pid_alive "$fake" || p11a_fail "the fake agent did not start"
	sleep 0.05
done
[[ -S $T/theirs/agent.sock ]] || p11a_fail "the fake agent did not listen"
export P11AGENT_SOCK=$T/theirs/agent.sock
pin=31415926
printf '%s\n' "$pin" >"$T/pin"

# refused CMD...: exits 1, names the uid and the reason; nothing was sent
refused() {
	p11a_expect_exit 1 "$@"
	p11a_expect_output_matches "uid $other_uid.*not trusted"
	[[ ! -s $got ]] || p11a_fail "'$*' sent $(wc -c <"$got") bytes to the fake agent"
}
refused "$P11AGENT" unlock --pin-source "file:$T/pin"
refused "$P11AGENT" status
refused "$P11AGENT" list
refused python3 "$pyclient" hello
refused python3 "$pyclient" status

# named as the agent's uid (by number or by name), it is talked to
P11AGENT_AGENT_UID=$other_uid p11a_expect_exit 0 "$P11AGENT" lock
[[ -s $got ]] || p11a_fail "P11AGENT_AGENT_UID=$other_uid: nothing was sent"
: >"$got"
P11AGENT_AGENT_UID=$other p11a_expect_exit 0 python3 "$pyclient" hello
[[ -s $got ]] || p11a_fail "P11AGENT_AGENT_UID=$other: the Python client sent nothing"
! grep -qF "$pin" "$got" || p11a_fail "the PIN reached the fake agent"
kill "$fake"
wait "$fake" 2>/dev/null || true

# our own agent is trusted as before
p11a_make_token tok 1234 e:p256
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN
p11a_expect_exit 0 "$P11AGENT" lock
printf '1234\n' >"$T/pin"
p11a_expect_exit 0 "$P11AGENT" unlock --pin-source "file:$T/pin"
p11a_expect_exit 0 python3 "$pyclient" status
p11a_list
p11a_sign_verify "${P11A_ID_ID[0]}" ecdsa_secp256r1_sha256 "$T/tok" e
rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
echo ok
