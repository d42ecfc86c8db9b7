#!/usr/bin/env bash
# Two versions of the agent measured in one sitting, their runs
# interleaved (before, after, before, after ...) so that the host's load
# falls on both alike; every run measures `direct` again, and the "after"
# runs take the peers (peers.sh).  Each round starts with p11agent-floor,
# the cost of a bare blocking hop and relay.
#
#   tests/bench/before-after.sh --before-src DIR [--rounds N] [--out DIR]
#       [-- BENCH-OPTIONS...]
#
#   --before-src DIR  source tree of the old version, built in DIR/build
#                     (its own run-bench.sh and binaries are used)
#   --after-build DIR this tree's build directory (default build)
#   --rounds N        rounds (default 3)
#   --out DIR         JSON and logs go here (default bench-ab)
#   BENCH-OPTIONS     go to both runs, e.g. --seconds 2 --threads 1,8,64
# Then: tests/bench/abtable.py DIR (medians over the rounds, side by side).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
before='' after_build=build rounds=3 out=bench-ab
while [[ $# -gt 0 ]]; do
	case $1 in
	--before-src) before=$2; shift 2 ;;
	--after-build) after_build=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--) shift; break ;;
	-h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done
[[ -n $before && -x $before/build/tests/bench/p11agent-bench ]] ||
	{ echo "before-after.sh: --before-src DIR with DIR/build built" >&2; exit 2; }
mkdir -p "$out"
for ((r = 1; r <= rounds; r++)); do
	echo "round $r: $(cat /proc/loadavg)" | tee -a "$out/load.txt"
	"$after_build/tests/bench/p11agent-floor" --seconds 1 >"$out/floor-$r.md"
	"$before/tests/bench/run-bench.sh" --build "$before/build" --workers 2 -- \
		--json "$out/before-$r.json" "$@" >"$out/before-$r.log" 2>&1
	"$here/peers.sh" --build "$after_build" --workers 2 -- \
		--json "$out/after-$r.json" "$@" >"$out/after-$r.log" 2>&1
done
echo "end: $(cat /proc/loadavg)" | tee -a "$out/load.txt"
