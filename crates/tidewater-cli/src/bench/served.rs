//! The workload run through the Tunnel server: a [`Target`] writing with the Rust SDK's upsert
//! sessions (Arrow batches, client-side bucket routing) and reading with `POST /v1/sql`, and the
//! server process itself when the run starts one.
//!
//! `BENCHMARK.md` wants the server in another process: without `--endpoint` the run starts
//! `tidewater serve` (this same binary) on `127.0.0.1:0` over the run's warehouse, with an
//! AccessKey it generates, reads the `listening on` line, and stops the server at the end — after
//! reading its peak resident set, which the report shows next to the client's. The child is
//! killed when the run fails too ([`ServerProcess`] kills it on drop).
//!
//! Phase C sends the benchmark's own statements (`SELECT count(*)`, `SELECT * … WHERE id = …`,
//! `SELECT avg(score)`), so their times include planning on the server and the HTTP round trip.
//! The untimed full-scan check reads `id, age` of every row and adds them up here, like the
//! embedded mode; the table statistics come from `SHOW SNAPSHOTS`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, UInt64Type};
use snafu::{ResultExt, ensure};
use tidewater_client::{ACCESS_ID_ENV, ACCESS_KEY_ENV, Client, SqlOutput};
use tidewater_engine::DEFAULT_PROJECT;
use tidewater_format::TableSchema;

use super::TABLE;
use super::measure::{CommitTiming, FullSums, TableStats, Target};
use super::resources;
use super::workload::{self, SplitMix64};
use crate::error::{
    AnswerSnafu, ClientSnafu, InvalidParamsSnafu, IoSnafu, Result, ServerStartSnafu,
};

/// Client buffers of a bench session: a bucket is sent when it holds this much (a phase A
/// commit of 100,000 rows is about 1.2 MiB per bucket of 4, so one block per bucket and commit).
const BUCKET_BUFFER_BYTES: usize = 8 << 20;
/// Bound of all bucket buffers of a session together.
const TOTAL_BUFFER_BYTES: usize = 64 << 20;
/// Blocks uploaded at once (one per bucket at the default 4 buckets).
const FLUSH_CONCURRENCY: usize = 4;

fn client_op(op: impl Into<String>) -> ClientSnafu<String> {
    ClientSnafu { op: op.into() }
}

/// A `tidewater serve` child process; killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    endpoint: String,
    access_id: String,
    access_key: String,
}

impl ServerProcess {
    /// Starts `tidewater serve --warehouse <warehouse> --listen 127.0.0.1:0` (with
    /// `--no-maintenance` unless `maintenance`) with a generated AccessKey and waits for its
    /// `listening on` line.
    pub fn start(warehouse: &str, maintenance: bool) -> Result<ServerProcess> {
        let exe = std::env::current_exe().context(IoSnafu {
            op: "locating the tidewater binary",
            path: "/proc/self/exe",
        })?;
        let (access_id, access_key) = generated_access_key();
        let mut child = Command::new(&exe)
            .args([
                "serve",
                "--warehouse",
                warehouse,
                "--listen",
                "127.0.0.1:0",
                "--log",
                "warn",
            ])
            .args((!maintenance).then_some("--no-maintenance"))
            .env(ACCESS_ID_ENV, &access_id)
            .env(ACCESS_KEY_ENV, &access_key)
            // A config file meant for another server must not change this one.
            .env_remove("TIDEWATER_CONFIG")
            .env_remove("TIDEWATER_NO_MAINTENANCE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context(IoSnafu {
                op: "starting",
                path: &exe,
            })?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return ServerStartSnafu {
                reason: "its standard output is not connected",
            }
            .fail();
        };
        // From here on, dropping `server` kills the child.
        let mut server = ServerProcess {
            child,
            endpoint: String::new(),
            access_id,
            access_key,
        };
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        let read = lines.read_line(&mut first).context(IoSnafu {
            op: "reading the first line of",
            path: &exe,
        })?;
        let Some(endpoint) = first.trim().strip_prefix("listening on ") else {
            let status = server.child.wait().ok();
            return ServerStartSnafu {
                reason: if read == 0 {
                    format!("it exited ({status:?}) before listening; its errors are above")
                } else {
                    format!("its first line is not `listening on URL`: {first:?}")
                },
            }
            .fail();
        };
        server.endpoint = endpoint.to_string();
        // The server prints nothing more on stdout today; keep the pipe drained so a later line
        // cannot block or break it.
        std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
        eprintln!(
            "started tidewater serve (pid {}) on {}",
            server.child.id(),
            server.endpoint
        );
        Ok(server)
    }

    /// A client with the AccessKey the server was started with.
    pub fn client(&self) -> Result<Client> {
        Client::new(
            self.endpoint.clone(),
            tidewater_client::Credentials::new(&self.access_id, &self.access_key),
        )
        .context(client_op(format!("connecting to {}", self.endpoint)))
    }

    /// Stops the server; returns its peak resident set (MiB), read just before.
    pub fn stop(mut self) -> Option<f64> {
        let peak = resources::process_status_mb(self.child.id(), "VmHWM");
        let _ = self.child.kill();
        let _ = self.child.wait();
        peak
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Stopping a server that already exited, or was stopped, is harmless.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh AccessKey for one run (not secret beyond the run: the server lives as long as it).
fn generated_access_key() -> (String, String) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut rng = SplitMix64::new(nanos ^ (u64::from(std::process::id()) << 32));
    let id = format!("bench{:012x}", rng.next_u64() >> 16);
    let key = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
    (id, key)
}

/// `CREATE TABLE` for the bench table, from the workload's schema (so it cannot drift).
pub fn create_table_sql(
    schema: &TableSchema,
    buckets: u32,
    extra: &BTreeMap<String, String>,
) -> String {
    let mut columns: Vec<String> = schema
        .columns
        .iter()
        .map(|c| {
            let not_null = if c.nullable { "" } else { " NOT NULL" };
            format!("{} {}{not_null}", c.name, c.data_type)
        })
        .collect();
    columns.push(format!("PRIMARY KEY ({})", schema.primary_key.join(", ")));
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let extra: String = extra
        .iter()
        .map(|(k, v)| format!(", {}={}", quote(k), quote(v)))
        .collect();
    format!(
        "CREATE TABLE {TABLE} ({}) TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='{buckets}'{extra})",
        columns.join(", ")
    )
}

/// The bench table on a server.
pub struct Served {
    pub client: Client,
    pub project: String,
}

impl Served {
    /// Creates the bench table through SQL and checks the server made the table the embedded
    /// mode makes (schema and buckets).
    pub async fn create_table(
        client: Client,
        buckets: u32,
        properties: &BTreeMap<String, String>,
    ) -> Result<Served> {
        let project = DEFAULT_PROJECT.to_string();
        let tables = client
            .list_tables(&project)
            .await
            .context(client_op("listing the tables"))?;
        ensure!(
            !tables.iter().any(|t| t == TABLE),
            InvalidParamsSnafu {
                reason: format!(
                    "the server already holds table {project}.{TABLE}; use a new warehouse"
                ),
            }
        );
        let schema = workload::table_schema()?;
        client
            .sql(&project, &create_table_sql(&schema, buckets, properties))
            .await
            .context(client_op("creating the bench table"))?;
        let info = client
            .describe_table(&project, TABLE)
            .await
            .context(client_op("describing the bench table"))?;
        ensure!(
            info.schema == schema && info.bucket_num == buckets && info.kind == "delta",
            AnswerSnafu {
                query: "CREATE TABLE",
                reason: format!(
                    "the server created a {} table with {} buckets and schema {:?}",
                    info.kind, info.bucket_num, info.schema
                ),
            }
        );
        Ok(Served { client, project })
    }

    async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        match self
            .client
            .sql(&self.project, sql)
            .await
            .context(client_op(format!("`{sql}`")))?
        {
            SqlOutput::Rows { batches, .. } => Ok(batches),
            SqlOutput::Done { message, .. } => AnswerSnafu {
                query: sql,
                reason: format!("no result set ({message})"),
            }
            .fail(),
        }
    }

    /// The one value of a one-row, one-column answer.
    async fn scalar<T>(&self, sql: &str, get: impl Fn(&dyn Array) -> Option<T>) -> Result<T> {
        let batches = self.query(sql).await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let value = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .filter(|b| rows == 1 && b.num_columns() == 1 && !b.column(0).is_null(0))
            .and_then(|b| get(b.column(0).as_ref()));
        value.ok_or_else(|| {
            AnswerSnafu {
                query: sql,
                reason: format!(
                    "expected one non-NULL value, got {rows} row(s) of {:?}",
                    batches.first().map(|b| b.schema())
                ),
            }
            .build()
        })
    }
}

impl Target for Served {
    async fn commit(
        &self,
        upserts: Option<RecordBatch>,
        deletes: Option<RecordBatch>,
    ) -> Result<CommitTiming> {
        let start = Instant::now();
        let mut session = self
            .client
            .upsert_session(&self.project, TABLE)
            .bucket_buffer_bytes(BUCKET_BUFFER_BYTES)
            .total_buffer_bytes(TOTAL_BUFFER_BYTES)
            .flush_concurrency(FLUSH_CONCURRENCY)
            .open()
            .await
            .context(client_op("opening a session"))?;
        let opened = Instant::now();
        if let Some(b) = upserts {
            session
                .write_batch(&b)
                .await
                .context(client_op("write_batch"))?;
        }
        let upserted = Instant::now();
        if let Some(b) = deletes {
            session
                .delete_batch(&b)
                .await
                .context(client_op("delete_batch"))?;
        }
        let deleted = Instant::now();
        session.flush().await.context(client_op("flush"))?;
        let flushed = Instant::now();
        session.commit().await.context(client_op("commit"))?;
        let done = Instant::now();
        Ok(CommitTiming {
            open: opened - start,
            upsert: upserted - opened,
            delete: deleted - upserted,
            flush: flushed - deleted,
            commit: done - flushed,
            total: done - start,
        })
    }

    async fn count(&self) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM {TABLE}");
        self.scalar(&sql, |a| {
            a.as_primitive_opt::<Int64Type>()
                .and_then(|v| u64::try_from(v.value(0)).ok())
                .or_else(|| Some(a.as_primitive_opt::<UInt64Type>()?.value(0)))
        })
        .await
    }

    async fn point(&self, id: i64) -> Result<Vec<RecordBatch>> {
        self.query(&format!("SELECT * FROM {TABLE} WHERE id = {id}"))
            .await
    }

    async fn avg_score(&self) -> Result<(f64, Option<u64>)> {
        let sql = format!("SELECT avg(score) FROM {TABLE}");
        let avg = self
            .scalar(&sql, |a| {
                Some(a.as_primitive_opt::<Float64Type>()?.value(0))
            })
            .await?;
        Ok((avg, None))
    }

    async fn full_sums(&self) -> Result<FullSums> {
        let mut sums = FullSums::default();
        for b in self.query(&format!("SELECT id, age FROM {TABLE}")).await? {
            sums.add(&b);
        }
        Ok(sums)
    }

    async fn compact_major(&self) -> Result<()> {
        let sql = format!("ALTER TABLE {TABLE} COMPACT MAJOR");
        self.client
            .sql(&self.project, &sql)
            .await
            .context(client_op(format!("`{sql}`")))?;
        Ok(())
    }

    async fn stats(&self) -> Result<TableStats> {
        let sql = format!("SHOW SNAPSHOTS {TABLE}");
        let batches = self.query(&sql).await?;
        let mut stats = TableStats::default();
        let mut latest = None;
        for b in &batches {
            let (Some(ids), Some(files)) = (
                b.column_by_name("snapshot_id"),
                b.column_by_name("total_files"),
            ) else {
                return AnswerSnafu {
                    query: sql,
                    reason: format!("no snapshot_id or total_files column: {:?}", b.schema()),
                }
                .fail();
            };
            let (ids, files) = (as_u64(ids), as_u64(files));
            for row in 0..b.num_rows() {
                stats.snapshots += 1;
                let id = ids(row);
                if id >= latest.map_or(0, |(l, _)| l) {
                    latest = Some((id, files(row)));
                }
            }
        }
        stats.live_data_files = latest.map_or(0, |(_, f)| f);
        Ok(stats)
    }
}

/// Reads an integer column of either signedness as `u64` (NULL and negatives as 0).
fn as_u64(a: &dyn Array) -> impl Fn(usize) -> u64 + '_ {
    move |row| {
        if a.is_null(row) {
            return 0;
        }
        a.as_primitive_opt::<UInt64Type>()
            .map(|v| v.value(row))
            .or_else(|| {
                a.as_primitive_opt::<Int64Type>()
                    .and_then(|v| u64::try_from(v.value(row)).ok())
            })
            .unwrap_or(0)
    }
}

/// The client and, without an endpoint, the server the run starts over `warehouse`.
pub fn connect(
    endpoint: Option<&str>,
    warehouse: Option<&str>,
    maintenance: bool,
) -> Result<(Client, Option<ServerProcess>)> {
    match (endpoint, warehouse) {
        (Some(endpoint), _) => {
            let client = Client::from_env(endpoint)
                .context(client_op(format!("connecting to {endpoint} (--endpoint)")))?;
            Ok((client, None))
        }
        (None, Some(warehouse)) => {
            let server = ServerProcess::start(warehouse, maintenance)?;
            Ok((server.client()?, Some(server)))
        }
        (None, None) => InvalidParamsSnafu {
            reason: "the served mode needs --endpoint or a warehouse for its server",
        }
        .fail(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_create_statement_spells_out_the_workload_schema() {
        let sql = create_table_sql(&workload::table_schema().unwrap(), 4, &BTreeMap::new());
        assert_eq!(
            sql,
            "CREATE TABLE upsert_stream (id BIGINT NOT NULL, name STRING, age INT, status BOOLEAN, \
             score DOUBLE, ts TIMESTAMP, PRIMARY KEY (id)) \
             TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='4')"
        );
    }

    #[test]
    fn generated_access_keys_differ() {
        let (a, b) = (generated_access_key(), generated_access_key());
        assert_ne!(a, b);
        assert_eq!(a.1.len(), 32);
    }
}
