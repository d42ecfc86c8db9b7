#!/usr/bin/env bash
# `cmake --install` of the build tree into a DESTDIR gives the layout a
# package needs (binaries, libp11agent with its versioned soname and only
# p11a_* symbols exported, headers, p11agent.pc, the CMake package, man
# pages, systemd units, the provider and PKCS#11 module when built), and
# nothing outside the prefix.  Then, as a user of the package would:
# build a program with the installed pkg-config file (PKG_CONFIG_SYSROOT_DIR
# pointing into the DESTDIR) and another with find_package(p11agent), and
# run both, and the installed p11agent, against the installed p11agentd on
# a SoftHSM token; every signature is verified with OpenSSL.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/../integration/lib.sh"

for v in P11A_BUILD_DIR P11A_CMAKE P11A_CC P11A_VERSION P11A_PREFIX \
	P11A_BINDIR P11A_LIBDIR P11A_INCLUDEDIR P11A_MANDIR P11A_DATADIR; do
	[[ -n ${!v:-} ]] || p11a_fail "$v is not set (run through ctest)"
done
command -v pkg-config >/dev/null 2>&1 || p11a_skip "pkg-config not installed"
command -v readelf >/dev/null 2>&1 || p11a_skip "readelf not installed"
command -v nm >/dev/null 2>&1 || p11a_skip "nm not installed"

# A value from the build's CMakeCache.txt (set after tests/ configured).
cache_get() {
	sed -n "s/^$1:[A-Z]*=//p" "$P11A_BUILD_DIR/CMakeCache.txt"
}

p11a_setup_dir
dest=$P11A_TMP/destdir

# DIR relative to the prefix (or absolute) -> its path inside the DESTDIR
inst() {
	if [[ $1 == /* ]]; then echo "$dest$1"; else echo "$dest$P11A_PREFIX/$1"; fi
}

p11a_log "cmake --install into $dest"
DESTDIR=$dest "$P11A_CMAKE" --install "$P11A_BUILD_DIR" \
	>"$P11A_TMP/install.log" 2>&1 || {
	cat "$P11A_TMP/install.log" >&2
	p11a_fail "cmake --install failed"
}

bindir=$(inst "$P11A_BINDIR")
libdir=$(inst "$P11A_LIBDIR")
incdir=$(inst "$P11A_INCLUDEDIR")
mandir=$(inst "$P11A_MANDIR")

expect_file() { [[ -f $1 ]] || p11a_fail "not installed: ${1#"$dest"}"; }

# ---- binaries ---------------------------------------------------------
for b in p11agentd p11agent; do
	[[ -f $bindir/$b && -x $bindir/$b ]] ||
		p11a_fail "no executable ${bindir#"$dest"}/$b"
done
p11a_expect_exit 0 "$bindir/p11agentd" --version
[[ $P11A_OUTPUT == "p11agentd $P11A_VERSION" ]] ||
	p11a_fail "installed p11agentd --version says '$P11A_OUTPUT'"

# ---- the library: versioned names, soname, exported symbols ------------
so=libp11agent.so
expect_file "$libdir/$so.$P11A_VERSION"
[[ -L $libdir/$so.0 && $(readlink "$libdir/$so.0") == "$so.$P11A_VERSION" ]] ||
	p11a_fail "$so.0 is not a link to $so.$P11A_VERSION"
[[ -L $libdir/$so && $(readlink "$libdir/$so") == "$so.0" ]] ||
	p11a_fail "$so is not a link to $so.0"
soname=$(readelf -d "$libdir/$so.$P11A_VERSION" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == "$so.0" ]] || p11a_fail "soname is '$soname', expected $so.0"
# only the public API: p11a_* (sanitizer builds add their __asan/__ubsan
# bookkeeping, and every ELF object has _init/_fini)
leaked=$(nm -D --defined-only "$libdir/$so.$P11A_VERSION" | awk '{print $3}' |
	grep -Ev '^(p11a_|_init$|_fini$|_+(asan|ubsan|sanitizer|odr_asan)|___asan)' || true)
[[ -z $leaked ]] || p11a_fail "libp11agent exports internals: ${leaked//$'\n'/ }"
nm -D --defined-only "$libdir/$so.$P11A_VERSION" | grep -q ' T p11a_client_sign$' ||
	p11a_fail "libp11agent does not export p11a_client_sign"

# no build directory in any run path
for f in "$bindir/p11agentd" "$bindir/p11agent" "$libdir/$so.$P11A_VERSION"; do
	rp=$(readelf -d "$f" | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p')
	[[ $rp != *"$P11A_BUILD_DIR"* ]] || p11a_fail "${f#"$dest"} has run path $rp"
done

# ---- headers, pkg-config, CMake package --------------------------------
for h in client.h error.h protocol.h; do
	expect_file "$incdir/p11agent/$h"
done
pcfile=$libdir/pkgconfig/p11agent.pc
expect_file "$pcfile"
cmakedir=$libdir/cmake/p11agent
for f in p11agentConfig.cmake p11agentConfigVersion.cmake p11agentTargets.cmake; do
	expect_file "$cmakedir/$f"
done
ls "$cmakedir"/p11agentTargets-*.cmake >/dev/null 2>&1 ||
	p11a_fail "no per-configuration p11agentTargets-*.cmake installed"

# ---- man pages ----------------------------------------------------------
if [[ $(cache_get P11A_MAN) == ON ]]; then
	for page in man8/p11agentd.8 man1/p11agent.1 man5/p11agent.conf.5 \
		man3/libp11agent.3; do
		expect_file "$mandir/$page"
		grep -q '^\.TH' "$mandir/$page" || p11a_fail "$page is not a man page"
	done
else
	p11a_log "P11A_MAN is off: man pages not checked"
fi

# ---- systemd units and the sysusers.d entry -----------------------------
if [[ $(cache_get P11A_SYSTEMD) == ON ]]; then
	userdir=$(inst "$(cache_get P11A_SYSTEMD_USER_UNIT_DIR)")
	sysdir=$(inst "$(cache_get P11A_SYSTEMD_SYSTEM_UNIT_DIR)")
	expect_file "$userdir/p11agent.socket"
	expect_file "$userdir/p11agent.service"
	expect_file "$sysdir/p11agent-system.socket"
	expect_file "$sysdir/p11agent-system.service"
	expect_file "$(inst "$(cache_get P11A_SYSUSERS_DIR)")/p11agent.conf"
	for unit in "$userdir/p11agent.service" "$sysdir/p11agent-system.service"; do
		grep -q "^ExecStart=.*$P11A_PREFIX/$P11A_BINDIR/p11agentd" "$unit" ||
			[[ $P11A_BINDIR == /* ]] ||
			p11a_fail "${unit#"$dest"} does not start the installed p11agentd"
		! grep -q '@' "$unit" || p11a_fail "${unit#"$dest"} has unreplaced @VARS@"
	done
fi

# ---- contrib: shell snippets, Python client, SSH examples, logrotate ----
share=$(inst "$P11A_DATADIR")/p11agent
for f in shell/p11agent.sh shell/p11agent.fish python/p11agent_client.py \
	ssh/ssh_config.example ssh/sshd_config.example logrotate/p11agent; do
	expect_file "$share/$f"
done
[[ -x $bindir/p11agent-ssh ]] || p11a_fail "p11agent-ssh is not installed as a command"

# ---- tools for other projects' CI (docs/CI.md) and the module helper ---
[[ -x $bindir/p11agent-testenv ]] || p11a_fail "p11agent-testenv is not installed as a command"
libexec=$(inst "${P11A_LIBEXECDIR:?}")/p11agent
for t in p11a-mktoken p11agent-helper; do
	[[ -x $libexec/$t ]] || p11a_fail "no executable ${libexec#"$dest"}/$t"
done
grep -qF "$P11A_PREFIX/${P11A_LIBEXECDIR}/p11agent/p11a-mktoken" "$bindir/p11agent-testenv" ||
	[[ $P11A_LIBEXECDIR == /* ]] ||
	p11a_fail "the installed p11agent-testenv does not run the installed p11a-mktoken"
python3 "$share/python/p11agent_client.py" --help >/dev/null ||
	p11a_fail "the installed Python client does not run"

# ---- the provider and the PKCS#11 module, when built --------------------
# (where is their CMakeLists.txt's choice, e.g. OpenSSL's modules dir)
for m in ${P11A_EXTRA_MODULES:-}; do
	found=$(find "$dest$P11A_PREFIX" -name "$m" -type f | head -n 1)
	[[ -n $found ]] || p11a_fail "module $m is built but not installed"
	p11a_log "installed ${found#"$dest"}"
done

# ---- nothing outside the prefix, no build paths in text files ----------
manifest=$P11A_BUILD_DIR/install_manifest.txt
[[ -s $manifest ]] || p11a_fail "cmake --install wrote no install_manifest.txt"
while IFS= read -r f; do
	[[ $f == "$dest$P11A_PREFIX"/* ]] || p11a_fail "installed outside the prefix: $f"
	[[ -e $f || -L $f ]] || p11a_fail "listed in the manifest but missing: $f"
	case $f in
	*.pc | *.cmake | *.service | *.socket | *.conf | *.h)
		! grep -qF "$P11A_BUILD_DIR" "$f" ||
			p11a_fail "${f#"$dest"} mentions the build directory"
		;;
	esac
done < <(grep "^$dest" "$manifest")

# ---- pkg-config, as a packager's sysroot build sees it ------------------
export PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH=$libdir/pkgconfig # before the system's .pc files
[[ $(pkg-config --variable=pcfiledir p11agent) == "$libdir/pkgconfig" ]] ||
	p11a_fail "pkg-config uses $(pkg-config --path p11agent), not the installed p11agent.pc"
[[ $(pkg-config --modversion p11agent) == "$P11A_VERSION" ]] ||
	p11a_fail "pkg-config --modversion p11agent: $(pkg-config --modversion p11agent)"
cflags=$(pkg-config --cflags p11agent)
libs=$(pkg-config --libs p11agent)
[[ $cflags == *"-I$incdir"* ]] || p11a_fail "pkg-config --cflags gives '$cflags'"
[[ $libs == *"-L$libdir"* && $libs == *-lp11agent* ]] ||
	p11a_fail "pkg-config --libs gives '$libs'"
# each public header (all of include/p11agent/) is installed and
# compiles on its own
for h in "$here"/../../include/p11agent/*.h; do
	h=${h##*/}
	expect_file "$incdir/p11agent/$h"
	printf '#include <p11agent/%s>\n' "$h" |
		"$P11A_CC" -std=c11 -Wall -Wextra -Werror $cflags -fsyntax-only -x c - ||
		p11a_fail "installed <p11agent/$h> does not compile on its own"
done
pc_prog=$P11A_TMP/installed_client.pc
# shellcheck disable=SC2086 # the flags are word lists
"$P11A_CC" -std=c11 -Wall -Wextra -Werror ${P11A_SAN_FLAGS:-} $cflags \
	-o "$pc_prog" "$here/installed_client.c" $libs ||
	p11a_fail "cannot build a program with the installed p11agent.pc"
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH

# ---- find_package(p11agent) ---------------------------------------------
cmake_consumer() { # BUILD_DIR VERSION
	"$P11A_CMAKE" -S "$here/consumer" -B "$1" -DP11A_WANT_VERSION="$2" \
		-DCMAKE_PREFIX_PATH="$dest$P11A_PREFIX" \
		-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
		-DCMAKE_C_COMPILER="$P11A_CC" \
		-DCMAKE_C_FLAGS="${P11A_SAN_FLAGS:-}" \
		-DCMAKE_EXE_LINKER_FLAGS="${P11A_SAN_FLAGS:-}" >"$1.log" 2>&1
}
cmake_consumer "$P11A_TMP/consumer" "${P11A_VERSION%.*}" || {
	cat "$P11A_TMP/consumer.log" >&2
	p11a_fail "find_package(p11agent ${P11A_VERSION%.*}) failed on the installed package"
}
found=$(sed -n 's/^p11agent_DIR:[A-Z]*=//p' "$P11A_TMP/consumer/CMakeCache.txt")
[[ $found == "$cmakedir" ]] || p11a_fail "find_package found p11agent in '$found'"
"$P11A_CMAKE" --build "$P11A_TMP/consumer" >"$P11A_TMP/consumer-build.log" 2>&1 || {
	cat "$P11A_TMP/consumer-build.log" >&2
	p11a_fail "cannot build against p11agent::p11agent"
}
cm_prog=$P11A_TMP/consumer/installed_client
# a major version the package is not must be refused
if cmake_consumer "$P11A_TMP/consumer-v9" 9.0; then
	p11a_fail "find_package(p11agent 9.0) accepted version $P11A_VERSION"
fi

# ---- the installed pieces run together ---------------------------------
# the installed p11agent finds the installed library through its run path;
# the pkg-config program through LD_LIBRARY_PATH, the CMake one through
# the run path CMake gives programs linked to imported targets
resolves_to() { # PROGRAM -> path libp11agent.so.0 resolves to
	local p
	p=$(ldd "$1" | sed -n 's/^[[:space:]]*libp11agent\.so\.0 => \([^ ]*\).*/\1/p')
	[[ -z $p ]] || readlink -f "$p"
}
# lib.sh starts and drives these
export P11AGENTD=$bindir/p11agentd P11AGENT=$bindir/p11agent
[[ $(resolves_to "$P11AGENT") == "$libdir/$so.$P11A_VERSION" ]] ||
	p11a_fail "installed p11agent loads libp11agent from '$(resolves_to "$P11AGENT")'"
[[ $(LD_LIBRARY_PATH=$libdir resolves_to "$pc_prog") == "$libdir/$so.$P11A_VERSION" ]] ||
	p11a_fail "the pkg-config program does not load the installed library"
[[ $(resolves_to "$cm_prog") == "$libdir/$so.$P11A_VERSION" ]] ||
	p11a_fail "the CMake program loads libp11agent from '$(resolves_to "$cm_prog")'"

p11a_make_token inst 2468 k-rsa:rsa2048 k-p256:p256 k-ed:ed25519
export P11A_PIN=2468
p11a_start_agent --pin-source env:P11A_PIN
p11a_list
[[ ${#P11A_ID_ID[@]} -eq 3 ]] || p11a_fail "installed agent lists ${#P11A_ID_ID[@]} identities, expected 3"
want=$(for i in "${!P11A_ID_ID[@]}"; do
	echo "${P11A_ID_ID[$i]} ${P11A_ID_URI[$i]}"
done | sort)

for prog in "$pc_prog" "$cm_prog"; do
	got=$(LD_LIBRARY_PATH=$libdir "$prog" list | sort) ||
		p11a_fail "$prog list failed"
	[[ $got == "$want" ]] ||
		p11a_fail "$prog lists"$'\n'"$got"$'\n'"instead of"$'\n'"$want"
	for spec in k-rsa:rsa_pss_rsae_sha256 k-p256:ecdsa_secp256r1_sha256 \
		k-ed:ed25519; do
		name=${spec%%:*} scheme=${spec#*:}
		id=$(p11a_identity_id "$name")
		p11a_random_file "$P11A_TMP/msg"
		rm -f "$P11A_TMP/sig"
		LD_LIBRARY_PATH=$libdir "$prog" sign "$id" "$scheme" \
			"$P11A_TMP/msg" "$P11A_TMP/sig" ||
			p11a_fail "$prog sign $name $scheme failed"
		p11a_verify "$P11A_TMP/sig" "$P11A_TMP/msg" "$P11A_TMP/inst/$name.pub.pem" "$scheme"
	done
done
# and the installed p11agent itself
p11a_sign_verify "$(p11a_identity_id k-p256)" ecdsa_secp384r1_sha384 "$P11A_TMP/inst" k-p256

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "installed p11agentd exited $rc on SIGTERM"
echo "ok: installed layout checked; pkg-config and find_package programs signed with the installed agent"
