//! Embedded mode, after phase C: a major compaction, phase C again, and the same three reads on
//! one Parquet file holding the table's rows (the floor the goal "within 1.5× of one Parquet
//! file" compares with). Write amplification = bytes compaction wrote / bytes ingest wrote.

use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::{Value, json};
use snafu::ResultExt;
use tidewater_engine::{CompactMode, Table};
use tidewater_format::SnapshotKind;

use super::embedded::Embedded;
use super::measure::{Measured, Query, phase_c};
use super::workload::Expected;
use crate::error::{EngineSnafu, Result};

fn median(runs: &[f64]) -> f64 {
    super::report::percentile(runs, 50.0)
}

/// Runs the compaction and the reads; answers are checked into `checks` of `measured`.
pub async fn after_major_compaction(
    table: &Table,
    expected: &Expected,
    measured: &mut Measured,
) -> Result<Value> {
    let engine = |op: &str| EngineSnafu { op: op.to_string() };
    let ingested: u64 = {
        let mut total = 0;
        for id in table
            .snapshot_ids()
            .await
            .context(engine("listing snapshots"))?
        {
            let s = table
                .snapshot(id)
                .await
                .context(engine("reading a snapshot"))?;
            if s.kind == SnapshotKind::Append {
                total += s.summary.bytes_added;
            }
        }
        total
    };
    let t = Instant::now();
    let report = table
        .compact(CompactMode::Major)
        .run()
        .await
        .context(engine("major compaction"))?;
    let compact_s = t.elapsed().as_secs_f64();
    let mut after = Measured::default();
    phase_c(
        &Embedded {
            table: table.clone(),
            maintenance: None,
        },
        expected,
        &mut after,
    )
    .await?;
    measured.checks.merge(after.checks.clone());

    // The reference: every row in one zstd Parquet file, read with the plain arrow reader.
    let batches = table
        .scan()
        .collect()
        .await
        .context(engine("scanning the table"))?;
    let dir = tempfile::tempdir().map_err(|e| crate::error::Error::NotAvailable {
        what: "a temporary directory".into(),
        reason: e.to_string(),
    })?;
    let path = dir.path().join("all.parquet");
    let probe = expected.probe.id;
    let reference = tokio::task::spawn_blocking(move || reference_reads(&path, &batches, probe))
        .await
        .map_err(|e| crate::error::Error::NotAvailable {
            what: "the reference read".into(),
            reason: e.to_string(),
        })?
        .map_err(|reason| crate::error::Error::NotAvailable {
            what: "the reference read".into(),
            reason,
        })?;
    let (count, point, avg) = (
        after.count.median_s(),
        after.point.median_s(),
        after.avg.median_s(),
    );
    Ok(json!({
        "compact_s": compact_s,
        "files_in": report.files_in,
        "files_out": report.files_out,
        "bytes_in": report.bytes_in,
        "bytes_out": report.bytes_out,
        "bytes_ingested": ingested,
        "write_amplification": report.bytes_out as f64 / ingested.max(1) as f64,
        "c_count_s": count,
        "c_point_s": point,
        "c_avg_s": avg,
        "one_file_count_s": median(&reference.0.runs_s),
        "one_file_point_s": median(&reference.1.runs_s),
        "one_file_avg_s": median(&reference.2.runs_s),
        "ratio_count": count / median(&reference.0.runs_s),
        "ratio_point": point / median(&reference.1.runs_s),
        "ratio_avg": avg / median(&reference.2.runs_s),
    }))
}

type Reads = (Query, Query, Query);

fn reference_reads(
    path: &std::path::Path,
    batches: &[RecordBatch],
    probe: i64,
) -> std::result::Result<Reads, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let schema = batches
        .first()
        .map(|b| b.schema())
        .ok_or("the table is empty")?;
    let file = std::fs::File::create(path).map_err(|e| err(&e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| err(&e))?;
    for b in batches {
        w.write(b).map_err(|e| err(&e))?;
    }
    w.close().map_err(|e| err(&e))?;
    let read = |columns: &[&str]| -> std::result::Result<Vec<RecordBatch>, String> {
        let f = std::fs::File::open(path).map_err(|e| err(&e))?;
        let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| err(&e))?;
        let roots: Vec<usize> = columns
            .iter()
            .filter_map(|c| schema.index_of(c).ok())
            .collect();
        let mask = ProjectionMask::roots(b.parquet_schema(), roots);
        b.with_projection(mask)
            .build()
            .map_err(|e| err(&e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| err(&e))
    };
    let mut out: Reads = Default::default();
    for _ in 0..3 {
        let t = Instant::now();
        let n: usize = read(&["id"])?.iter().map(|b| b.num_rows()).sum();
        out.0.runs_s.push(t.elapsed().as_secs_f64());
        std::hint::black_box(n);

        let t = Instant::now();
        let all = read(&["id", "name", "age", "status", "score", "ts"])?;
        let hits: usize = all
            .iter()
            .map(|b| {
                let ids = b.column(0).as_primitive::<Int64Type>();
                ids.values().iter().filter(|v| **v == probe).count()
            })
            .sum();
        out.1.runs_s.push(t.elapsed().as_secs_f64());
        std::hint::black_box(hits);

        let t = Instant::now();
        let mut sum = 0.0;
        let mut rows = 0usize;
        for b in read(&["score"])? {
            let s = b.column(0).as_primitive::<Float64Type>();
            sum += arrow::compute::sum(s).unwrap_or(0.0);
            rows += s.len() - s.null_count();
        }
        out.2.runs_s.push(t.elapsed().as_secs_f64());
        std::hint::black_box(sum / rows.max(1) as f64);
    }
    Ok(out)
}
