#!/usr/bin/env bash
# Build p11agent and run every test twice: a normal build (build/, the
# default compiler) and an AddressSanitizer + UBSan build with clang
# (build-asan/).  Installs missing Debian packages first (as root, or
# through sudo).  Exits non-zero if anything fails.
#
#   contrib/test.sh     (BUILD_DIR, ASAN_BUILD_DIR, JOBS override the defaults)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. contrib/deps.sh

JOBS=${JOBS:-2}
BUILD_DIR=${BUILD_DIR:-build}
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}

step() {
	printf '\n==> %s\n' "$*"
}

p11a_install_deps

step "$BUILD_DIR/: configure and build"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD_DIR" -j"$JOBS"

step "$BUILD_DIR/: run the tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS"

step "$ASAN_BUILD_DIR/: configure and build with clang, ASan and UBSan"
cmake -S . -B "$ASAN_BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug \
	-DCMAKE_C_COMPILER=clang -DP11A_SANITIZE=ON
cmake --build "$ASAN_BUILD_DIR" -j"$JOBS"

step "$ASAN_BUILD_DIR/: run the tests"
ctest --test-dir "$ASAN_BUILD_DIR" --output-on-failure -j"$JOBS"

step "all tests passed in $BUILD_DIR/ and $ASAN_BUILD_DIR/"
