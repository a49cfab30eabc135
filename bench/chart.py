"""The chart of one harness run: throughput per phase, phase B commit latencies, phase C read
times, and how commit latency and scan time grow with the table (the scaling curve).

    python bench/chart.py bench/results/<date>.json     # redraws <date>.png
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {
    "tidewater-embedded": "#1f6fb4",
    "tidewater-served": "#6baed6",
    "delta-rs": "#e6550d",
    "duckdb": "#a1a11a",
    "paimon": "#31a354",
}


def scored(result):
    """Systems with a score (answered correctly), in run order."""
    return [(s, e["report"]) for s, e in result["systems"].items() if e.get("status") == "ok"]


def draw(result, path):
    systems = scored(result)
    names = [s for s, _ in systems]
    colors = [COLORS.get(s, "gray") for s in names]
    fig, ax = plt.subplots(2, 2, figsize=(12, 8.5))
    size = result["size"]
    fig.suptitle(
        f"Tidewater vs peers, workload upsert-stream: {size['rows']:,} rows / {size['commits']} commits, "
        f"{size['stream_commits']} × ({size['stream_upserts']:,} upserts + {size['stream_deletes']} deletes), "
        f"{size['buckets']} buckets — {result['date'][:10]}, {result['machine'].get('nproc')} cores",
        fontsize=10,
    )
    not_scored = [f"{s} ({e['status']})" for s, e in result["systems"].items() if e.get("status") != "ok"]
    if not_scored:
        fig.text(0.5, 0.005, "no score: " + ", ".join(not_scored), ha="center", fontsize=8, color="red")

    # Throughput per write phase.
    a = ax[0][0]
    width = 0.8 / max(1, len(names))
    for i, (s, r) in enumerate(systems):
        vals = [r.get("phase_a_rows_per_s") or 0, r.get("phase_b_rows_per_s") or 0]
        bars = a.bar([x + i * width for x in (0, 1)], vals, width, label=s, color=colors[i])
        for b, v in zip(bars, vals):
            a.annotate(f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.0f}k", (b.get_x() + b.get_width() / 2, v),
                       ha="center", va="bottom", fontsize=7)
    a.set_xticks([0.4 - width / 2, 1.4 - width / 2], ["phase A bulk", "phase B stream"])
    a.set_yscale("log")
    a.set_ylabel("rows / s (log)")
    a.set_title("write throughput (higher is better)", fontsize=10)
    top = max([r.get("phase_a_rows_per_s") or 0 for _, r in systems] + [1])
    a.set_ylim(top=top * 12)
    a.legend(fontsize=7, loc="upper center", ncol=3)

    # Phase B commit latency distribution.
    a = ax[0][1]
    data = [r.get("commit_ms") or [0] for _, r in systems]
    if data:
        bp = a.boxplot(data, whis=(1, 99), showfliers=True, patch_artist=True, flierprops={"markersize": 2})
        for patch, c in zip(bp["boxes"], colors):
            patch.set_facecolor(c)
        a.set_xticks(range(1, len(names) + 1), names, fontsize=8, rotation=15)
    a.set_yscale("log")
    a.set_ylabel("ms (log)")
    a.set_title("phase B commit latency (box p25–p75, whiskers p1–p99; lower is better)", fontsize=10)

    # Phase C read times.
    a = ax[1][0]
    for i, (s, r) in enumerate(systems):
        vals = [max(r.get(k) or 0, 1e-5) * 1e3 for k in ("c_count_s", "c_point_s", "c_avg_s")]
        a.bar([x + i * width for x in (0, 1, 2)], vals, width, label=s, color=colors[i])
    a.set_xticks([x + 0.4 - width / 2 for x in (0, 1, 2)], ["count(*)", "point lookup", "avg(score)"])
    a.set_yscale("log")
    a.set_ylabel("ms, median of 3 (log)")
    a.set_title("phase C reads on the latest snapshot, no compaction (lower is better)", fontsize=10)

    # Scaling curve.
    a = ax[1][1]
    by_system = {}
    for x in result.get("scaling", []):
        if x["status"] == "ok":
            by_system.setdefault(x["system"], []).append(x)
    for s, pts in by_system.items():
        pts.sort(key=lambda x: x["table_rows"])
        rows = [x["table_rows"] for x in pts]
        c = COLORS.get(s, "gray")
        a.plot(rows, [x["commit_p50_ms"] for x in pts], "-o", color=c, label=f"{s} commit p50", markersize=4)
        a.plot(rows, [x["c_count_s"] * 1e3 for x in pts], "--s", color=c, label=f"{s} count(*)", markersize=4)
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("table rows (log)")
    a.set_ylabel("ms (log)")
    a.set_title("growth with table size: phase B commit p50 (—) and count(*) scan (--)", fontsize=10)
    if by_system:
        lo, hi = a.get_ylim()
        a.set_ylim(top=hi * 40)
        a.legend(fontsize=6, ncol=2, loc="upper left")
    for row in ax:
        for a in row:
            a.grid(True, which="major", alpha=0.3)
    fig.tight_layout(rect=(0, 0.02, 1, 0.96))
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


if __name__ == "__main__":
    src = Path(sys.argv[1])
    print(draw(json.loads(src.read_text()), src.with_suffix(".png")))
