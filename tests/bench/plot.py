#!/usr/bin/python3
"""Plot p11agent-bench JSON: signatures per second against client threads,
one panel per scheme, one line per mode.

    tests/bench/plot.py RESULTS.json OUT.png [TITLE]

Needs matplotlib (Debian: python3-matplotlib, hence /usr/bin/python3).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "direct": ("black", "o", "-"),
    "agent": ("tab:blue", "s", "-"),
    "pipelined": ("tab:green", "^", "-"),
    "p11kit": ("tab:orange", "v", "--"),
    "ssh-agent": ("tab:red", "x", "--"),
}


def series(cells, scheme, mode):
    pts = sorted((c["threads"], c["sig_per_sec"]) for c in cells
                 if c["scheme"] == scheme and c["mode"] == mode and c["ok"])
    return [p[0] for p in pts], [p[1] for p in pts]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    doc = json.load(open(sys.argv[1]))
    cells = doc["cells"]
    schemes = list(dict.fromkeys(c["scheme"] for c in cells))
    modes = doc["config"]["modes"]
    threads = doc["config"]["threads"]
    cols = 2 if len(schemes) > 2 else len(schemes)
    rows = (len(schemes) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows),
                             squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(schemes):]:
        ax.set_visible(False)
    for ax, scheme in zip(flat, schemes):
        for mode in modes:
            x, y = series(cells, scheme, mode)
            if not x:
                continue
            color, marker, line = STYLE.get(mode, ("grey", ".", ":"))
            ax.plot(x, y, color=color, marker=marker, linestyle=line,
                    label=mode)
        ax.set_title(scheme, fontsize=10)
        ax.set_xscale("log", base=2)
        ax.set_xticks(threads)
        ax.set_xticklabels([str(t) for t in threads])
        ax.set_xlabel("client threads")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    for row in axes:
        row[0].set_ylabel("signatures / s")
    flat[0].legend(fontsize=8)
    m = doc["machine"]
    title = sys.argv[3] if len(sys.argv) > 3 else \
        f'{m["date"][:10]}, {m["nproc"]} CPUs ({m["cpu"]}), ' \
        f'agent --workers {doc["config"]["agent_workers"]}'
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)


if __name__ == "__main__":
    main()
