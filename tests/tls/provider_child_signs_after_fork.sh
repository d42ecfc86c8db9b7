#!/usr/bin/env bash
# The provider is fork-safe: no PKCS#11 module lives in the program, and
# a forked child opens its own connection to the agent instead of
# writing into its parent's.  p11a_fork_sign signs in the parent (which
# opens the provider's connection), forks, and signs in both processes at
# once, then in the parent again; every signature verifies.  The agent's
# audit log, which records the pid of each connection's peer, must show
# the child's signatures under the child's own pid.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tls_lib.sh"

[[ -n ${P11A_FORK_SIGN:-} && -x $P11A_FORK_SIGN ]] ||
	p11a_fail "P11A_FORK_SIGN must name the fork test program"
tls_setup k-p256:p256 k-ed:ed25519 k-rsa:rsa2048
p11a_list
COUNT=10

for spec in k-p256:SHA256 k-ed:none k-rsa:SHA384; do
	name=${spec%%:*}
	md=${spec#*:}
	before=$(tls_audit_count)
	out=$("$P11A_FORK_SIGN" \
		"$P11A_PROVIDER_DIR" "p11agent:$(p11a_identity_id "$name")" \
		"$TLS_DIR/$name.pub.pem" "$md" "$COUNT" 2>&1) ||
		p11a_fail "$name: p11a_fork_sign failed: $out"
	parent=$(sed -n 's/^parent \([0-9]*\)$/\1/p' <<<"$out")
	child=$(sed -n 's/^child \([0-9]*\)$/\1/p' <<<"$out")
	[[ -n $parent && -n $child && $parent != "$child" ]] ||
		p11a_fail "$name: no parent and child pids in: $out"
	lines=$(tail -n +"$((before + 1))" "$TLS_AUDIT")
	n_parent=$(grep -c "sign pid=$parent .* result=OK" <<<"$lines" || true)
	n_child=$(grep -c "sign pid=$child .* result=OK" <<<"$lines" || true)
	[[ $n_parent -eq $((COUNT + 2)) && $n_child -eq $COUNT ]] ||
		p11a_fail "$name: audit shows $n_parent parent and $n_child child signatures, expected $((COUNT + 2)) and $COUNT: $lines"
	! grep -v 'result=OK' <<<"$lines" | grep -q . ||
		p11a_fail "$name: failed signatures: $lines"
	echo "ok: $name: parent $parent signed $n_parent, child $child signed $n_child on its own connection"
done
