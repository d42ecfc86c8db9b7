#!/usr/bin/env bash
# `systemd-analyze verify` accepts the user units (p11agent.socket and
# .service) and the system units (p11agent-system.*) without a single
# complaint, man pages of Documentation= included when they are built;
# and it does complain about a broken copy, so the check is live.  The
# settings the units are for are checked too: the user socket at
# %t/p11agent/agent.sock, private to the user; the system socket 0660
# for the group p11agent-clients, whose gid the agent is told to allow.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/../integration/lib.sh"
. "$here/units.sh"

command -v systemd-analyze >/dev/null 2>&1 ||
	p11a_skip "systemd-analyze not installed (package systemd)"
p11a_setup_dir
p11a_units_generate
u=$P11A_TMP/units

man_opt=--man=no
if [[ -d ${P11A_MAN_BUILD_DIR:-}/man8 ]] && command -v man >/dev/null 2>&1; then
	man_opt=--man=yes
	export MANPATH=$P11A_MAN_BUILD_DIR
fi

# verify as a user manager would load them: needs a runtime dir for %t
mkdir -m 0700 "$P11A_TMP/runtime"
export XDG_RUNTIME_DIR=$P11A_TMP/runtime

verify() { # verify [--user] UNIT...: fails on any output or error
	local out rc=0
	out=$(systemd-analyze verify "$man_opt" "$@" 2>&1) || rc=$?
	if [[ $rc -ne 0 || -n $out ]]; then
		printf '%s\n' "$out" >&2
		return 1
	fi
}

verify --user "$u/p11agent.socket" "$u/p11agent.service" ||
	p11a_fail "systemd-analyze verify --user rejects the user units"
verify "$u/p11agent-system.socket" "$u/p11agent-system.service" ||
	p11a_fail "systemd-analyze verify rejects the system units"

# the checker must see a broken unit: a misspelt key, a missing binary
mkdir "$P11A_TMP/broken"
sed 's/^SocketMode=/SocketMod=/' "$u/p11agent.socket" >"$P11A_TMP/broken/p11agent.socket"
cp "$u/p11agent.service" "$P11A_TMP/broken/"
! verify --user "$P11A_TMP/broken/p11agent.socket" "$P11A_TMP/broken/p11agent.service" \
	2>/dev/null || p11a_fail "verify did not notice a misspelt key"
sed "s|^ExecStart=[^ ]*|ExecStart=$P11A_TMP/no-such-p11agentd|" "$u/p11agent.service" \
	>"$P11A_TMP/broken/p11agent.service"
cp "$u/p11agent.socket" "$P11A_TMP/broken/"
! verify --user "$P11A_TMP/broken/p11agent.socket" "$P11A_TMP/broken/p11agent.service" \
	2>/dev/null || p11a_fail "verify did not notice a missing ExecStart binary"

# what the units are for
expect() { # FILE KEY VALUE
	[[ $(p11a_unit_value "$1" "$2") == "$3" ]] ||
		p11a_fail "${1##*/}: $2 is '$(p11a_unit_value "$1" "$2")', expected '$3'"
}
expect "$u/p11agent.socket" ListenStream '%t/p11agent/agent.sock'
expect "$u/p11agent.socket" SocketMode 0600
expect "$u/p11agent.socket" DirectoryMode 0700
expect "$u/p11agent.service" Requires p11agent.socket
expect "$u/p11agent-system.socket" ListenStream /run/p11agent/agent.sock
expect "$u/p11agent-system.socket" SocketGroup p11agent-clients
expect "$u/p11agent-system.socket" SocketMode 0660
expect "$u/p11agent-system.service" User p11agent
expect "$u/p11agent-system.service" Requires p11agent-system.socket
[[ $(p11a_unit_value "$u/p11agent-system.service" ExecStart) == *" --allow-gid p11agent-clients"* ]] ||
	p11a_fail "p11agent-system.service does not allow the group p11agent-clients"
! grep -q '@[A-Z_]*@' "$u"/* || p11a_fail "a generated unit still has @VARS@"
echo "ok: units verified ($man_opt)"
