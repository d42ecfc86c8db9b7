#!/usr/bin/env python3
"""Markdown tables from tests/bench/before-after.sh's directory: the
medians over its rounds of before-N.json and after-N.json, side by side.

    tests/bench/abtable.py DIR [DIR...]

(several directories: their rounds together)

Ratios are taken in each run against that run's own `direct` and the
median of those is shown; `direct` is the median over all runs (before
and after).  "CPU/sig" is client + server CPU per signature; "x" is that
over direct's.  Only the standard library is needed.
"""
import glob
import json
import statistics
import sys


def paths(dirs, name):
    return sorted(p for d in dirs for p in glob.glob(f"{d}/{name}"))


def load(dirs, name):
    runs = []
    for path in paths(dirs, name):
        with open(path) as f:
            runs.append(json.load(f))
    return runs


def values(runs, key, scheme, threads, mode, fn=None):
    out = []
    for doc in runs:
        for c in doc["cells"]:
            if (c["scheme"], c["threads"], c["mode"]) != (scheme, threads, mode):
                continue
            if not c["ok"]:
                continue
            v = fn(c) if fn else c.get(key)
            if v is not None:
                out.append(v)
    return out


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(v, prec=0):
    return "–" if v is None else f"{v:,.{prec}f}"


def total_cpu(c):
    cli, srv = c["client_cpu_us_per_sig"], c["server_cpu_us_per_sig"]
    return None if cli is None or srv is None else cli + srv


def floor_table(dirs):
    """Medians of each figure of the rounds' p11agent-floor tables."""
    rows = {}
    for path in paths(dirs, "floor-*.md"):
        with open(path) as f:
            for line in f:
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if len(cells) != 9 or cells[0] not in ("hop", "relay"):
                    continue
                rows.setdefault((cells[0], cells[1]), []).append(cells[2:])
    if not rows:
        return
    print(f"\nThe floor (p11agent-floor, {len(next(iter(rows.values())))} "
          "rounds, medians): blocking round trips, CPU in us per round trip\n")
    print("| shape | placement | trips/s | p50 us | p99 us | client CPU | "
          "relay CPU | server CPU | total CPU |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    for (shape, place), runs in rows.items():
        out = []
        for i in range(7):
            xs = [float(r[i]) for r in runs if r[i] != "-"]
            out.append("-" if not xs else
                       fmt(med(xs), 0 if i == 0 else 1))
        print(f"| {shape} | {place} | " + " | ".join(out) + " |")


def main():
    d = sys.argv[1:]
    before, after = load(d, "before-*.json"), load(d, "after-*.json")
    both = before + after
    cols = [("before", before, "agent"), ("after", after, "agent"),
            ("before", before, "pipelined"), ("after", after, "pipelined"),
            ("", after, "p11kit"), ("", after, "ssh-agent")]
    keys = []
    for doc in both:
        for c in doc["cells"]:
            k = (c["scheme"], c["threads"])
            if k not in keys:
                keys.append(k)
    print(f"{len(before)} before and {len(after)} after runs; medians.\n")
    head = " | ".join(f"{w} {m}".strip() for w, _, m in cols)
    print("Signatures per second (median of each run's ratio to its direct):\n")
    print(f"| scheme | threads | direct | {head} |")
    print("|---|--:|--:|" + "--:|" * len(cols))
    for s, t in keys:
        row = [fmt(med(values(both, "sig_per_sec", s, t, "direct")))]
        for _, runs, m in cols:
            r = med(values(runs, "sig_per_sec", s, t, m))
            q = med(values(runs, "ratio_to_direct", s, t, m))
            row.append("n/a" if r is None else f"{fmt(r)} ({fmt(q, 2)})")
        print(f"| {s} | {t} | " + " | ".join(row) + " |")
    print("\nLatency p50 / p99, microseconds:\n")
    print(f"| scheme | threads | direct | {head} |")
    print("|---|--:|--:|" + "--:|" * len(cols))
    for s, t in keys:
        row = []
        for runs, m in [(both, "direct")] + [(r, m) for _, r, m in cols]:
            p50 = med(values(runs, "p50_us", s, t, m))
            p99 = med(values(runs, "p99_us", s, t, m))
            row.append("–" if p50 is None else f"{fmt(p50, 0)} / {fmt(p99, 0)}")
        print(f"| {s} | {t} | " + " | ".join(row) + " |")
    print("\nCPU per signature, client + server, microseconds (x = total / "
          "direct's):\n")
    print(f"| scheme | threads | direct | {head} |")
    print("|---|--:|--:|" + "--:|" * len(cols))
    for s, t in keys:
        base = med(values(both, "client_cpu_us_per_sig", s, t, "direct"))
        row = [fmt(base, 0)]
        for _, runs, m in cols:
            cli = med(values(runs, "client_cpu_us_per_sig", s, t, m))
            srv = med(values(runs, "server_cpu_us_per_sig", s, t, m))
            tot = med(values(runs, None, s, t, m, total_cpu))
            if tot is None:
                row.append("–")
                continue
            x = f" ({tot / base:.2f}x)" if base else ""
            row.append(f"{fmt(cli, 0)} + {fmt(srv, 0)}{x}")
        print(f"| {s} | {t} | " + " | ".join(row) + " |")
    floor_table(d)


if __name__ == "__main__":
    main()
