//! `tidewater bench --export DIR`: the generated workload written out for other systems, so the
//! peers of `bench/run.sh` (delta-rs, DuckDB, Paimon) run on exactly the data Tidewater runs on,
//! and are checked against the same model.
//!
//! Layout of `DIR` (Arrow IPC files, readable with `pyarrow.ipc.open_file`):
//!
//! | file | content |
//! |---|---|
//! | `bulk-<NNNN>.arrow` | phase A commit `NNNN` (0-based): all columns |
//! | `stream-<NNNN>-upserts.arrow` | phase B commit `NNNN`: the upserted rows, all columns |
//! | `stream-<NNNN>-deletes.arrow` | phase B commit `NNNN`: the deleted keys (`id` only) |
//! | `expected.json` | the size, the file counts and the model's answers ([`ExpectedFile`]) |
//!
//! `expected.json` is written last, so a directory holding it is complete.

use std::fs::File;
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::ipc::writer::FileWriter;
use serde::Serialize;
use snafu::ResultExt;

use super::workload::{Workload, WorkloadSize};
use crate::error::{ArrowSnafu, IoSnafu, JsonSnafu, Result};

/// The probe row of `expected.json`.
#[derive(Debug, Serialize)]
pub struct ExpectedProbe {
    pub id: i64,
    pub name: String,
    pub age: i32,
    pub status: bool,
    pub score: f64,
    /// `ts` in nanoseconds since the epoch (UTC).
    pub ts_ns: i64,
}

/// `expected.json`: what the exported data is and what a correct system answers on it.
#[derive(Debug, Serialize)]
pub struct ExpectedFile {
    pub workload: &'static str,
    pub rows_a: u64,
    pub commits_a: u32,
    pub stream_commits: u32,
    pub stream_upserts: u32,
    pub stream_deletes: u32,
    pub buckets: u32,
    pub seed: u64,
    pub count: u64,
    pub sum_id: i128,
    pub sum_age: i128,
    pub avg_score: f64,
    pub probe: ExpectedProbe,
    pub deleted_id: Option<i64>,
}

impl ExpectedFile {
    fn of(size: &WorkloadSize, workload: &Workload) -> Self {
        let e = &workload.expected;
        ExpectedFile {
            workload: "upsert-stream",
            rows_a: size.rows,
            commits_a: size.commits,
            stream_commits: size.stream_commits,
            stream_upserts: size.stream_upserts,
            stream_deletes: size.stream_deletes,
            buckets: size.buckets,
            seed: size.seed,
            count: e.count,
            sum_id: e.sum_id,
            sum_age: e.sum_age,
            avg_score: e.avg_score,
            probe: ExpectedProbe {
                id: e.probe.id,
                name: e.probe.name.clone(),
                age: e.probe.age,
                status: e.probe.status,
                score: e.probe.score,
                ts_ns: e.probe.ts_ns,
            },
            deleted_id: e.deleted,
        }
    }
}

fn write_ipc(path: &Path, batch: &RecordBatch) -> Result<()> {
    let file = File::create(path).context(IoSnafu {
        op: "creating",
        path,
    })?;
    let what = || format!("writing {}", path.display());
    let mut writer =
        FileWriter::try_new(file, &batch.schema()).context(ArrowSnafu { what: what() })?;
    writer.write(batch).context(ArrowSnafu { what: what() })?;
    writer.finish().context(ArrowSnafu { what: what() })
}

/// Writes `workload` into `dir` (created if missing; files of an earlier export are replaced).
pub fn export(workload: &Workload, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).context(IoSnafu {
        op: "creating",
        path: dir,
    })?;
    let expected_path = dir.join("expected.json");
    if expected_path.exists() {
        std::fs::remove_file(&expected_path).context(IoSnafu {
            op: "removing",
            path: &expected_path,
        })?;
    }
    for (i, batch) in workload.bulk.iter().enumerate() {
        write_ipc(&dir.join(format!("bulk-{i:04}.arrow")), batch)?;
    }
    for (i, commit) in workload.stream.iter().enumerate() {
        write_ipc(
            &dir.join(format!("stream-{i:04}-upserts.arrow")),
            &commit.upserts,
        )?;
        write_ipc(
            &dir.join(format!("stream-{i:04}-deletes.arrow")),
            &commit.deletes,
        )?;
    }
    let json = serde_json::to_string_pretty(&ExpectedFile::of(&workload.size, workload))
        .context(JsonSnafu)?;
    std::fs::write(&expected_path, json).context(IoSnafu {
        op: "writing",
        path: &expected_path,
    })
}

#[cfg(test)]
mod tests {
    use arrow::ipc::reader::FileReader;

    use super::*;

    #[test]
    fn export_writes_every_commit_and_the_expected_answers() {
        let size = WorkloadSize {
            rows: 1_000,
            commits: 4,
            stream_commits: 3,
            stream_upserts: 100,
            stream_deletes: 10,
            buckets: 2,
            seed: 7,
        };
        let w = Workload::generate(&size).unwrap();
        let dir = tempfile::tempdir().unwrap();
        export(&w, dir.path()).unwrap();
        let read = |name: &str| {
            let f = File::open(dir.path().join(name)).unwrap();
            let batches: Vec<RecordBatch> = FileReader::try_new(f, None)
                .unwrap()
                .map(|b| b.unwrap())
                .collect();
            batches
        };
        assert_eq!(read("bulk-0003.arrow"), vec![w.bulk[3].clone()]);
        assert_eq!(
            read("stream-0002-deletes.arrow"),
            vec![w.stream[2].deletes.clone()]
        );
        assert_eq!(
            read("stream-0000-upserts.arrow"),
            vec![w.stream[0].upserts.clone()]
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("expected.json")).unwrap())
                .unwrap();
        assert_eq!(json["count"], w.expected.count);
        assert_eq!(json["probe"]["id"], w.expected.probe.id);
        assert_eq!(json["stream_commits"], 3);
    }
}
