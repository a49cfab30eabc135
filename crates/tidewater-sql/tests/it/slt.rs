//! Runs every sqllogictest file under `tests/slt/` against a fresh temporary warehouse each.
//!
//! Values print as the CLI's CSV does, except NULL (`NULL`) and the empty string (`(empty)`).
//! Run one file: `SLT=time_travel cargo test -p tidewater-sql --test it slt`.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::Array;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::StreamExt;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};
use tidewater_engine::Warehouse;
use tidewater_sql::{SqlEngine, StatementOutput};

struct Db {
    engine: SqlEngine,
    _dir: tempfile::TempDir,
}

impl Db {
    async fn new() -> Db {
        let dir = tempfile::tempdir().expect("temp dir");
        let warehouse = Warehouse::open(dir.path().to_str().expect("utf-8 path"))
            .await
            .expect("warehouse");
        Db {
            engine: SqlEngine::new(warehouse),
            _dir: dir,
        }
    }
}

#[async_trait]
impl AsyncDB for Db {
    type Error = tidewater_sql::Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Self::Error> {
        let statement = sql.trim().trim_end_matches(';');
        match self.engine.run(statement).await? {
            StatementOutput::Done { rows, .. } => Ok(DBOutput::StatementComplete(rows)),
            StatementOutput::Rows(mut stream) => {
                let columns = stream.schema().fields().len();
                let options = FormatOptions::new()
                    .with_null("NULL")
                    .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
                    .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f"));
                let mut rows = Vec::new();
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    let formatters: Vec<ArrayFormatter> = batch
                        .columns()
                        .iter()
                        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                        .collect::<Result<_, _>>()
                        .map_err(datafusion::error::DataFusionError::from)?;
                    for row in 0..batch.num_rows() {
                        rows.push(
                            formatters
                                .iter()
                                .enumerate()
                                .map(|(i, f)| {
                                    let v = f.value(row).to_string();
                                    if v.is_empty() && !batch.column(i).is_null(row) {
                                        "(empty)".to_string()
                                    } else {
                                        v
                                    }
                                })
                                .collect(),
                        );
                    }
                }
                Ok(DBOutput::Rows {
                    types: vec![DefaultColumnType::Any; columns],
                    rows,
                })
            }
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "tidewater"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let only = std::env::var("SLT").ok();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .filter(|p| {
            only.as_ref().is_none_or(|o| {
                p.file_stem()
                    .is_some_and(|s| s.to_string_lossy().contains(o))
            })
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files under {}", dir.display());
    let mut failures = Vec::new();
    for file in &files {
        let mut runner = sqllogictest::Runner::new(|| async { Ok(Db::new().await) });
        if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}:\n{}", file.display(), e.display(true)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
