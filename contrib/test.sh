#!/usr/bin/env bash
# Build p11agent and check it the way CI does:
#   1. a normal build (build/, the default compiler) and all its tests,
#      including the Debian packages' (label package, docs/PACKAGING.md),
#      a TPM's (label tpm) and opencryptoki's soft token (label
#      opencryptoki: as root only, it resets the system's soft token;
#      skipped otherwise, docs/TOKENS.md);
#   2. lint: clang-tidy (.clang-tidy) and cppcheck (.cppcheck-suppressions)
#      over agent/, common/, client/ and tests/ -- any finding fails;
#   3. valgrind memcheck over the agent's integration tests (the agent
#      runs under valgrind through P11A_AGENT_WRAPPER, see
#      tests/integration/lib.sh): any memory error or definite leak fails;
#   4. an AddressSanitizer + UBSan build with clang (build-asan/) and all
#      its tests but the package one, including every fuzz corpus file;
#   5. libFuzzer on the frame decoder and message parsers for
#      FUZZ_SECONDS (60) in the clang build;
#   6. a ThreadSanitizer build with clang (build-tsan/) and the tests of
#      the agent's threads and the helper's (labels fault, helper, cards,
#      reliability; the integration suite runs under ASan and valgrind),
#      but three that read the agent's memory, which TSan's shadow memory
#      and no-op mlock() fool.
# Installs missing Debian packages first (as root, or through sudo).
# Exits non-zero if anything fails.
#
#   contrib/test.sh     (BUILD_DIR, ASAN_BUILD_DIR, TSAN_BUILD_DIR, JOBS,
#                        FUZZ_SECONDS, P11A_SKIP_LINT=1, P11A_SKIP_VALGRIND=1,
#                        P11A_SKIP_TSAN=1 override)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. contrib/deps.sh

JOBS=${JOBS:-2}
BUILD_DIR=${BUILD_DIR:-build}
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
TSAN_BUILD_DIR=${TSAN_BUILD_DIR:-build-tsan}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

step() {
	printf '\n==> %s\n' "$*"
}

# The sources clang-tidy checks: ours, from the compile commands.
lint_sources() {
	python3 - "$BUILD_DIR/compile_commands.json" <<-'EOP'
		import json, os, sys
		root = os.getcwd() + "/"
		for f in sorted({e["file"] for e in json.load(open(sys.argv[1]))}):
		    rel = f[len(root):] if f.startswith(root) else f
		    if rel.split("/")[0] in ("agent", "common", "client", "tests", "tools"):
		        print(f)
	EOP
}

run_lint() {
	local out=$BUILD_DIR/clang-tidy.log rc=0
	step "lint: clang-tidy (.clang-tidy)"
	lint_sources | xargs -n 8 -P "$JOBS" clang-tidy -p "$BUILD_DIR" \
		--quiet >"$out" 2>&1 || rc=1
	if grep -E '(warning|error): ' "$out"; then
		rc=1
	fi
	[[ $rc -eq 0 ]] || {
		echo "clang-tidy found problems (full log: $out)" >&2
		return 1
	}
	step "lint: cppcheck (.cppcheck-suppressions)"
	cppcheck --enable=warning,performance,portability --std=c11 \
		--error-exitcode=1 --inline-suppr --quiet \
		--suppressions-list=.cppcheck-suppressions \
		-D_GNU_SOURCE -DP11A_VERSION='"0"' -I include -I common \
		agent common client tests tools
}

run_valgrind() {
	local supp=$PWD/tests/reliability/valgrind.supp
	step "$BUILD_DIR/: the agent's integration tests under valgrind memcheck"
	P11A_AGENT_WRAPPER="valgrind --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite --show-leak-kinds=definite \
--track-fds=no --suppressions=$supp --quiet" \
		P11A_TIMEOUT=120 \
		ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" \
		-L integration --timeout 900
}

run_fuzz() {
	local fuzzer=$ASAN_BUILD_DIR/tests/fuzz/fuzz_wire
	local work=$ASAN_BUILD_DIR/fuzz-work
	[[ -x $fuzzer ]] || {
		echo "no libFuzzer target in $ASAN_BUILD_DIR (clang needed)" >&2
		return 1
	}
	step "$ASAN_BUILD_DIR/: libFuzzer on the wire codec for ${FUZZ_SECONDS}s"
	rm -rf "$work" && mkdir -p "$work/corpus" "$work/crashes"
	# new inputs go to the scratch corpus, never to the checked-in one
	"$fuzzer" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
		-artifact_prefix="$work/crashes/" -print_final_stats=1 \
		"$work/corpus" tests/fuzz/corpus
}

run_tsan() {
	step "$TSAN_BUILD_DIR/: configure and build with clang and ThreadSanitizer"
	cmake -S . -B "$TSAN_BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug \
		-DCMAKE_C_COMPILER=clang -DP11A_TSAN=ON
	cmake --build "$TSAN_BUILD_DIR" -j"$JOBS"
	step "$TSAN_BUILD_DIR/: the agent's and the helper's tests under TSan"
	# the first race stops the process (a test then fails); a module's
	# deliberate crash or abort() is left to kill its helper
	TSAN_OPTIONS="halt_on_error=1 handle_segv=0 handle_sigbus=0 handle_abort=0 suppressions=$PWD/tests/tsan.supp" \
		ctest --test-dir "$TSAN_BUILD_DIR" --output-on-failure -j"$JOBS" \
		-L '^(fault|helper|cards|reliability)$' -LE '^pkcs11$' \
		-E 'keeps_pins_out_of_core_dumps|pins_leave_no_copy|memory_stays_bounded'
}

p11a_install_deps

step "$BUILD_DIR/: configure and build"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_EXPORT_COMPILE_COMMANDS=ON
cmake --build "$BUILD_DIR" -j"$JOBS"

step "$BUILD_DIR/: run the tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS"

[[ ${P11A_SKIP_LINT:-0} == 1 ]] || run_lint
[[ ${P11A_SKIP_VALGRIND:-0} == 1 ]] || run_valgrind

step "$ASAN_BUILD_DIR/: configure and build with clang, ASan and UBSan"
cmake -S . -B "$ASAN_BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug \
	-DCMAKE_C_COMPILER=clang -DP11A_SANITIZE=ON
cmake --build "$ASAN_BUILD_DIR" -j"$JOBS"

step "$ASAN_BUILD_DIR/: run the tests (the package test ran in $BUILD_DIR/)"
# the package test, and the real TPM and opencryptoki suites, run in the
# normal build only: under ASan they would only re-test the same agent
# code, slower
ctest --test-dir "$ASAN_BUILD_DIR" --output-on-failure -j"$JOBS" \
	-LE '^(package|tpm|opencryptoki)$'

run_fuzz
[[ ${P11A_SKIP_TSAN:-0} == 1 ]] || run_tsan

step "all checks passed in $BUILD_DIR/, $ASAN_BUILD_DIR/ and $TSAN_BUILD_DIR/"
