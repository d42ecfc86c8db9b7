#!/usr/bin/env bash
# The documentation keeps up with the settings table: every key that
# --check-config prints (set or as a comment) and every long option that
# --help lists appears in docs/CONFIG.md, and every key in the man page
# p11agent.conf(5) and every option in p11agentd(8) when those exist.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/cfglib.sh"

[[ -n ${P11A_SOURCE_DIR:-} ]] || p11a_fail "P11A_SOURCE_DIR is not set"
doc=$P11A_SOURCE_DIR/docs/CONFIG.md
conf_man=$P11A_SOURCE_DIR/docs/man/p11agent.conf.5.scd
agent_man=$P11A_SOURCE_DIR/docs/man/p11agentd.8.scd
[[ -r $doc ]] || p11a_fail "no $doc"

out=$("$P11AGENTD" --no-config --check-config --identity 'pkcs11:token=x') ||
	p11a_fail "--check-config failed"
mapfile -t keys < <(sed -n 's/^# \([a-z-]*\):.*/\1/p; s/^\([a-z-]*\) = .*/\1/p' \
	<<<"$out" | sort -u)
[[ ${#keys[@]} -ge 20 ]] || p11a_fail "only ${#keys[@]} keys in: $out"
help=$("$P11AGENTD" --help) || p11a_fail "--help failed"
mapfile -t opts < <(grep -o -- '--[a-z][a-z-]*' <<<"$help" | sort -u)
[[ ${#opts[@]} -ge 25 ]] || p11a_fail "only ${#opts[@]} options in --help"

missing=()
for k in "${keys[@]}"; do
	grep -qF -- "\`$k\`" "$doc" || missing+=("CONFIG.md: key $k")
	[[ ! -r $conf_man ]] || grep -qF -- "*$k*" "$conf_man" ||
		missing+=("p11agent.conf.5: key $k")
done
for o in "${opts[@]}"; do
	grep -qF -- "$o" "$doc" || missing+=("CONFIG.md: option $o")
	[[ ! -r $agent_man ]] || grep -qF -- "*$o*" "$agent_man" ||
		missing+=("p11agentd.8: option $o")
done
[[ ${#missing[@]} -eq 0 ]] || p11a_fail "undocumented: ${missing[*]}"
echo "ok: ${#keys[@]} keys, ${#opts[@]} options documented"
