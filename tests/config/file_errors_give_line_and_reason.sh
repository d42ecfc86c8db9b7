#!/usr/bin/env bash
# A broken configuration file stops p11agentd (and --check-config) with
# "FILE:LINE: reason" for the first error: syntax errors, unknown
# sections and keys, keys in the wrong section, bad values, duplicates,
# bad identity URIs, overlong lines.  Comments, blank and indented lines
# count in the line numbers.  A missing --config file is an error too.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/cfglib.sh"

cfg_setup
cd "$P11A_TMP"

# case NAME LINE REGEX: the file NAME.conf (from stdin) fails at LINE.
case_() {
	local name=$1 line=$2 re=$3
	cfg_write "$name.conf"
	p11a_log "$name: line $line"
	cfg_expect_error "$name.conf" "$line" "$re"
}

case_ unknown-key 4 "unknown key 'modul' in \[agent\]" <<-'EOF'
	# the agent
	[agent]
	workers = 2
	modul = /usr/lib/softhsm/libsofthsm2.so
EOF
case_ out-of-range 2 "workers: '0' is not a number in 1\.\.64" <<-'EOF'
	[agent]
	workers = 0
EOF
case_ not-a-number 3 "max-frame: '12k' is not a number" <<-'EOF'
	; comment
	[agent]
	max-frame = 12k
EOF
case_ negative 1 "max-signs: '-1' is not a number" <<-'EOF'
	max-signs = -1
EOF
case_ no-equals 3 "expected 'key = value'" <<-'EOF'
	[agent]

	module /usr/lib/softhsm/libsofthsm2.so
EOF
case_ open-section 2 "'\[' without a closing '\]'" <<-'EOF'
	workers = 1
	[agent
EOF
case_ unknown-section 1 "unknown section \[agnet\]" <<-'EOF'
	[agnet]
	workers = 1
EOF
case_ text-after-section 1 "text after the section header" <<-'EOF'
	[agent] workers = 1
EOF
case_ not-pkcs11 2 "an identity needs a pkcs11: URI, not 'file:/x'" <<-'EOF'
	[agent]
	[identity "file:/x"]
EOF
case_ bad-uri 1 "bad pkcs11: URI" <<-'EOF'
	[identity "pkcs11:token"]
EOF
case_ unquoted-identity 1 'an identity section is \[identity "URI"\]' <<-'EOF'
	[identity pkcs11:token=a]
EOF
case_ bad-purpose 3 "purpose: unknown purpose 'tls12'" <<-'EOF'
	[identity "pkcs11:token=a"]
	confirm = yes
	purpose = tls12
EOF
case_ identity-key-in-agent 2 "'purpose' does not belong in \[agent\]" <<-'EOF'
	[agent]
	purpose = tls13-client
EOF
case_ agent-key-in-identity 2 "'socket' does not belong in an \[identity\] section" <<-'EOF'
	[identity "pkcs11:token=a"]
	socket = /tmp/x.sock
EOF
case_ identity-as-key 1 'identities are sections' <<-'EOF'
	identity = pkcs11:token=a
EOF
case_ duplicate-key 4 "'workers' is already set on line 2" <<-'EOF'
	[agent]
	workers = 2
	# later, again
	workers = 3
EOF
case_ duplicate-identity 5 "identity pkcs11:token=a already has a section on line 1" <<-'EOF'
	[identity "pkcs11:token=a"]
	purpose = any
	[identity "pkcs11:token=b"]
	purpose = any
	[identity "pkcs11:token=a"]
EOF
case_ duplicate-in-identity 3 "'confirm' is already set on line 2" <<-'EOF'
	[identity "pkcs11:token=a"]
	confirm = yes
	confirm = no
EOF
case_ bad-bool 2 "confirm: 'maybe' is not yes or no" <<-'EOF'
	[identity "pkcs11:token=a"]
	confirm = maybe
EOF
case_ no-such-user 1 "allow-uid: no user 'no-such-user-p11a'" <<-'EOF'
	allow-uid = no-such-user-p11a
EOF
case_ no-such-group 2 "allow-gid: no group 'no-such-group-p11a'" <<-'EOF'
	[identity "pkcs11:token=a"]
	allow-gid = no-such-group-p11a
EOF
case_ bad-pin-source 1 "pin-source: unknown PIN source 'tty'" <<-'EOF'
	pin-source = tty
EOF
case_ empty-value 1 "socket: needs a value" <<-'EOF'
	socket =
EOF
case_ bad-log-level 1 "log-level: unknown log level 'loud'" <<-'EOF'
	log-level = loud
EOF
case_ too-many-modules 34 "module: at most 32 values" < <(
	echo '[agent]'
	for i in $(seq 1 33); do echo "module = /usr/lib/m$i.so"; done
)
long=$(printf 'a%.0s' $(seq 1 1100))
case_ long-line 2 "line longer than [0-9]+ characters" <<-EOF
	[agent]
	audit = /tmp/$long
EOF

# Comments, blank and indented lines, inline comments and repeated list
# keys before the error: the line number still points at it, and only
# the first of two errors is reported.
case_ after-good-lines 12 "unknown key 'lock-afterr'" <<-'EOF'
	# p11agentd configuration
	[agent]
	  module = /usr/lib/softhsm/libsofthsm2.so   ; indented
	allow-uid = 0
	allow-uid = 0

	[identity "pkcs11:token=a;object=k"]
	; a comment
	purpose = tls13-client
	allow-uid = 0
	[agent]
	lock-afterr = 60
	bogus line without equals
EOF

p11a_log "a missing --config file"
p11a_expect_exit 1 "$P11AGENTD" --config "$P11A_TMP/none.conf" --check-config
p11a_expect_output_matches "^p11agentd: cannot read $P11A_TMP/none.conf: No such file"
p11a_log "a directory as --config"
p11a_expect_exit 1 "$P11AGENTD" --config "$P11A_TMP" --check-config
p11a_expect_output_matches "^p11agentd: $P11A_TMP: Is a directory"

p11a_log "a bad file in XDG_CONFIG_HOME is found and reported"
mkdir -p "$XDG_CONFIG_HOME/p11agent"
printf '[agent]\nworkers = many\n' >"$XDG_CONFIG_HOME/p11agent/agent.conf"
p11a_expect_exit 1 "$P11AGENTD" --check-config
p11a_expect_output_matches "^p11agentd: $XDG_CONFIG_HOME/p11agent/agent.conf:2: workers:"
p11a_log "--no-config does not read it"
p11a_expect_exit 0 "$P11AGENTD" --no-config --check-config

p11a_log "a bad option is reported as the option (exit 2; 1 with --check-config)"
p11a_expect_exit 2 "$P11AGENTD" --no-config --workers 0 --foreground
p11a_expect_output_matches "^p11agentd: --workers: '0' is not a number in 1\.\.64"
p11a_expect_exit 1 "$P11AGENTD" --no-config --workers 0 --check-config
p11a_expect_exit 2 "$P11AGENTD" --no-config --purpose any
p11a_expect_output_matches "--purpose must follow the --identity"
echo ok
