"""One peer system on the exported workload: phases A, B and C timed, every answer checked.

Run by harness.py, one process per system (so peak memory is that system's):

    python bench/peers.py --system duckdb|delta|paimon --data DIR --work DIR

DIR holds what `tidewater bench --export DIR` wrote: Arrow IPC files per commit and
`expected.json` (the model's answers). Prints one JSON object on stdout whose field names are
those of `tidewater bench --json`, so the harness puts every system side by side.

Every commit is one atomic commit of the peer holding the upserts and deletes of that commit,
timed from its start to its return, as Tidewater's are. Data is loaded and converted to what each
peer takes before any timing. Phase C: each query three times, median counts, each answer checked.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

COLUMNS = ["id", "name", "age", "status", "score", "ts"]
# The exported data's schema (without Tidewater's field metadata).
DATA_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), False),
        pa.field("name", pa.string()),
        pa.field("age", pa.int32()),
        pa.field("status", pa.bool_()),
        pa.field("score", pa.float64()),
        pa.field("ts", pa.timestamp("ns", tz="UTC")),
    ]
)
RUNS = 3


def proc_status_mb(field):
    """A field of /proc/self/status in MiB (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Resets VmHWM to the current RSS (Linux), so the peak measures the timed run only."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def disk_usage(path):
    files = size = 0
    for root, _dirs, names in os.walk(path):
        for n in names:
            p = os.path.join(root, n)
            if os.path.isfile(p) and not os.path.islink(p):
                files += 1
                size += os.path.getsize(p)
    return size, files


def percentile(values, p):
    """Nearest-rank percentile, as the Rust report computes it."""
    if not values:
        return None
    v = sorted(values)
    rank = max(1, min(len(v), -(-p * len(v) // 100)))
    return v[int(rank) - 1]


def read_ipc(path):
    table = ipc.open_file(str(path)).read_all()
    # Drop Tidewater's field metadata: peers get plain Arrow types.
    return table.cast(pa.schema([pa.field(f.name, f.type, f.nullable) for f in table.schema]))


def load(data):
    expected = json.loads((data / "expected.json").read_text())
    bulk = [read_ipc(data / f"bulk-{i:04}.arrow") for i in range(expected["commits_a"])]
    stream = [
        (
            read_ipc(data / f"stream-{i:04}-upserts.arrow"),
            read_ipc(data / f"stream-{i:04}-deletes.arrow"),
        )
        for i in range(expected["stream_commits"])
    ]
    return expected, bulk, stream


def null_rows(schema, ids):
    """Full rows for deleted keys: the key, every other column NULL."""
    n = len(ids)
    cols = [ids if f.name == "id" else pa.nulls(n, f.type) for f in schema]
    return pa.table(cols, schema=schema)


class Checks:
    def __init__(self):
        self.passed = 0
        self.failures = []

    def equal(self, what, got, expected):
        if got == expected:
            self.passed += 1
        else:
            msg = f"{what}: got {got!r}, expected {expected!r}"
            print("WRONG ANSWER: " + msg, file=sys.stderr)
            self.failures.append(msg)

    def close(self, what, got, expected):
        ok = got is not None and (got == expected or abs(got - expected) <= 1e-9 * max(abs(got), abs(expected)))
        self.equal(what, got if not ok else expected, expected)


# --- the peers -----------------------------------------------------------------------------------
#
# Each peer: prepare_upserts/prepare_deletes (untimed conversion), commit(upserts, deletes) (one
# atomic commit; either may be None), count(), point(id) -> list of row dicts with `ts` in ns,
# avg_score(), full_sums() -> (rows, sum_id, sum_age), compact() -> what it did (None: it has none).
# `ts_unit` is the precision the peer stores timestamps at ("ns" or "us").


class DuckDB:
    name = "duckdb"
    package = "duckdb"
    ts_unit = "ns"
    how = "PRIMARY KEY table in a database file; per commit BEGIN; INSERT OR REPLACE; DELETE ... IN; COMMIT"

    def __init__(self, work, buckets):
        import duckdb

        self.con = duckdb.connect(str(work / "bench.duckdb"))
        self.con.execute(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR, age INTEGER, status BOOLEAN,"
            " score DOUBLE, ts TIMESTAMP_NS)"
        )

    def prepare_upserts(self, t):
        # TIMESTAMP_NS has no time zone: hand over the UTC instants as they are.
        return t.set_column(5, "ts", t.column("ts").cast(pa.timestamp("ns")))

    def prepare_deletes(self, t):
        return t

    def commit(self, upserts, deletes):
        con = self.con
        con.execute("BEGIN")
        if upserts is not None:
            con.register("up", upserts)
            con.execute("INSERT OR REPLACE INTO t SELECT * FROM up")
            con.unregister("up")
        if deletes is not None:
            con.register("del", deletes)
            con.execute("DELETE FROM t WHERE id IN (SELECT id FROM del)")
            con.unregister("del")
        con.execute("COMMIT")

    def count(self):
        return self.con.execute("SELECT count(*) FROM t").fetchone()[0]

    def point(self, id_):
        rows = self.con.execute(
            "SELECT id, name, age, status, score, epoch_ns(ts) FROM t WHERE id = ?", [id_]
        ).fetchall()
        return [dict(zip(COLUMNS, r)) for r in rows]

    def avg_score(self):
        return self.con.execute("SELECT avg(score) FROM t").fetchone()[0]

    def full_sums(self):
        r = self.con.execute("SELECT count(*), sum(id), sum(age) FROM t").fetchone()
        return int(r[0]), int(r[1]), int(r[2])

    def compact(self):
        self.con.execute("CHECKPOINT")
        return {"call": "CHECKPOINT"}


class Delta:
    name = "delta-rs"
    package = "deltalake"
    ts_unit = "us"
    how = "one MERGE per commit (matched+delete flag: delete, matched: update all, not matched: insert all); reads with deltalake's QueryBuilder (DataFusion)"

    def __init__(self, work, buckets):
        from deltalake import DeltaTable

        self.path = str(work / "delta")
        schema = pa.schema(
            [
                pa.field("id", pa.int64(), False),
                pa.field("name", pa.string()),
                pa.field("age", pa.int32()),
                pa.field("status", pa.bool_()),
                pa.field("score", pa.float64()),
                pa.field("ts", pa.timestamp("us", tz="UTC")),
            ]
        )
        self.dt = DeltaTable.create(self.path, schema=schema)
        self.source_schema = schema.append(pa.field("_del", pa.bool_()))

    def _source(self, t, delete):
        t = t.set_column(5, "ts", t.column("ts").cast(pa.timestamp("us", tz="UTC"), safe=False))
        return t.append_column("_del", pa.array([delete] * t.num_rows, pa.bool_()))

    def prepare_upserts(self, t):
        return self._source(t, False)

    def prepare_deletes(self, t):
        return self._source(null_rows(DATA_SCHEMA, t.column("id")), True)

    def commit(self, upserts, deletes):
        parts = [p for p in (upserts, deletes) if p is not None]
        source = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
        (
            self.dt.merge(source, predicate="t.id = s.id", source_alias="s", target_alias="t")
            .when_matched_delete(predicate="s._del")
            .when_matched_update_all(predicate="NOT s._del", except_cols=["_del"])
            .when_not_matched_insert_all(predicate="NOT s._del", except_cols=["_del"])
            .execute()
        )

    def _sql(self, sql):
        from deltalake import QueryBuilder

        reader = QueryBuilder().register("t", self.dt).execute(sql)
        return pa.RecordBatchReader.from_stream(reader).read_all()

    def count(self):
        return self._sql("SELECT count(*) AS n FROM t").column(0)[0].as_py()

    def point(self, id_):
        t = self._sql(f"SELECT * FROM t WHERE id = {int(id_)}")
        return rows_of(t)

    def avg_score(self):
        return self._sql("SELECT avg(score) FROM t").column(0)[0].as_py()

    def full_sums(self):
        t = self._sql("SELECT count(*), sum(id), sum(CAST(age AS BIGINT)) FROM t")
        return tuple(int(t.column(i)[0].as_py()) for i in range(3))

    def compact(self):
        metrics = self.dt.optimize.compact()
        keep = ("numFilesAdded", "numFilesRemoved", "totalConsideredFiles", "totalFilesSkipped")
        return {"call": "optimize.compact()", **{k: metrics.get(k) for k in keep}}


class Paimon:
    name = "paimon"
    package = "pypaimon"
    ts_unit = "ns"
    how = "pypaimon primary-key table, fixed buckets, batch write + commit, with pypaimon-rust (write/commit/read .native.enabled); deletes as '-D' rows (rowkind.field)"

    def __init__(self, work, buckets):
        from pypaimon import CatalogFactory, Schema

        catalog = CatalogFactory.create({"warehouse": str(work / "paimon")})
        catalog.create_database("bench", True)
        self.schema = pa.schema(
            [
                pa.field("id", pa.int64(), False),
                pa.field("name", pa.string()),
                pa.field("age", pa.int32()),
                pa.field("status", pa.bool_()),
                pa.field("score", pa.float64()),
                pa.field("ts", pa.timestamp("ns", tz="UTC")),
                pa.field("_rk", pa.string()),
            ]
        )
        options = {
            "bucket": str(buckets),
            "file.format": "parquet",
            "rowkind.field": "_rk",
            "write.native.enabled": "true",
            "commit.native.enabled": "true",
            "read.native.enabled": "true",
            "scan.native-plan.enabled": "true",
        }
        catalog.create_table(
            "bench.t",
            Schema.from_pyarrow_schema(self.schema, primary_keys=["id"], options=options),
            False,
        )
        self.table = catalog.get_table("bench.t")
        import pypaimon.write.native_write as nw

        self.native = nw.native_write_available()

    def prepare_upserts(self, t):
        return t.append_column("_rk", pa.array(["+I"] * t.num_rows, pa.string())).cast(self.schema)

    def prepare_deletes(self, t):
        rows = null_rows(DATA_SCHEMA, t.column("id"))
        return rows.append_column("_rk", pa.array(["-D"] * t.num_rows, pa.string())).cast(self.schema)

    def commit(self, upserts, deletes):
        wb = self.table.new_batch_write_builder()
        w, c = wb.new_write(), wb.new_commit()
        for part in (upserts, deletes):
            if part is not None:
                w.write_arrow(part)
        c.commit(w.prepare_commit())
        w.close()
        c.close()

    def _read(self, columns, predicate=None):
        rb = self.table.new_read_builder().with_projection(columns)
        if predicate is not None:
            rb = rb.with_filter(predicate(rb.new_predicate_builder()))
        splits = rb.new_scan().plan().splits()
        return rb.new_read().to_arrow(splits)

    def count(self):
        return self._read(["id"]).num_rows

    def point(self, id_):
        t = self._read(COLUMNS, lambda p: p.equal("id", int(id_)))
        # The filter may only prune files: keep the exact matches.
        return rows_of(t.filter(pc.equal(t.column("id"), int(id_))))

    def avg_score(self):
        return pc.mean(self._read(["score"]).column("score")).as_py()

    def full_sums(self):
        t = self._read(["id", "age"])
        return (
            t.num_rows,
            int(pc.sum(t.column("id")).as_py() or 0),
            int(pc.sum(t.column("age").cast(pa.int64())).as_py() or 0),
        )

    def compact(self):
        return None


PEERS = {"duckdb": DuckDB, "delta": Delta, "paimon": Paimon}


def rows_of(t):
    """Rows of an Arrow table as dicts, `ts` as integer nanoseconds."""
    out = []
    if "ts" in t.column_names:
        t = t.set_column(t.column_names.index("ts"), "ts", t.column("ts").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()))
    for r in t.to_pylist():
        out.append({k: r.get(k) for k in COLUMNS})
    return out


# --- the phases ----------------------------------------------------------------------------------


def write_phase(peer, commits, label):
    times = []
    start = time.perf_counter()
    for i, (up, dels) in enumerate(commits):
        t = time.perf_counter()
        peer.commit(up, dels)
        times.append((time.perf_counter() - t) * 1e3)
        if (i + 1) % 10 == 0 or i + 1 == len(commits):
            print(f"{peer.name} phase {label}: {i + 1}/{len(commits)} commits, {time.perf_counter() - start:.2f} s", file=sys.stderr)
    return time.perf_counter() - start, times


def reads(peer, expected, checks, label=""):
    """Phase C: the three timed queries, three runs each, every answer checked."""
    probe = expected["probe"]
    want = dict(probe)
    if peer.ts_unit == "us":
        want["ts"] = probe["ts_ns"] // 1000 * 1000
    else:
        want["ts"] = probe["ts_ns"]
    del want["ts_ns"]
    out = {}
    for q in ("count", "point", "avg"):
        runs = []
        for _ in range(RUNS):
            t = time.perf_counter()
            if q == "count":
                got = peer.count()
            elif q == "point":
                got = peer.point(probe["id"])
            else:
                got = peer.avg_score()
            runs.append(time.perf_counter() - t)
            if q == "count":
                checks.equal(f"{label}count(*)", got, expected["count"])
            elif q == "point":
                checks.equal(f"{label}rows for id {probe['id']}", len(got), 1)
                if got:
                    checks.equal(f"{label}row of id {probe['id']}", got[0], want)
            else:
                checks.close(f"{label}avg(score)", got, expected["avg_score"])
        out[f"c_{q}_s"] = statistics.median(runs)
        out[f"c_{q}_runs_s"] = runs
    return out


def run(system, data, work):
    cls = PEERS[system]
    expected, bulk, stream = load(data)
    work.mkdir(parents=True, exist_ok=True)
    work = work.resolve()
    peer = cls(work, expected["buckets"])
    a = [(peer.prepare_upserts(b), None) for b in bulk]
    b = [
        (
            peer.prepare_upserts(up) if up.num_rows else None,
            peer.prepare_deletes(d) if d.num_rows else None,
        )
        for up, d in stream
    ]
    rows_a = sum(t.num_rows for t in bulk)
    rows_b = sum(up.num_rows + d.num_rows for up, d in stream)
    del bulk, stream
    rss_start = proc_status_mb("VmRSS")
    reset = reset_peak_rss()

    a_s, a_ms = write_phase(peer, a, "A")
    del a
    b_s, b_ms = write_phase(peer, b, "B")
    del b
    checks = Checks()
    c = reads(peer, expected, checks)
    # Untimed: the deleted id is gone and a full scan agrees with the model.
    if expected.get("deleted_id") is not None:
        checks.equal(f"rows for deleted id {expected['deleted_id']}", len(peer.point(expected["deleted_id"])), 0)
    rows, sum_id, sum_age = peer.full_sums()
    checks.equal("full scan rows", rows, expected["count"])
    checks.equal("full scan sum(id)", sum_id, int(expected["sum_id"]))
    checks.equal("full scan sum(age)", sum_age, int(expected["sum_age"]))
    peak = proc_status_mb("VmHWM")
    disk_bytes, disk_files = disk_usage(work)
    # The same reads after the peer's own compaction, where it has one.
    after = None
    t = time.perf_counter()
    did = peer.compact()
    if did is not None:
        after = {"compact_s": time.perf_counter() - t, **did}
        after.update(reads(peer, expected, checks, label="after compaction: "))
        after["bytes_on_disk"], after["files_on_disk"] = disk_usage(work)
    from importlib.metadata import version

    print(
        f"{peer.name}: A {rows_a / a_s / 1e6:.3f} M rows/s, B {rows_b / b_s / 1e6:.3f} M rows/s, "
        f"commit p50 {percentile(b_ms, 50):.1f} ms, C count {c['c_count_s']:.4f} s point "
        f"{c['c_point_s'] * 1e3:.2f} ms avg {c['c_avg_s']:.4f} s",
        file=sys.stderr,
    )
    report = {
        "system": peer.name,
        "workload": expected["workload"],
        "mode": "python",
        "package": f"{cls.package} {version(cls.package)}",
        "how": cls.how,
        "ts_unit": peer.ts_unit,
        "rows_a": rows_a,
        "commits_a": expected["commits_a"],
        "stream_commits": expected["stream_commits"],
        "stream_upserts": expected["stream_upserts"],
        "stream_deletes": expected["stream_deletes"],
        "buckets": expected["buckets"],
        "seed": expected["seed"],
        "phase_a_s": a_s,
        "phase_a_rows_per_s": rows_a / a_s,
        "phase_a_commit_p50_ms": percentile(a_ms, 50),
        "rows_b": rows_b,
        "phase_b_s": b_s,
        "phase_b_rows_per_s": rows_b / b_s if rows_b else None,
        "commit_p50_ms": percentile(b_ms, 50),
        "commit_p99_ms": percentile(b_ms, 99),
        "commit_max_ms": percentile(b_ms, 100),
        "commit_ms": b_ms,
        **c,
        "after_compaction": after,
        "peak_rss_mb": peak,
        "rss_after_generate_mb": rss_start,
        "peak_rss_reset": reset,
        "bytes_on_disk": disk_bytes,
        "files_on_disk": disk_files,
        "correct": not checks.failures and checks.passed > 0,
        "checks_passed": checks.passed,
        "wrong_answers": checks.failures,
    }
    if system == "paimon":
        report["native"] = peer.native
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--system", choices=sorted(PEERS), required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    args = p.parse_args()
    print(json.dumps(run(args.system, args.data, args.work)))


if __name__ == "__main__":
    main()
