#!/usr/bin/env bash
# Build the Debian packages of this source tree (docs/PACKAGING.md):
# copies the tree (without .git and build directories) to a scratch
# directory, puts contrib/debian in place as debian/ (and the sysusers.d
# entry of contrib/systemd as debian/p11agent.sysusers), runs
#   dpkg-buildpackage -us -uc -b
# there and moves the .deb, .buildinfo and .changes files to OUT_DIR.
#
#   contrib/build-deb.sh [OUT_DIR]      (default: build-deb/)
#
# Environment: DEB_BUILD_OPTIONS as for dpkg-buildpackage (e.g.
# "nocheck parallel=2"), P11A_DEB_WORK a scratch directory to use (kept;
# default a temporary one, removed at exit).
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
out=${1:-$src/build-deb}

for t in dpkg-buildpackage dh fakeroot; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "build-deb.sh: $t not found (apt-get install dpkg-dev debhelper fakeroot)" >&2
		exit 1
	}
done
version=$(sed -n '1s/^p11agent (\([^)]*\)).*/\1/p' "$src/contrib/debian/changelog")
project=$(sed -n 's/^project(p11agent VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[[ $version == "$project" ]] || {
	echo "build-deb.sh: contrib/debian/changelog says $version, CMakeLists.txt $project" >&2
	exit 1
}

if [[ -n ${P11A_DEB_WORK:-} ]]; then
	work=$P11A_DEB_WORK
	mkdir -p "$work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/p11agent-deb.XXXXXX")
	trap 'rm -rf "$work"' EXIT
fi
tree=$work/p11agent-$version
rm -rf "$tree"
mkdir -p "$tree"
# the working tree as it is (uncommitted changes too), not the build output
tar -C "$src" --exclude=./.git --exclude='./build*' --exclude=./debian \
	--exclude='./obj-*' -cf - . | tar -C "$tree" -xf -
cp -r "$src/contrib/debian" "$tree/debian"
cp "$src/contrib/systemd/p11agent.sysusers" "$tree/debian/p11agent.sysusers"

(cd "$tree" && dpkg-buildpackage -us -uc -b)

mkdir -p "$out"
shopt -s nullglob
files=("$work"/*_"$version"_*.deb "$work"/*_"$version"_*.buildinfo "$work"/*_"$version"_*.changes)
[[ ${#files[@]} -gt 0 ]] || {
	echo "build-deb.sh: dpkg-buildpackage made no packages" >&2
	exit 1
}
mv -f "${files[@]}" "$out/"
echo "packages in $out:"
ls -1 "$out"
