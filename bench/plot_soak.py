"""Plots the soak's RSS samples (loadgen soak's soak.csv) to a small PNG: RSS over time,
the backend's outages shaded, the reference (median of the minute from 5 minutes, as loadgen's check) and the +-10%
band the last minute's median must be in.

    python bench/plot_soak.py target/bench/soak/soak.csv docs/bench/soak-rss.png
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SETTLE_MIN = 5.0


def main(source, target):
    rows = list(csv.DictReader(open(source)))
    minutes = [float(r["t_s"]) / 60 for r in rows]
    rss = [float(r["rss_mib"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 2.8), dpi=100)
    ax.plot(minutes, rss, color="#1f77b4", linewidth=1.2, label="RSS (every 10 s)")
    start = None
    for m, r in zip(minutes, rows):
        if r["sink_up"] == "0" and start is None:
            start = m
        if r["sink_up"] == "1" and start is not None:
            ax.axvspan(start, m, color="#d62728", alpha=0.15, linewidth=0)
            start = None
    # As loadgen's check: the median of the minute from 5 minutes.
    window = sorted(v for m, v in zip(minutes, rss) if SETTLE_MIN <= m < SETTLE_MIN + 1)
    reference = window[len(window) // 2] if window else None
    if reference:
        ax.axhspan(reference * 0.9, reference * 1.1, color="#2ca02c", alpha=0.08, linewidth=0)
        ax.axhline(reference, color="#2ca02c", linewidth=0.8, linestyle="--", label="median of minute 5, +-10%")
    ax.plot([], [], color="#d62728", alpha=0.3, linewidth=6, label="backend away")
    ax.set_xlabel("minutes")
    ax.set_ylabel("RSS MiB")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title("llamacol soak: RSS", fontsize=9)
    fig.tight_layout()
    fig.savefig(target)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
