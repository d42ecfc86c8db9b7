#!/usr/bin/env bash
# The Debian packages (docs/PACKAGING.md): contrib/build-deb.sh builds
# them from a copy of this tree; each file is in the package Debian's
# split puts it in; lintian reports no error; `apt-get install ./*.deb`
# installs them on this machine (root, RUN_SERIAL: nothing else runs
# meanwhile), the postinst makes the p11agent account; then, with
# installed files only: the installed units' ExecStart, socket-activated
# the way systemd does it, serves `p11agent list` and signs
# (tests/systemd/socket_unit_starts_agent_on_first_connection.sh on the
# installed units and binaries); p11agent-testenv with the installed
# provider makes TLS handshakes (tests/tools/testenv_...sh); p11-kit
# finds the PKCS#11 module through its module file and the module lists
# the agent's keys; programs built with the installed pkg-config file and
# CMake package list them too.  At the end (and on any failure) the
# packages are purged, and the account removed if the test made it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
src=${P11A_SOURCE_DIR:?P11A_SOURCE_DIR is not set (run through ctest)}
. "$here/../integration/lib.sh"

PKGS=(p11agent libp11agent0 libp11agent-dev p11agent-openssl-provider p11agent-pkcs11)
[[ $(id -u) -eq 0 ]] || p11a_skip "not root: the test installs the packages with apt-get"
for t in dpkg-buildpackage dh fakeroot lintian apt-get systemd-socket-activate \
	softhsm2-util pkg-config; do
	command -v "$t" >/dev/null 2>&1 || p11a_skip "$t not installed (contrib/deps.sh)"
done
for p in "${PKGS[@]}"; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		p11a_skip "$p is installed already: the test does not touch an installation"
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/p11a-package.XXXXXX")
installed=0
made_user=1
getent passwd p11agent >/dev/null && made_user=0
made_group=1
getent group p11agent-clients >/dev/null && made_group=0

pkg_cleanup() {
	local rc=$?
	set +e
	if [[ $installed -eq 1 ]]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y "${PKGS[@]}" \
			>"$work/purge.log" 2>&1 || {
			cat "$work/purge.log" >&2
			[[ $rc -ne 0 ]] || rc=1
		}
	fi
	[[ $made_user -eq 0 ]] || ! getent passwd p11agent >/dev/null || userdel p11agent
	[[ $made_group -eq 0 ]] || ! getent group p11agent-clients >/dev/null ||
		groupdel p11agent-clients
	rm -rf "$work"
	(exit "$rc")
	p11a_cleanup
}
trap pkg_cleanup EXIT

ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
modulesdir=$(pkg-config --variable=modulesdir libcrypto)
version=$(sed -n '1s/^p11agent (\([^)]*\)).*/\1/p' "$src/contrib/debian/changelog")

p11a_log "contrib/build-deb.sh (nocheck, -j2)"
DEB_BUILD_OPTIONS="nocheck noddebs parallel=2" TMPDIR=$work \
	"$src/contrib/build-deb.sh" "$work/debs" >"$work/build.log" 2>&1 || {
	tail -n 60 "$work/build.log" >&2
	p11a_fail "contrib/build-deb.sh failed"
}
debs=()
for p in "${PKGS[@]}"; do
	f=$work/debs/${p}_${version}_$(dpkg --print-architecture).deb
	[[ -f $f ]] || p11a_fail "no package $p: $(ls "$work/debs")"
	debs+=("$f")
done
n=$(find "$work/debs" -name '*.deb' | wc -l)
[[ $n -eq ${#PKGS[@]} ]] || p11a_fail "$n packages built, expected ${#PKGS[@]}: $(ls "$work/debs")"

p11a_log "each file in its package"
# expect_in PACKAGE PATH...: the package holds these (files or links)
expect_in() {
	local p=$1 f
	shift
	dpkg-deb -c "$work/debs/${p}_${version}_"*.deb |
		awk '{ print $6 }' | sed 's|^\./|/|' >"$work/$p.list"
	for f in "$@"; do
		grep -qxF "$f" "$work/$p.list" || p11a_fail "$p does not hold $f"
	done
}
expect_in p11agent /usr/bin/p11agentd /usr/bin/p11agent /usr/bin/p11agent-testenv \
	/usr/libexec/p11agent/p11agent-helper /usr/libexec/p11agent/p11a-mktoken \
	/usr/lib/systemd/user/p11agent.socket /usr/lib/systemd/user/p11agent.service \
	/lib/systemd/system/p11agent-system.socket /lib/systemd/system/p11agent-system.service \
	/usr/lib/sysusers.d/p11agent.conf /usr/share/man/man8/p11agentd.8.gz \
	/usr/share/man/man1/p11agent.1.gz /usr/share/man/man1/p11agent-testenv.1.gz \
	/usr/share/man/man5/p11agent.conf.5.gz /usr/share/p11agent/shell/p11agent.sh
expect_in libp11agent0 "/usr/lib/$ma/libp11agent.so.0" "/usr/lib/$ma/libp11agent.so.$version"
expect_in libp11agent-dev /usr/include/p11agent/client.h "/usr/lib/$ma/libp11agent.so" \
	"/usr/lib/$ma/pkgconfig/p11agent.pc" "/usr/lib/$ma/cmake/p11agent/p11agentConfig.cmake" \
	/usr/share/man/man3/libp11agent.3.gz
expect_in p11agent-openssl-provider "$modulesdir/p11agent.so"
expect_in p11agent-pkcs11 "/usr/lib/$ma/pkcs11/p11agent-pkcs11.so" \
	/usr/share/p11-kit/modules/p11agent-pkcs11.module
# the runtime library alone in libp11agent0, the development files not there
! grep -qE '\.h$|\.pc$|\.cmake$|libp11agent\.so$' "$work/libp11agent0.list" ||
	p11a_fail "libp11agent0 holds development files"
grep -qE 'libp11agent\.so\.' "$work/p11agent.list" && p11a_fail "p11agent holds the library"
dups=$(cat "$work"/*.list | grep -v '/$' | grep -v '^/usr/share/doc/' | sort | uniq -d)
[[ -z $dups ]] || p11a_fail "files in two packages: $dups"
dpkg-deb -f "$work/debs/p11agent_${version}_"*.deb Depends | grep -q 'libp11agent0' ||
	p11a_fail "p11agent does not depend on libp11agent0"

p11a_log "lintian --fail-on error"
lintian --fail-on error "$work/debs/"*.changes >"$work/lintian.log" 2>&1 || {
	cat "$work/lintian.log" >&2
	p11a_fail "lintian reports errors"
}
grep -E '^[EW]: ' "$work/lintian.log" >&2 || true

p11a_log "apt-get install ./*.deb"
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	"${debs[@]}" >"$work/install.log" 2>&1 || {
	cat "$work/install.log" >&2
	p11a_fail "apt-get install of the packages failed"
}
getent passwd p11agent >/dev/null || p11a_fail "the postinst made no p11agent account"
[[ -x /usr/libexec/p11agent/p11agent-helper ]] || p11a_fail "no installed helper"

# only installed programs from here on
export P11AGENTD=/usr/bin/p11agentd P11AGENT=/usr/bin/p11agent \
	P11A_MKTOKEN=/usr/libexec/p11agent/p11a-mktoken
run_installed() { # SCRIPT [VAR=VALUE...]: another test on the installed files
	local script=$1
	shift
	env "$@" bash "$script" >"$work/run.log" 2>&1 || {
		cat "$work/run.log" >&2
		p11a_fail "${script##*/} failed on the installed packages"
	}
	grep '^ok' "$work/run.log" >&2
}

p11a_log "the installed user units, socket-activated: list and sign"
run_installed "$src/tests/systemd/socket_unit_starts_agent_on_first_connection.sh" \
	P11A_UNITS_INSTALLED="/usr/lib/systemd/user /lib/systemd/system"

p11a_log "p11agent-testenv with the installed provider: signatures and TLS handshakes"
run_installed "$src/tests/tools/testenv_start_serves_keys_and_stop_removes_all.sh" \
	P11A_TESTENV=/usr/bin/p11agent-testenv P11A_PROVIDER_DIR="$modulesdir"

p11a_log "p11-kit, the PKCS#11 module and the development files, on a testenv agent"
eval "$(TMPDIR=$work /usr/bin/p11agent-testenv start --keys p256)"
P11A_AGENT_PID=$P11AGENT_TESTENV_PID # lib.sh stops it should this fail
p11-kit list-modules >"$work/modules.txt" 2>"$work/modules.err" || true
grep -q 'p11agent-pkcs11' "$work/modules.txt" ||
	p11a_fail "p11-kit does not list the installed module: $(cat "$work/modules.txt")"
# the module shows the agent's token under the real token's label
# ("NAME: PATH" lines, each module's tokens indented below it)
awk '/^[^ ]/{ m = $1 } m == "p11agent-pkcs11:" && /^ +token: p11agent-testenv$/{ f = 1 }
	END { exit !f }' "$work/modules.txt" ||
	p11a_fail "p11-kit lists no agent token in the module: $(cat "$work/modules.txt" "$work/modules.err")"
if command -v pkcs11-tool >/dev/null 2>&1; then
	pkcs11-tool --module "/usr/lib/$ma/pkcs11/p11agent-pkcs11.so" -O >"$work/objects.txt" 2>&1 ||
		p11a_fail "pkcs11-tool on the installed module failed: $(cat "$work/objects.txt")"
	grep -q 'label: *p256' "$work/objects.txt" ||
		p11a_fail "the installed module does not show the agent's key: $(cat "$work/objects.txt")"
fi
openssl list -providers -provider default -provider p11agent >"$work/providers.txt" 2>&1 ||
	p11a_fail "openssl does not load the installed provider: $(cat "$work/providers.txt")"

# shellcheck disable=SC2046 # word lists
cc -std=c11 -Wall -Werror -o "$work/pc_client" "$src/tests/install/installed_client.c" \
	$(pkg-config --cflags --libs p11agent) ||
	p11a_fail "cannot build against the installed p11agent.pc"
cmake -S "$src/tests/install/consumer" -B "$work/consumer" \
	-DP11A_WANT_VERSION="${version%.*}" >"$work/consumer.log" 2>&1 &&
	cmake --build "$work/consumer" >>"$work/consumer.log" 2>&1 || {
	cat "$work/consumer.log" >&2
	p11a_fail "cannot build with find_package(p11agent) against the installed package"
}
for prog in "$work/pc_client" "$work/consumer/installed_client"; do
	got=$("$prog" list) || p11a_fail "$prog list failed"
	[[ $got == "$P11AGENT_TESTENV_P256_ID "* ]] || p11a_fail "$prog lists '$got'"
done
eval "$(/usr/bin/p11agent-testenv stop)"
P11A_AGENT_PID=

p11a_log "apt-get purge"
installed=0
DEBIAN_FRONTEND=noninteractive apt-get purge -y "${PKGS[@]}" >"$work/purge.log" 2>&1 || {
	cat "$work/purge.log" >&2
	p11a_fail "apt-get purge failed"
}
for f in /usr/bin/p11agentd /usr/lib/"$ma"/libp11agent.so.0 "$modulesdir/p11agent.so" \
	/usr/share/p11-kit/modules/p11agent-pkcs11.module; do
	[[ ! -e $f ]] || p11a_fail "$f is left after purge"
done
echo "ok: packages built, lint-clean, installed, served from installed files, purged"
