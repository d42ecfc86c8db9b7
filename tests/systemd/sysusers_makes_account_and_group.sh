#!/usr/bin/env bash
# systemd-sysusers, applied to contrib/systemd/p11agent.sysusers in an
# empty root, creates the system account p11agent (no login shell) and
# the group p11agent-clients that p11agent-system.socket names.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/../integration/lib.sh"

command -v systemd-sysusers >/dev/null 2>&1 ||
	p11a_skip "systemd-sysusers not installed (package systemd)"
p11a_setup_dir
root=$P11A_TMP/root
mkdir -p "$root/etc"
systemd-sysusers --root="$root" "$P11A_UNIT_SRC/p11agent.sysusers" \
	>"$P11A_TMP/sysusers.log" 2>&1 || {
	cat "$P11A_TMP/sysusers.log" >&2
	p11a_fail "systemd-sysusers refused p11agent.sysusers"
}
IFS=: read -r _ _ uid gid _ home shell < <(grep '^p11agent:' "$root/etc/passwd") ||
	p11a_fail "no user p11agent in $root/etc/passwd"
[[ $uid -lt 1000 ]] || p11a_fail "p11agent got uid $uid, not a system uid"
[[ $shell == */nologin ]] || p11a_fail "p11agent has login shell $shell"
grep -q "^p11agent:x:$gid:" "$root/etc/group" ||
	p11a_fail "p11agent's primary group $gid is not the group p11agent"
grep -q '^p11agent-clients:x:[0-9]*:' "$root/etc/group" ||
	p11a_fail "no group p11agent-clients"
# the names the system units use are the ones sysusers makes
for k in User Group; do
	v=$(sed -n "s/^$k=//p" "$P11A_UNIT_SRC/p11agent-system.service.in")
	grep -q "^$v:" "$root/etc/$([[ $k == User ]] && echo passwd || echo group)" ||
		p11a_fail "p11agent-system.service $k=$v is not created by sysusers"
done
v=$(sed -n 's/^SocketGroup=//p' "$P11A_UNIT_SRC/p11agent-system.socket")
grep -q "^$v:" "$root/etc/group" || p11a_fail "SocketGroup=$v is not created by sysusers"
echo "ok: sysusers makes p11agent (uid $uid, home $home) and p11agent-clients"
