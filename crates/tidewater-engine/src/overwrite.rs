//! `INSERT OVERWRITE` of standard tables: new files replace the files of the partitions written,
//! in one snapshot of kind [`SnapshotKind::Overwrite`].
//!
//! An [`Overwrite`] validates rows like an insert session, buffers them per partition and writes
//! a file whenever a partition holds [`OVERWRITE_FILE_BYTES`]; nothing is visible until
//! [`Overwrite::commit`], which publishes the new files and removes, in the same snapshot, every
//! file that was live in the replaced partitions: the whole table when it is not partitioned, the
//! given partition when one was given (even if no row was written, so an empty overwrite empties
//! it), otherwise every partition that received rows (dynamic partitions). A file committed
//! concurrently into a replaced partition after the overwrite read the live set survives it.
//! [`Overwrite::abort`] deletes the files written so far. Files of an overwrite that died before
//! committing are orphans for garbage collection (they are in no manifest).
//!
//! Delta tables are not overwritten (their history feeds incremental reads); they are changed by
//! upserts and deletes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use snafu::ResultExt;
use tidewater_format::schema::TableKind;
use tidewater_format::{CommitId, DataFileMeta, PartitionSpec, Snapshot, SnapshotKind};

use crate::commit::{CommitRequest, commit, find_commit};
use crate::error::{ArrowSnafu, InvalidInputSnafu, JoinSnafu, Result};
use crate::table::Table;
use crate::validate::{Ops, RowOp, validate_rows};
use crate::write::{FileTarget, encode_file};

/// A partition's buffered rows are written as a file once they reach this size.
pub const OVERWRITE_FILE_BYTES: usize = 64 << 20;
/// Writer id recorded in snapshots made by overwrites.
pub const OVERWRITE_WRITER: &str = "overwrite";

/// An overwrite in progress. Use [`Table::overwrite`].
pub struct Overwrite {
    table: Table,
    /// `Some`: rows carry data columns only and go to this partition.
    partition: Option<PartitionSpec>,
    base_snapshot: u64,
    buffers: HashMap<PartitionSpec, (Vec<RecordBatch>, usize)>,
    written: Vec<DataFileMeta>,
    replaced: BTreeSet<PartitionSpec>,
}

impl std::fmt::Debug for Overwrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overwrite")
            .field("table", &self.table.full_name())
            .field("partition", &self.partition)
            .finish()
    }
}

impl Table {
    /// Starts an overwrite of a standard table. `partition` (`dd=01/hh=01`) replaces that one
    /// partition; `None` replaces the whole table when it is not partitioned, and otherwise the
    /// partitions the rows name in their partition columns.
    pub async fn overwrite(&self, partition: Option<&str>) -> Result<Overwrite> {
        if self.kind() != TableKind::Standard {
            return InvalidInputSnafu {
                reason: format!(
                    "INSERT OVERWRITE replaces files of standard tables; '{}' is a Delta table: write it with INSERT (upsert), UPDATE or DELETE",
                    self.full_name()
                ),
            }
            .fail();
        }
        let schema = self.schema();
        let partition = match partition {
            _ if schema.partition_columns.is_empty() => {
                if let Some(p) = partition
                    && !p.trim().is_empty()
                {
                    PartitionSpec::parse(p, &[])?;
                }
                Some(PartitionSpec::default())
            }
            Some(p) => Some(PartitionSpec::parse(p, &schema.partition_names())?),
            None => None,
        };
        let mut replaced = BTreeSet::new();
        if let Some(p) = &partition {
            replaced.insert(p.clone());
        }
        let base_snapshot = self.latest_snapshot().await?.map_or(0, |s| s.id);
        Ok(Overwrite {
            table: self.clone(),
            partition,
            base_snapshot,
            buffers: HashMap::new(),
            written: Vec::new(),
            replaced,
        })
    }
}

impl Overwrite {
    /// Validates and buffers rows (table columns; with dynamic partitions also the partition
    /// columns). On error nothing of `batch` is kept.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let table = self.table.clone();
        let schema = table.schema();
        let rows = validate_rows(
            &table.full_name(),
            schema,
            batch,
            Ops::All(RowOp::Insert),
            self.partition.is_none(),
        )?;
        let by_partition = rows.rows_by_partition(schema, self.partition.as_ref())?;
        let data =
            RecordBatch::try_new(schema.data_arrow_schema(), rows.columns).context(ArrowSnafu {
                what: "assembling rows",
            })?;
        let mut groups: Vec<(PartitionSpec, RecordBatch)> = Vec::new();
        for (spec, idx) in by_partition {
            let part = if idx.len() == data.num_rows() {
                data.clone()
            } else {
                take_record_batch(&data, &UInt32Array::from(idx)).context(ArrowSnafu {
                    what: "grouping rows by partition",
                })?
            };
            groups.push((spec, part));
        }
        let mut full = Vec::new();
        for (spec, part) in groups {
            self.replaced.insert(spec.clone());
            let bytes = part.get_array_memory_size();
            let buf = self.buffers.entry(spec.clone()).or_default();
            buf.0.push(part);
            buf.1 += bytes;
            if buf.1 >= OVERWRITE_FILE_BYTES {
                full.push(spec);
            }
        }
        for spec in full {
            self.flush_partition(&spec).await?;
        }
        Ok(())
    }

    async fn flush_partition(&mut self, spec: &PartitionSpec) -> Result<()> {
        let Some((batches, _)) = self.buffers.remove(spec) else {
            return Ok(());
        };
        let table = &self.table;
        let target = FileTarget {
            kind: TableKind::Standard,
            file_schema: table.schema().data_arrow_schema(),
            key_indices: Vec::new(),
            partition: spec.clone(),
            bucket: 0,
            total_buckets: table.bucket_num(),
            schema_id: table.metadata().schema_id,
        };
        let (meta, bytes) = tokio::task::spawn_blocking(move || encode_file(&target, &batches))
            .await
            .context(JoinSnafu)??;
        table
            .storage()
            .put(&table.paths().data_file(&meta.path), bytes)
            .await?;
        self.written.push(meta);
        Ok(())
    }

    /// Writes what is buffered and publishes the new files in place of the replaced ones.
    pub async fn commit(mut self) -> Result<Arc<Snapshot>> {
        let specs: Vec<PartitionSpec> = self.buffers.keys().cloned().collect();
        for spec in specs {
            if let Err(e) = self.flush_partition(&spec).await {
                self.delete_written().await;
                return Err(e);
            }
        }
        let table = self.table.clone();
        let removed: Vec<DataFileMeta> = match table.latest_snapshot().await? {
            Some(s) => table
                .files(&s)
                .await?
                .into_iter()
                .filter(|f| self.replaced.contains(&f.partition))
                .collect(),
            None => Vec::new(),
        };
        let commit_id = CommitId {
            writer: OVERWRITE_WRITER.to_string(),
            commit: uuid::Uuid::new_v4().to_string(),
        };
        let result = commit(
            &table,
            CommitRequest {
                removed,
                ..CommitRequest::append(
                    SnapshotKind::Overwrite,
                    Some(commit_id.clone()),
                    self.written.clone(),
                    0,
                    self.base_snapshot,
                )
            },
        )
        .await;
        match result {
            Ok(s) => Ok(s),
            Err(e) => {
                // The outcome may be unknown: only a commit that surely did not land may take
                // its files with it.
                match find_commit(&table, &commit_id, self.base_snapshot).await {
                    Ok(Some(s)) => return Ok(s),
                    Ok(None) => self.delete_written().await,
                    // Still unknown: leave the files to garbage collection.
                    Err(_) => {}
                }
                Err(e)
            }
        }
    }

    /// Discards the overwrite and deletes the files it wrote.
    pub async fn abort(mut self) -> Result<()> {
        self.buffers.clear();
        for f in std::mem::take(&mut self.written) {
            self.table
                .storage()
                .delete(&self.table.paths().data_file(&f.path))
                .await?;
        }
        Ok(())
    }

    async fn delete_written(&mut self) {
        for f in std::mem::take(&mut self.written) {
            let path = self.table.paths().data_file(&f.path);
            if let Err(e) = self.table.storage().delete(&path).await {
                tracing::warn!(path, error = %e, "could not delete a file of a failed overwrite");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType as A, Field, Schema};
    use tidewater_format::{Column, DataType, TableProperties, TableSchema};

    use super::*;
    use crate::{SessionKind, Warehouse};

    fn rows(rows: &[(i64, &str)]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", A::Int64, true),
                Field::new("dd", A::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap()
    }

    async fn contents(t: &Table) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for b in t.scan().project(&["dd", "id"]).collect().await.unwrap() {
            let dd = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            let id = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            for r in 0..b.num_rows() {
                out.push((dd.value(r).to_string(), id.value(r)));
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn overwrite_replaces_the_partitions_written_in_one_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
        let schema = TableSchema::new(
            vec![Column::new("id", DataType::BigInt)],
            vec![],
            vec![Column::new("dd", DataType::String)],
        )
        .unwrap();
        let t = wh
            .create_table("default", "t", schema, TableProperties::default(), false)
            .await
            .unwrap();
        let mut s = t
            .session(SessionKind::Insert)
            .dynamic_partitions()
            .open()
            .await
            .unwrap();
        s.insert(&rows(&[(1, "a"), (2, "a"), (3, "b")]))
            .await
            .unwrap();
        s.commit().await.unwrap();

        let mut o = t.overwrite(None).await.unwrap();
        o.write(&rows(&[(7, "a"), (8, "c")])).await.unwrap();
        let snap = o.commit().await.unwrap();
        assert_eq!(snap.kind, SnapshotKind::Overwrite);
        assert_eq!(snap.summary.files_removed, 1);
        assert_eq!(
            contents(&t).await,
            vec![("a".into(), 7), ("b".into(), 3), ("c".into(), 8)]
        );

        // A static partition is replaced even by nothing.
        let o = t.overwrite(Some("dd=b")).await.unwrap();
        o.commit().await.unwrap();
        assert_eq!(contents(&t).await, vec![("a".into(), 7), ("c".into(), 8)]);

        // An aborted overwrite changes nothing.
        let before = t.latest_snapshot().await.unwrap().unwrap().id;
        let mut o = t.overwrite(None).await.unwrap();
        o.write(&rows(&[(9, "a")])).await.unwrap();
        o.abort().await.unwrap();
        assert_eq!(t.latest_snapshot().await.unwrap().unwrap().id, before);
        assert_eq!(contents(&t).await, vec![("a".into(), 7), ("c".into(), 8)]);
    }

    #[tokio::test]
    async fn delta_tables_are_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
        let schema = TableSchema::new(
            vec![Column::new("id", DataType::BigInt)],
            vec!["id".into()],
            vec![],
        )
        .unwrap();
        let props =
            TableProperties::from_map(&[("transactional".to_string(), "true".to_string())].into())
                .unwrap();
        let t = wh
            .create_table("default", "d", schema, props, false)
            .await
            .unwrap();
        assert!(t.overwrite(None).await.is_err());
    }
}
