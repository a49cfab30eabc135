//! The workload run against the engine in this process: a [`Target`] over one engine
//! [`Table`]; the phases and checks themselves are in [`super::measure`].
//!
//! Reads go to the engine's scan directly (no SQL planning): count scans no columns, the point
//! lookup is a key filter, avg and the full sums scan only the columns they need.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use futures::StreamExt;
use snafu::ResultExt;
use tidewater_engine::{CompactMode, SessionKind, Table};
use tidewater_format::KeyValue;
use tidewater_server::maintenance::Maintenance;

use super::measure::{CommitTiming, FullSums, TableStats, Target};
use super::workload::NeumaierSum;
use crate::error::{EngineSnafu, Result};

fn engine(op: impl Into<String>) -> EngineSnafu<String> {
    EngineSnafu { op: op.into() }
}

/// The bench table, in this process.
pub struct Embedded {
    pub table: Table,
    /// `--compaction auto`: the server's maintenance service, running in this process (it learns
    /// of commits from the warehouse). Commits wait, as the server's block writes do, while a
    /// bucket is at `num-sorted-run.stop-trigger`.
    pub maintenance: Option<Arc<Maintenance>>,
}

/// The longest a commit waits for compaction (the server's default `max_stall_ms`).
pub const MAX_STALL: Duration = Duration::from_secs(10);

impl Target for Embedded {
    async fn commit(
        &self,
        upserts: Option<RecordBatch>,
        deletes: Option<RecordBatch>,
    ) -> Result<CommitTiming> {
        let start = Instant::now();
        if let Some(m) = &self.maintenance {
            m.wait_for_room(&self.table, MAX_STALL).await;
        }
        let mut session = self
            .table
            .session(SessionKind::Upsert)
            .open()
            .await
            .context(engine("opening a session"))?;
        let opened = Instant::now();
        if let Some(b) = upserts {
            session.upsert(&b).await.context(engine("upsert"))?;
        }
        let upserted = Instant::now();
        if let Some(b) = deletes {
            session.delete(&b).await.context(engine("delete"))?;
        }
        let deleted = Instant::now();
        session.commit().await.context(engine("commit"))?;
        let done = Instant::now();
        Ok(CommitTiming {
            open: opened - start,
            upsert: upserted - opened,
            delete: deleted - upserted,
            flush: Default::default(),
            commit: done - deleted,
            total: done - start,
        })
    }

    /// A scan with no columns, counting rows.
    async fn count(&self) -> Result<u64> {
        let mut stream = self
            .table
            .scan()
            .project::<&str>(&[])
            .execute()
            .await
            .context(engine("planning the count scan"))?;
        let mut n = 0;
        while let Some(b) = stream.next().await {
            n += b.context(engine("count scan"))?.num_rows() as u64;
        }
        Ok(n)
    }

    async fn point(&self, id: i64) -> Result<Vec<RecordBatch>> {
        self.table
            .scan()
            .key_eq(vec![KeyValue::Int(id)])
            .collect()
            .await
            .context(engine(format!("point lookup of id {id}")))
    }

    async fn avg_score(&self) -> Result<(f64, Option<u64>)> {
        let mut stream = self
            .table
            .scan()
            .project(&["score"])
            .execute()
            .await
            .context(engine("planning the avg scan"))?;
        let mut sum = NeumaierSum::default();
        let mut n = 0u64;
        while let Some(b) = stream.next().await {
            let b = b.context(engine("avg scan"))?;
            let scores = b.column(0).as_primitive::<Float64Type>();
            if scores.null_count() == 0 {
                for v in scores.values() {
                    sum.add(*v);
                }
                n += scores.len() as u64;
            } else {
                for v in scores.iter().flatten() {
                    sum.add(v);
                    n += 1;
                }
            }
        }
        let avg = if n == 0 {
            f64::NAN
        } else {
            sum.sum() / n as f64
        };
        Ok((avg, Some(n)))
    }

    async fn full_sums(&self) -> Result<FullSums> {
        let mut stream = self
            .table
            .scan()
            .project(&["id", "age"])
            .execute()
            .await
            .context(engine("planning the full scan"))?;
        let mut sums = FullSums::default();
        while let Some(b) = stream.next().await {
            sums.add(&b.context(engine("full scan"))?);
        }
        Ok(sums)
    }

    async fn compact_major(&self) -> Result<()> {
        self.table
            .compact(CompactMode::Major)
            .run()
            .await
            .context(engine("a major compaction"))?;
        Ok(())
    }

    async fn stats(&self) -> Result<TableStats> {
        let mut stats = TableStats::default();
        let snapshot = self
            .table
            .latest_snapshot()
            .await
            .context(engine("reading the latest snapshot"))?;
        if let Some(s) = snapshot {
            stats.live_data_files = s.summary.total_files;
            stats.stored_rows = Some(s.summary.total_stored_rows);
        }
        stats.snapshots = self
            .table
            .snapshot_ids()
            .await
            .context(engine("listing snapshots"))?
            .len() as u64;
        Ok(stats)
    }
}
