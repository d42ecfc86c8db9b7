#!/usr/bin/env python3
"""Markdown tables from p11agent-bench JSON, for docs/PERFORMANCE.md.

    tests/bench/mdtable.py RESULTS.json

Prints the machine line, then one throughput table (sig/s and the ratio
to direct, side by side), one latency table and one CPU table (client +
server CPU time per signature, and what that adds to direct's).  Only the
standard library is needed.
"""
import json
import sys


def fmt(v, prec=0):
    return "–" if v is None else f"{v:,.{prec}f}"


def cell(cells, scheme, threads, mode):
    for c in cells:
        if (c["scheme"], c["threads"], c["mode"]) == (scheme, threads, mode):
            return c
    return None


def rate(c):
    if c is None:
        return "–"
    if not c["ok"]:
        return "n/a" if c.get("na") else "failed"
    if c["mode"] == "direct":
        return fmt(c["sig_per_sec"])
    return f'{fmt(c["sig_per_sec"])} ({fmt(c["ratio_to_direct"], 2)})'


def lat(c):
    if c is None or not c["ok"]:
        return "–"
    return f'{fmt(c["p50_us"], 1)} / {fmt(c["p99_us"], 1)}'


def cpu(c, base):
    if c is None or not c["ok"] or c["server_cpu_us_per_sig"] is None:
        return "–"
    cli, srv = c["client_cpu_us_per_sig"], c["server_cpu_us_per_sig"]
    over = "" if base is None else f" ({cli + srv - base:+,.1f})"
    return f"{cli:,.1f} + {srv:,.1f}{over}"


def rows(doc):
    cells = doc["cells"]
    schemes = list(dict.fromkeys(c["scheme"] for c in cells))
    for s in schemes:
        for t in doc["config"]["threads"]:
            yield s, t, {m: cell(cells, s, t, m) for m in doc["config"]["modes"]}


def main():
    doc = json.load(open(sys.argv[1]))
    m, cfg = doc["machine"], doc["config"]
    modes = cfg["modes"]
    print(f'Measured {m["date"]} on {m["nproc"]} CPUs ({m["cpu"]}), '
          f'{m["kernel"]}; load average before/after: '
          f'{" ".join(m["loadavg_start"].split()[:3])} / '
          f'{" ".join(m["loadavg_end"].split()[:3])}. '
          f'agent --workers {cfg["agent_workers"]}, {cfg["form"]} form, '
          f'pipeline depth {cfg["depth"]}, '
          f'{cfg["seconds"]} s per cell, {cfg["repeat"]} run(s)'
          f'{" (medians)" if cfg["repeat"] > 1 else ""}.\n')

    print("Signatures per second (ratio to direct):\n")
    print("| scheme | threads | " + " | ".join(modes) + " |")
    print("|---|--:|" + "--:|" * len(modes))
    for s, t, cs in rows(doc):
        print(f"| {s} | {t} | " + " | ".join(rate(cs[x]) for x in modes) + " |")

    print("\nLatency p50 / p99 in microseconds (pipelined: from send to "
          "reply, with depth requests queued):\n")
    print("| scheme | threads | " + " | ".join(modes) + " | agent +p50 |")
    print("|---|--:|" + "--:|" * (len(modes) + 1))
    for s, t, cs in rows(doc):
        added = cs.get("agent") and cs["agent"].get("p50_added_us")
        print(f"| {s} | {t} | " + " | ".join(lat(cs[x]) for x in modes) +
              f" | {fmt(added, 1)} |")

    servers = [x for x in modes if x != "direct"]
    print("\nCPU per signature in microseconds, client + server "
          "(overhead = that sum - direct's):\n")
    print("| scheme | threads | direct | " + " | ".join(servers) + " |")
    print("|---|--:|--:|" + "--:|" * len(servers))
    for s, t, cs in rows(doc):
        d = cs.get("direct")
        base = d["client_cpu_us_per_sig"] if d and d["ok"] else None
        out = [fmt(base, 1)]
        for x in servers:
            out.append(cpu(cs[x], base))
        print(f"| {s} | {t} | " + " | ".join(out) + " |")


if __name__ == "__main__":
    main()
