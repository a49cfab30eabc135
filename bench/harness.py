"""Runs the BENCHMARK.md workload on Tidewater (embedded and served) and its peers, side by side.

Started by bench/run.sh (which prepares the virtual environment and the binary); see
bench/README.md. Steps, for the main size and then each scaling size:

1. `tidewater bench --export DIR` writes the data of every commit and the model's answers;
2. Tidewater runs it itself (`tidewater bench --mode embedded|served --json`, same seed, same
   data, checked by its own model), each peer runs it through bench/peers.py, one process each;
3. every system's answers are checked (a wrong answer has no score), results go to
   `<out>/<date>.json`, a chart to `<out>/<date>.png`, and a table with ratios to stdout.

Exit code 1 when any system gave a wrong answer or failed; a peer that is not installed is
reported and skipped; speed never fails a run.
"""

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIDEWATER = ["tidewater-embedded", "tidewater-served"]
# The same runs with background compaction off: the cost of compaction during the stream.
NO_COMPACTION = [f"{t}-nocompaction" for t in TIDEWATER]
OURS = TIDEWATER + NO_COMPACTION
PEERS = {"delta-rs": ("delta", "deltalake"), "duckdb": ("duckdb", "duckdb"), "paimon": ("paimon", "pypaimon")}
ALL = OURS + list(PEERS)

QUICK = dict(rows=100_000, commits=10, stream_commits=10, stream_upserts=2_000, stream_deletes=50)
FULL = dict(rows=2_000_000, commits=20, stream_commits=50, stream_upserts=20_000, stream_deletes=200)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def size_args(size, inject_wrong=False):
    return (["--inject-wrong-expectation"] if inject_wrong else []) + [
        "--rows", str(size["rows"]), "--commits", str(size["commits"]),
        "--stream-commits", str(size["stream_commits"]), "--stream-upserts", str(size["stream_upserts"]),
        "--stream-deletes", str(size["stream_deletes"]), "--buckets", str(size["buckets"]),
        "--seed", str(size["seed"]),
    ]


def run_json(cmd, timeout, env=None):
    """Runs a command that prints one JSON object; returns (report or None, status, detail)."""
    t = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None, "timeout", f"no answer within {timeout} s"
    wall = time.monotonic() - t
    err_tail = "\n".join(p.stderr.strip().splitlines()[-15:])
    for line in reversed(p.stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                report = json.loads(line)
            except json.JSONDecodeError:
                break
            report["wall_s"] = wall
            # tidewater bench exits 1 on wrong answers but still reports them.
            return report, "ok", err_tail if p.returncode else ""
    return None, "error", f"exit {p.returncode}: {err_tail}"


def peer_available(package):
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:
        return None


def run_size(args, size, systems, label):
    """All `systems` on one size; returns {system: entry}."""
    work = Path(tempfile.mkdtemp(prefix=f"tidewater-bench-{label}-", dir=args.work_dir))
    data = work / "data"
    expected = None
    if any(s not in OURS for s in systems):
        log(f"== {label}: exporting {size['rows']} rows + {size['stream_commits']} stream commits to {data}")
        cmd = [args.binary, "bench", "--export", str(data)] + size_args(size, args.inject_wrong_expectation)
        if subprocess.run(cmd).returncode != 0:
            sys.exit(f"harness: `{' '.join(cmd)}` failed: is {args.binary} a build with `tidewater bench --export`?")
        expected = json.loads((data / "expected.json").read_text())
    out = {}
    for system in systems:
        log(f"== {label}: {system}")
        if system in OURS:
            mode = system.split("-")[1]
            compaction = "off" if system in NO_COMPACTION else "auto"
            cmd = [args.binary, "bench", "--mode", mode, "--compaction", compaction, "--json", "--warehouse", str(work / system)]
            report, status, detail = run_json(cmd + size_args(size, args.inject_wrong_expectation), args.timeout)
            if report is not None and expected is not None:
                # Same seed and size, so the same model: a mismatch means the data differed.
                for k in ("count", "sum_id", "sum_age"):
                    if str(report.get(f"expected_{k}")) != str(expected[k]):
                        report["correct"] = False
                        report.setdefault("wrong_answers", []).append(
                            f"its model's {k} {report.get(f'expected_{k}')} differs from the export's {expected[k]}")
        else:
            name, package = PEERS[system]
            if not peer_available(package):
                out[system] = {"status": "not installed", "detail": f"python package {package} is not installed"}
                log(f"   {system}: NOT INSTALLED ({package}), skipped")
                continue
            cmd = [sys.executable, str(HERE / "peers.py"), "--system", name, "--data", str(data), "--work", str(work / system)]
            report, status, detail = run_json(cmd, args.timeout)
        entry = {"status": status, "detail": detail, "report": report}
        if report is not None and not report.get("correct"):
            entry["status"] = "wrong"
        out[system] = entry
        log(f"   {system}: {entry['status']}" + (f" — {detail}" if entry["status"] != "ok" and detail else ""))
        shutil.rmtree(work / system, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return out


def machine():
    info = {"nproc": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    try:
        with open("/proc/meminfo") as f:
            info["mem_total_gib"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
        with open("/proc/cpuinfo") as f:
            models = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
            info["cpu"] = models[0] if models else None
        info["loadavg_start"] = open("/proc/loadavg").read().split()[:3]
    except OSError:
        pass
    return info


def versions(binary):
    v = {"tidewater": subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()}
    for _system, (_name, package) in PEERS.items():
        v[package] = peer_available(package)
    for extra in ("pypaimon-rust", "pyarrow"):
        v[extra] = peer_available(extra)
    return v


# --- the printed table ---------------------------------------------------------------------------


def fmt_rate(r):
    return "-" if r is None else (f"{r / 1e6:.2f} M" if r >= 1e6 else f"{r / 1e3:.0f} k")


def fmt_ratio(v):
    return f"{v:.0f}x" if v >= 10 else (f"{v:.2f}x" if v >= 0.1 else f"{v:.2g}x")


def fmt_s(s):
    return "-" if s is None else (f"{s:.2f} s" if s >= 1 else f"{s * 1e3:.1f} ms")


def table(results):
    rows = [("system", "A rows/s", "B rows/s", "B p50", "B p99", "C count", "C point", "C avg", "peak RSS", "disk", "answers")]
    for system, e in results.items():
        r = e.get("report") or {}
        if e["status"] in ("ok", "wrong"):
            rss = r.get("peak_rss_mb")
            if r.get("server_peak_rss_mb"):
                rss = f"{rss:.0f}+{r['server_peak_rss_mb']:.0f} MiB"
            elif rss is not None:
                rss = f"{rss:.0f} MiB"
            disk = r.get("bytes_on_disk")
            rows.append((
                system, fmt_rate(r.get("phase_a_rows_per_s")), fmt_rate(r.get("phase_b_rows_per_s")),
                fmt_s((r.get("commit_p50_ms") or 0) / 1e3), fmt_s((r.get("commit_p99_ms") or 0) / 1e3),
                fmt_s(r.get("c_count_s")), fmt_s(r.get("c_point_s")), fmt_s(r.get("c_avg_s")),
                rss or "-", "-" if disk is None else f"{disk / 2**20:.0f} MiB",
                "correct" if e["status"] == "ok" else "WRONG (no score)",
            ))
        else:
            rows.append((system, *["-"] * 9, e["status"].upper()))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows)


# (label, field, higher is better)
RATIO_FIELDS = [
    ("A rows/s", "phase_a_rows_per_s", True), ("B rows/s", "phase_b_rows_per_s", True),
    ("B p50", "commit_p50_ms", False), ("B p99", "commit_p99_ms", False),
    ("C count", "c_count_s", False), ("C point", "c_point_s", False), ("C avg", "c_avg_s", False),
]


def ratios(results):
    """Tidewater / peer for rates, peer / Tidewater for times: > 1 means Tidewater is better."""
    out = {}
    for tw in TIDEWATER:
        t = results.get(tw, {})
        if t.get("status") != "ok":
            continue
        for peer in PEERS:
            p = results.get(peer, {})
            if p.get("status") != "ok":
                continue
            row = {}
            for label, field, higher in RATIO_FIELDS:
                a, b = t["report"].get(field), p["report"].get(field)
                row[label] = None if not a or not b else (a / b if higher else b / a)
            out[f"{tw} vs {peer}"] = row
    return out


def compaction_table(results):
    """Phase C again after each system's major compaction (BENCHMARK.md); null = none."""
    lines = ["C after major compaction:"]
    for system, e in results.items():
        if e["status"] not in ("ok", "wrong"):
            continue
        after = (e.get("report") or {}).get("after_compaction")
        if after is None:
            why = "served: measured embedded only" if system in OURS else "no compaction call"
            lines.append(f"  {system:<34} {why}")
        else:
            ratios = ""
            if "ratio_count" in after:
                ratios = (f" = {after['ratio_count']:.2f}x / {after['ratio_point']:.2f}x / {after['ratio_avg']:.2f}x one Parquet file"
                          f"; write amplification {after['write_amplification']:.2f}")
            lines.append(
                f"  {system:<34} compact {fmt_s(after.get('compact_s'))}, count {fmt_s(after.get('c_count_s'))}, "
                f"point {fmt_s(after.get('c_point_s'))}, avg {fmt_s(after.get('c_avg_s'))}{ratios}")
    return "\n".join(lines)


def b_change(results, on, off):
    """Phase B rows/s with compaction vs without, minus 1 (None unless both ran fine)."""
    a, b = results.get(on, {}), results.get(off, {})
    if a.get("status") != "ok" or b.get("status") != "ok":
        return None
    return a["report"]["phase_b_rows_per_s"] / b["report"]["phase_b_rows_per_s"] - 1


def compaction_pairs(args, size, systems, main_results):
    """More interleaved runs without and with background compaction, per Tidewater mode: phase B
    lasts under a second and this machine's speed drifts between runs, so one pair decides
    little. Returns ({system: [change of the main pair, then of each further pair]}, the runs
    that answered wrong or failed)."""
    out, failed = {}, []
    for on, off in zip(TIDEWATER, NO_COMPACTION):
        if on not in systems or off not in systems:
            continue
        changes = [b_change(main_results, on, off)]
        for i in range(2, args.compaction_pairs + 1):
            res = run_size(args, size, [off, on], f"pair-{i}")
            changes.append(b_change(res, on, off))
            failed += [f"{s} (pair {i})" for s, e in res.items() if e["status"] in ("wrong", "error")]
        out[on] = changes
    return out, failed


def stream_compaction(results, pairs=None):
    """Tidewater with background compaction vs without: phase B cost, files per bucket, write amplification."""
    out = {}
    for on, off in zip(TIDEWATER, NO_COMPACTION):
        a, b = results.get(on, {}), results.get(off, {})
        if a.get("status") != "ok":
            continue
        ra, rb = a["report"], (b.get("report") or {}) if b.get("status") == "ok" else {}
        h, hb = ra.get("stream_history") or {}, rb.get("stream_history") or {}
        out[on] = {
            "b_rows_per_s": ra.get("phase_b_rows_per_s"),
            "b_rows_per_s_without": rb.get("phase_b_rows_per_s"),
            # Negative: phase B is that much slower with compaction (the goal: no worse than -20%).
            "b_change": b_change(results, on, off),
            "commit_p99_ms": ra.get("commit_p99_ms"), "commit_p99_ms_without": rb.get("commit_p99_ms"),
            "max_files_per_bucket": h.get("phase_b_max_files_per_bucket"),
            "max_files_per_bucket_without": hb.get("phase_b_max_files_per_bucket"),
            "compactions": h.get("compactions"), "write_amplification": h.get("write_amplification"),
            "c_count_s": ra.get("c_count_s"), "c_count_s_without": rb.get("c_count_s"),
        }
        changes = [c for c in (pairs or {}).get(on, []) if c is not None]
        if len(changes) > 1:
            out[on]["b_change_pairs"] = pairs[on]
            out[on]["b_change_median"] = statistics.median(changes)
    return out


def pairs_text(x):
    """' (N pairs: median …, range … to …)' when more pairs ran, else ''."""
    changes = [c for c in x.get("b_change_pairs") or [] if c is not None]
    if len(changes) < 2:
        return ""
    return (f" ({len(changes)} pairs: median {x['b_change_median'] * 100:+.0f}%, "
            f"range {min(changes) * 100:+.0f}% to {max(changes) * 100:+.0f}%)")


def stream_table(s):
    lines = ["continuous stream, background compaction on vs off (phase B):"]
    if not s:
        lines.append("  (not measured: run tidewater-*-nocompaction too)")
    for system, x in s.items():
        change = "-" if x["b_change"] is None else f"{x['b_change'] * 100:+.0f}%"
        lines.append(
            f"  {system:<20} B {fmt_rate(x['b_rows_per_s'])} vs {fmt_rate(x['b_rows_per_s_without'])} without ({change}){pairs_text(x)}; "
            f"files/bucket at most {x['max_files_per_bucket']} vs {x['max_files_per_bucket_without']}; "
            f"{x['compactions']} compactions, write amplification {x['write_amplification'] or 0:.2f}; "
            f"C count {fmt_s(x['c_count_s'])} vs {fmt_s(x['c_count_s_without'])}")
    return "\n".join(lines)


def ratio_table(r):
    if not r:
        return "(no ratios: Tidewater or every peer has no score)"
    head = ["Tidewater advantage (>1 = Tidewater better)"] + [l for l, _, _ in RATIO_FIELDS]
    rows = [head] + [[k] + ["-" if v is None else fmt_ratio(v) for v in row.values()] for k, row in r.items()]
    widths = [max(len(str(x[i])) for x in rows) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(x, widths)) for x in rows)


def markdown(result):
    """The run as Markdown tables (for BENCHMARKS.md)."""
    out = ["| system | A rows/s | B rows/s | B commit p50 / p99 | C count | C point | C avg | peak RSS | disk | answers |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for system, e in result["systems"].items():
        r = e.get("report") or {}
        if e["status"] not in ("ok", "wrong"):
            out.append(f"| {system} | | | | | | | | | {e['status'].upper()} |")
            continue
        rss = r.get("peak_rss_mb")
        rss = "-" if rss is None else (f"{rss:.0f} + server {r['server_peak_rss_mb']:.0f} MiB" if r.get("server_peak_rss_mb") else f"{rss:.0f} MiB")
        disk = r.get("bytes_on_disk")
        out.append(
            f"| {system} | {fmt_rate(r.get('phase_a_rows_per_s'))} | {fmt_rate(r.get('phase_b_rows_per_s'))} | "
            f"{fmt_s(r['commit_p50_ms'] / 1e3)} / {fmt_s(r['commit_p99_ms'] / 1e3)} | {fmt_s(r.get('c_count_s'))} | "
            f"{fmt_s(r.get('c_point_s'))} | {fmt_s(r.get('c_avg_s'))} | {rss} | "
            f"{'-' if disk is None else f'{disk / 2**20:.0f} MiB'} | {'correct' if e['status'] == 'ok' else '**WRONG**'} |")
    if result.get("ratios"):
        out += ["", "| Tidewater advantage (>1 = Tidewater better) | " + " | ".join(l for l, _, _ in RATIO_FIELDS) + " |",
                "|---|" + "---|" * len(RATIO_FIELDS)]
        for k, row in result["ratios"].items():
            out.append(f"| {k} | " + " | ".join("-" if v is None else fmt_ratio(v).replace("x", "×") for v in row.values()) + " |")
    if result.get("stream_compaction"):
        out += ["", "| background compaction on vs off | B rows/s on | off | change | B p99 on / off | max files per bucket on / off | compactions | write amplification | C count on / off |",
                "|---|---|---|---|---|---|---|---|---|"]
        for k, x in result["stream_compaction"].items():
            change = ("-" if x["b_change"] is None else f"{x['b_change'] * 100:+.0f}%") + pairs_text(x)
            p99 = "-" if x["commit_p99_ms_without"] is None else f"{fmt_s(x['commit_p99_ms'] / 1e3)} / {fmt_s(x['commit_p99_ms_without'] / 1e3)}"
            out.append(f"| {k} | {fmt_rate(x['b_rows_per_s'])} | {fmt_rate(x['b_rows_per_s_without'])} | {change} | {p99} | "
                       f"{x['max_files_per_bucket']} / {x['max_files_per_bucket_without']} | {x['compactions']} | "
                       f"{x['write_amplification'] or 0:.2f} | {fmt_s(x['c_count_s'])} / {fmt_s(x['c_count_s_without'])} |")
    if result.get("scaling"):
        out += ["", "| system | table rows | B commit p50 | B commit p99 | C count | C point | C avg |", "|---|---|---|---|---|---|---|"]
        for x in result["scaling"]:
            if x["status"] == "ok":
                out.append(f"| {x['system']} | {x['table_rows']:,} | {fmt_s(x['commit_p50_ms'] / 1e3)} | {fmt_s(x['commit_p99_ms'] / 1e3)} | "
                           f"{fmt_s(x['c_count_s'])} | {fmt_s(x['c_point_s'])} | {fmt_s(x['c_avg_s'])} |")
            else:
                out.append(f"| {x['system']} | {x['rows_a']:,} (phase A) | {x['status'].upper()} | | | | |")
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser(description="Tidewater and its peers on the BENCHMARK.md workload")
    p.add_argument("--binary", required=True, help="the tidewater binary")
    p.add_argument("--quick", action="store_true", help="small size, correctness smoke test (no scaling beyond 2 tiny points)")
    p.add_argument("--rows", type=int, help="phase A rows [2000000; quick 100000]")
    p.add_argument("--commits", type=int, help="phase A commits [20; quick 10]")
    p.add_argument("--stream-commits", type=int, help="phase B commits [50; quick 10]")
    p.add_argument("--stream-upserts", type=int)
    p.add_argument("--stream-deletes", type=int)
    p.add_argument("--buckets", type=int, default=4)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--systems", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    p.add_argument("--scaling", default=None,
                   help="table sizes (rows) of the scaling curve, comma-separated [full: 2000000,8000000,32000000; quick: 100000,200000]; the main size reuses the main run; 'none' to skip")
    p.add_argument("--scaling-systems", default="tidewater-embedded,tidewater-served,duckdb,paimon,delta-rs")
    p.add_argument("--scaling-peer-max-rows", type=int, default=8_000_000, help="peers join scaling points up to this size")
    p.add_argument("--scaling-stream-commits", type=int, default=20)
    p.add_argument("--compaction-pairs", type=int, default=1,
                   help="runs of each Tidewater mode without and with background compaction, interleaved (the main run is the first pair); the median change of phase B is reported")
    p.add_argument("--timeout", type=int, default=3600, help="seconds per system and size")
    p.add_argument("--out", type=Path, help="results directory [bench/results; quick: bench/results/tmp]")
    p.add_argument("--work-dir", default=None, help="where the data and tables are written [system temp dir]")
    p.add_argument("--no-chart", action="store_true")
    # Testing the checks: the model expects one row more, so every system must be reported wrong.
    p.add_argument("--inject-wrong-expectation", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()

    base = dict(QUICK if args.quick else FULL)
    for k in base:
        if getattr(args, k) is not None:
            base[k] = getattr(args, k)
    base.update(buckets=args.buckets, seed=args.seed)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in ALL]
    if unknown:
        p.error(f"unknown systems {unknown}; known: {ALL}")
    scaling = args.scaling or ("100000,200000" if args.quick else "2000000,8000000,32000000")
    scaling = [] if scaling == "none" else [int(x) for x in scaling.split(",")]
    out_dir = args.out or (HERE / "results" / ("tmp" if args.quick else ""))
    out_dir.mkdir(parents=True, exist_ok=True)

    started = dt.datetime.now(dt.timezone.utc)
    result = {
        "date": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "versions": versions(args.binary),
        "binary": str(args.binary),
        "size": base,
        "systems": {},
        "scaling": [],
    }
    main_results = run_size(args, base, systems, "main")
    result["systems"] = main_results

    # Scaling: the same shape at growing table sizes (fewer stream commits to bound the time).
    scaling_systems = [s for s in args.scaling_systems.split(",") if s in systems]
    for rows in scaling:
        size = dict(base, rows=rows, commits=max(1, rows // 100_000), stream_commits=args.scaling_stream_commits)
        if args.quick:
            size.update(commits=max(1, rows // 10_000), stream_commits=5)
        if rows == base["rows"]:
            # The main run is this point (its phase B has more commits: fine for p50/p99).
            size = base
            res = {s: main_results[s] for s in scaling_systems if s in main_results}
        else:
            these = [s for s in scaling_systems if s in OURS or rows <= args.scaling_peer_max_rows]
            res = run_size(args, size, these, f"scale-{rows}")
        for system, e in res.items():
            r = e.get("report") or {}
            result["scaling"].append({
                "system": system, "rows_a": rows, "status": e["status"],
                "table_rows": r.get("expected_count") or (rows + size["stream_commits"] * (size["stream_upserts"] // 5 - size["stream_deletes"])),
                "phase_a_rows_per_s": r.get("phase_a_rows_per_s"), "phase_b_rows_per_s": r.get("phase_b_rows_per_s"),
                "commit_p50_ms": r.get("commit_p50_ms"), "commit_p99_ms": r.get("commit_p99_ms"),
                "c_count_s": r.get("c_count_s"), "c_point_s": r.get("c_point_s"), "c_avg_s": r.get("c_avg_s"),
                "stream_commits": size["stream_commits"],
            })
        result["scaling_wrong"] = [f"{x['system']} at {x['rows_a']} rows" for x in result["scaling"] if x["status"] == "wrong"]

    result["ratios"] = ratios(main_results)
    pairs, pairs_failed = compaction_pairs(args, base, systems, main_results)
    result["stream_compaction"] = stream_compaction(main_results, pairs)
    result["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None
    result["elapsed_s"] = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()

    stamp = started.strftime("%Y-%m-%d") if not args.quick else "quick-" + started.strftime("%Y-%m-%d")
    json_path = out_dir / f"{stamp}.json"
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    json_path.with_suffix(".md").write_text(markdown(result))
    print(f"\nTidewater vs peers — {base['rows']} rows in {base['commits']} commits, {base['stream_commits']} stream commits "
          f"of {base['stream_upserts']} upserts + {base['stream_deletes']} deletes, {base['buckets']} buckets, seed {base['seed']}"
          + (" (quick: correctness only)" if args.quick else ""))
    print(table(main_results))
    print()
    print(compaction_table(main_results))
    print()
    print(stream_table(result["stream_compaction"]))
    print()
    print(ratio_table(result["ratios"]))
    if result["scaling"]:
        print("\nscaling (commit p50/p99 in phase B, scan times in phase C, by table size):")
        for x in result["scaling"]:
            if x["status"] == "ok":
                print(f"  {x['system']:<20} {x['table_rows']:>10} rows  B p50 {fmt_s(x['commit_p50_ms'] / 1e3):>9}  p99 {fmt_s(x['commit_p99_ms'] / 1e3):>9}"
                      f"  count {fmt_s(x['c_count_s']):>9}  point {fmt_s(x['c_point_s']):>9}  avg {fmt_s(x['c_avg_s']):>9}")
            else:
                print(f"  {x['system']:<20} {x['rows_a']:>10} rows  {x['status'].upper()}")
    print(f"\nresults: {json_path}")
    if not args.no_chart:
        try:
            import chart

            png = chart.draw(result, json_path.with_suffix(".png"))
            print(f"chart:   {png}")
        except ImportError as e:
            print(f"chart:   not drawn ({e})")

    failed = [s for s, e in main_results.items() if e["status"] in ("wrong", "error")]
    failed += [f"{x['system']}@{x['rows_a']}" for x in result["scaling"] if x["status"] in ("wrong", "error")]
    failed += pairs_failed
    skipped = [s for s, e in main_results.items() if e["status"] in ("not installed", "timeout")]
    if skipped:
        listed = ", ".join(f"{s} ({main_results[s]['status']})" for s in skipped)
        print(f"skipped (no score): {listed}")
    if failed:
        print(f"FAILED: wrong answers or errors from {', '.join(failed)}")
        for s in failed:
            e = main_results.get(s) or {}
            for w in (e.get("report") or {}).get("wrong_answers", [])[:5]:
                print(f"  {s}: {w}")
            if e.get("detail"):
                print(f"  {s}: {e['detail']}")
        return 1
    print("all answers correct")
    return 0


if __name__ == "__main__":
    sys.exit(main())
