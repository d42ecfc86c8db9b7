#!/usr/bin/env bash
# --check-config prints the effective configuration in the file's own
# format and exits 0 without starting anything: every value the file
# set (numbers, names resolved to ids, lists, identity sections with their
# policy), so that reading its output back gives the same output; a
# pin-value is never printed.  Which file is read: --config, else
# $XDG_CONFIG_HOME/p11agent/agent.conf, else ~/.config/p11agent/agent.conf.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/cfglib.sh"

cfg_setup
conf=$P11A_TMP/full.conf
cfg_write "$conf" <<EOF
# every kind of setting
[agent]
socket = $P11A_TMP/agent/a.sock
module = /usr/lib/softhsm/libsofthsm2.so
module = /usr/lib/x86_64-linux-gnu/pkcs11/other.so
allow-module = /usr/lib/*
allow-module = /opt/tokens/*.so
pin-source = pinentry:/usr/bin/pinentry-curses
workers = 4
request-timeout = 12
poll-interval = 250
max-frame = 4096
max-inflight = 8
max-connections = 9
max-per-uid = 3
idle-timeout = 60
frame-timeout = 5
allow-uid = root
allow-uid = 1234
allow-gid = 0
confirm-program = /usr/bin/true
audit = syslog
lock-after = 300
max-signs = 1000
log-level = warn
debug = yes

[identity "pkcs11:token=A;object=k1"]
purpose = tls13-client
confirm = yes
allow-uid = 1234
allow-gid = root

[identity "pkcs11:token=B?pin-value=s3cr3t-pin"]
EOF

p11a_log "prints what the file holds"
p11a_expect_exit 0 "$P11AGENTD" --config "$conf" --check-config
first=$P11A_OUTPUT
for line in "socket = $P11A_TMP/agent/a.sock" \
	"module = /usr/lib/softhsm/libsofthsm2.so" \
	"module = /usr/lib/x86_64-linux-gnu/pkcs11/other.so" \
	"allow-module = /opt/tokens/*.so" \
	"pin-source = pinentry:/usr/bin/pinentry-curses" \
	"workers = 4" "request-timeout = 12" "poll-interval = 250" \
	"max-frame = 4096" "max-inflight = 8" "max-connections = 9" \
	"max-per-uid = 3" "idle-timeout = 60" "frame-timeout = 5" \
	"allow-uid = 0" "allow-uid = 1234" "allow-gid = 0" \
	"confirm-program = /usr/bin/true" "audit = syslog" \
	"lock-after = 300" "max-signs = 1000" "log-level = warn" \
	"debug = yes" '[identity "pkcs11:token=A;object=k1"]' \
	"purpose = tls13-client" "confirm = yes"; do
	grep -Fxq -- "$line" <<<"$first" ||
		p11a_fail "--check-config output lacks '$line': $first"
done
grep -q 's3cr3t-pin' <<<"$first" && p11a_fail "--check-config printed a pin-value"
grep -Fxq '[identity "pkcs11:token=B?pin-value=***"]' <<<"$first" ||
	p11a_fail "the identity with a pin-value is missing: $first"
[[ ! -e $P11A_TMP/agent/a.sock ]] || p11a_fail "--check-config made a socket"

p11a_log "its output read back gives the same configuration"
# without the pin-value identity, whose PIN is hidden on purpose
sed '/^\[identity "pkcs11:token=B/,$d' <<<"$first" >"$P11A_TMP/printed.conf"
p11a_expect_exit 0 "$P11AGENTD" --config "$P11A_TMP/printed.conf" --check-config
# (the first line names the file read; blank lines do not matter)
diff <(tail -n +2 "$P11A_TMP/printed.conf" | grep -v '^$') \
	<(tail -n +2 <<<"$P11A_OUTPUT" | grep -v '^$') ||
	p11a_fail "reading --check-config's output back changed the configuration"

p11a_log "no file: defaults, and the options"
p11a_expect_exit 0 "$P11AGENTD" --no-config --check-config --workers 7 \
	--identity 'pkcs11:token=C' --confirm
p11a_expect_output_matches '^# p11agentd: no configuration file'
grep -Fxq 'workers = 7' <<<"$P11A_OUTPUT" || p11a_fail "--workers not shown"
grep -Fxq 'request-timeout = 30' <<<"$P11A_OUTPUT" ||
	p11a_fail "the default request-timeout is not shown"
grep -Fxq 'confirm = yes' <<<"$P11A_OUTPUT" || p11a_fail "--confirm not shown"

p11a_log "the file in XDG_CONFIG_HOME is read by default"
mkdir -p "$XDG_CONFIG_HOME/p11agent"
printf '[agent]\nworkers = 5\n' >"$XDG_CONFIG_HOME/p11agent/agent.conf"
p11a_expect_exit 0 "$P11AGENTD" --check-config
p11a_expect_output_matches "^# p11agentd: $XDG_CONFIG_HOME/p11agent/agent.conf "
grep -Fxq 'workers = 5' <<<"$P11A_OUTPUT" || p11a_fail "the XDG file was not read"

p11a_log "without XDG_CONFIG_HOME, ~/.config (a relative XDG_CONFIG_HOME is ignored)"
mkdir -p "$P11A_TMP/home/.config/p11agent"
printf 'workers = 6\n' >"$P11A_TMP/home/.config/p11agent/agent.conf"
for xdg in unset relative; do
	if [[ $xdg == unset ]]; then
		p11a_expect_exit 0 env -u XDG_CONFIG_HOME HOME="$P11A_TMP/home" \
			"$P11AGENTD" --check-config
	else
		p11a_expect_exit 0 env XDG_CONFIG_HOME=xdg HOME="$P11A_TMP/home" \
			"$P11AGENTD" --check-config
	fi
	grep -Fxq 'workers = 6' <<<"$P11A_OUTPUT" ||
		p11a_fail "\$HOME/.config/p11agent/agent.conf was not read ($xdg)"
done
echo ok
