//! Incremental reads: what changed in a Delta table between two snapshots (DESIGN §6,
//! `FROM t VERSION|TIMESTAMP BETWEEN a AND b`).
//!
//! The changes in `(from, to]` are the rows committed by the snapshots after `from` up to and
//! including `to`: exactly the rows whose global sequence number lies in
//! `[from.next_seq, to.next_seq)` (sequence numbers are assigned at commit, in commit order).
//! For every key written in that range the result holds its **last state in the range** — the row
//! with the highest sequence number — and an operation column [`CHANGE_OP_COLUMN`] with
//! [`CHANGE_UPSERT`] or [`CHANGE_DELETE`]. A key upserted and then deleted inside the range is one
//! `delete`; a key deleted and re-inserted is one `upsert`. Non-key columns of a delete hold what
//! the writer sent with it (NULL when it sent only the key, as SQL `DELETE` does).
//!
//! Planning reads the live files of `to`, keeps those whose sequence range reaches into the range
//! (partition pruning as for scans), and groups them into one [`Split`] per (partition, bucket).
//! A split cuts its files into sections of overlapping key ranges; a one-file section is streamed
//! (a file holds one row per key), the rows of a multi-file section are filtered to the range,
//! sorted by (key, sequence) and reduced to the last row per key — so memory is bounded by the
//! changed rows of one section, not by the table.
//!
//! Invariants relied on: a data file holds at most one row per key, sorted by key; compaction
//! keeps the newest version of a key (so the last state in a range survives it) but may drop
//! deletes — so when a `compact` snapshot lies in the range, planning reads the files the
//! commits of the range added instead of the live files of `to`.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt32Array, new_null_array};
use arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef, UInt8Type, UInt64Type};
use arrow_array::cast::AsArray;
use futures::StreamExt;
use snafu::ResultExt;
use tidewater_format::schema::{OP_DELETE, TableKind};
use tidewater_format::{DataFileMeta, PartitionSpec, Snapshot, SnapshotKind};

use crate::error::{ArrowSnafu, InvalidInputSnafu, NotDeltaTableSnafu, Result, UnknownColumnSnafu};
use crate::scan::{
    DEFAULT_BATCH_SIZE, Output, PartitionFilter, RecordBatchStream, ScanContext, Split,
    key_converter, open_file,
};
use crate::table::Table;

/// Name of the operation column of an incremental read.
pub const CHANGE_OP_COLUMN: &str = "_op";
/// Value of [`CHANGE_OP_COLUMN`] for a key whose last change in the range is an upsert.
pub const CHANGE_UPSERT: &str = "upsert";
/// Value of [`CHANGE_OP_COLUMN`] for a key whose last change in the range is a delete.
pub const CHANGE_DELETE: &str = "delete";

/// Builds an incremental read: `table.changes(3, 7).project(&["id", "_op"]).plan().await`.
pub struct ChangesBuilder {
    table: Table,
    from: u64,
    to: u64,
    projection: Option<Vec<String>>,
    partition_filter: Option<PartitionFilter>,
    batch_size: usize,
}

impl Table {
    /// The changes committed by snapshots `(from, to]`; `from = 0` means "since the table was
    /// created".
    pub fn changes(&self, from: u64, to: u64) -> ChangesBuilder {
        ChangesBuilder {
            table: self.clone(),
            from,
            to,
            projection: None,
            partition_filter: None,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum ChangeOutput {
    Column(Output),
    Op,
}

/// Everything a split of an incremental read needs.
struct ChangesContext {
    scan: ScanContext,
    outputs: Vec<ChangeOutput>,
    /// Sequence range `[lo, hi)` of the changes.
    lo: u64,
    hi: u64,
}

/// A planned incremental read.
pub struct ChangesPlan {
    /// `None` when `from` is 0.
    pub from: Option<Arc<Snapshot>>,
    /// `None` when `to` is 0 (nothing can have changed).
    pub to: Option<Arc<Snapshot>>,
    /// Schema of the output batches: the projected columns (by default every table column, then
    /// [`CHANGE_OP_COLUMN`]).
    pub schema: SchemaRef,
    pub splits: Vec<Split>,
    ctx: Arc<ChangesContext>,
}

impl ChangesBuilder {
    /// Only these columns, in this order: table columns (data or partition) and
    /// [`CHANGE_OP_COLUMN`].
    pub fn project<S: AsRef<str>>(mut self, columns: &[S]) -> Self {
        self.projection = Some(columns.iter().map(|c| c.as_ref().to_string()).collect());
        self
    }

    /// Only partitions accepted by `f`.
    pub fn partition_filter(mut self, f: PartitionFilter) -> Self {
        self.partition_filter = Some(f);
        self
    }

    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    pub async fn plan(self) -> Result<ChangesPlan> {
        let table = self.table;
        if table.kind() != TableKind::Delta {
            return NotDeltaTableSnafu {
                table: table.full_name(),
                operation: "an incremental read (changes between snapshots)",
            }
            .fail();
        }
        if self.from > self.to {
            return InvalidInputSnafu {
                reason: format!(
                    "the changes between snapshots {} and {} of '{}': the start is after the end",
                    self.from,
                    self.to,
                    table.full_name()
                ),
            }
            .fail();
        }
        let from = match self.from {
            0 => None,
            id => Some(table.snapshot(id).await?),
        };
        let to = match self.to {
            0 => None,
            id => Some(table.snapshot(id).await?),
        };
        let lo = from.as_ref().map_or(0, |s| s.next_seq);
        let hi = to.as_ref().map_or(0, |s| s.next_seq);

        let schema = table.schema();
        let user_schema = schema.arrow_schema();
        let names: Vec<String> = match &self.projection {
            Some(p) => p.clone(),
            None => user_schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .chain([CHANGE_OP_COLUMN.to_string()])
                .collect(),
        };
        let mut outputs = Vec::with_capacity(names.len());
        let mut fields = Vec::with_capacity(names.len());
        for n in &names {
            if let Some(i) = schema.column_index(n) {
                outputs.push(ChangeOutput::Column(Output::Data(i)));
                // Deletes may carry NULL in any non-key column.
                let f = user_schema.field(i);
                fields.push(
                    f.clone()
                        .with_nullable(f.is_nullable() || !schema.is_key_column(i)),
                );
            } else if let Some(i) = schema.partition_index(n) {
                outputs.push(ChangeOutput::Column(Output::Partition(i)));
                fields.push(user_schema.field(schema.columns.len() + i).clone());
            } else if n.eq_ignore_ascii_case(CHANGE_OP_COLUMN) {
                outputs.push(ChangeOutput::Op);
                fields.push(Field::new(CHANGE_OP_COLUMN, ArrowType::Utf8, false));
            } else {
                return UnknownColumnSnafu {
                    table: table.full_name(),
                    column: n.clone(),
                }
                .fail();
            }
        }
        let key_indices = schema.key_indices();
        let mut read: Vec<usize> = outputs
            .iter()
            .filter_map(|o| match o {
                ChangeOutput::Column(Output::Data(i)) => Some(*i),
                _ => None,
            })
            .chain(key_indices.iter().copied())
            .collect();
        read.sort_unstable();
        read.dedup();

        let mut splits: Vec<Split> = Vec::new();
        if let Some(s) = &to
            && hi > lo
        {
            let mut files = changed_files(&table, self.from, s).await?;
            files.retain(|f| {
                f.row_count > 0
                    && f.max_seq >= lo
                    && self
                        .partition_filter
                        .as_ref()
                        .is_none_or(|p| p(&f.partition))
            });
            files.sort_by(|a, b| (&a.partition, a.bucket).cmp(&(&b.partition, b.bucket)));
            for f in files {
                match splits.last_mut() {
                    Some(s) if s.partition == f.partition && s.bucket == f.bucket => {
                        s.files.push(f)
                    }
                    _ => splits.push(Split {
                        partition: f.partition.clone(),
                        bucket: f.bucket,
                        files: vec![f],
                    }),
                }
            }
        }
        let kind = table.kind();
        let pin = from.as_ref().or(to.as_ref()).map(|s| table.pin(s.id));
        Ok(ChangesPlan {
            from,
            to,
            schema: Arc::new(Schema::new(fields)),
            splits,
            ctx: Arc::new(ChangesContext {
                scan: ScanContext {
                    storage: table.storage().clone(),
                    table: table.clone(),
                    kind,
                    file_schema: schema.file_arrow_schema(kind),
                    read,
                    key_indices,
                    outputs: Vec::new(),
                    probe: None,
                    batch_size: self.batch_size,
                    versions: crate::scan::Versions::Latest,
                    _pin: pin,
                },
                outputs,
                lo,
                hi,
            }),
        })
    }
}

impl ChangesPlan {
    /// Runs every split, one after the other.
    pub fn execute(&self) -> RecordBatchStream {
        let ctx = self.ctx.clone();
        let schema = self.schema.clone();
        futures::stream::iter(self.splits.clone())
            .flat_map(move |s| run_split(ctx.clone(), schema.clone(), s))
            .boxed()
    }

    /// Runs split `i` alone.
    pub fn execute_split(&self, i: usize) -> RecordBatchStream {
        match self.splits.get(i) {
            Some(s) => run_split(self.ctx.clone(), self.schema.clone(), s.clone()),
            None => futures::stream::empty().boxed(),
        }
    }
}

type Sender = tokio::sync::mpsc::Sender<Result<RecordBatch>>;

/// Files holding the rows committed in `(from, to]`. Normally the live files of `to` (compaction
/// keeps the newest version of every key, so the last state in the range survives it); but when
/// a compaction in the range may have dropped deletes, the files the commits in the range added
/// (each still referenced by a snapshot within the range).
async fn changed_files(table: &Table, from: u64, to: &Snapshot) -> Result<Vec<DataFileMeta>> {
    let mut compacted = false;
    let mut id = to.id;
    while id > from && !compacted {
        let s = table.snapshot(id).await?;
        compacted = s.kind == SnapshotKind::Compact;
        id -= 1;
    }
    if !compacted {
        return table.files(to).await;
    }
    let mut added = Vec::new();
    let mut prev = match from {
        0 => Vec::new(),
        id => table.files(&*table.snapshot(id).await?).await?,
    };
    for id in from + 1..=to.id {
        let s = table.snapshot(id).await?;
        let next = table.files(&s).await?;
        if matches!(s.kind, SnapshotKind::Append | SnapshotKind::Overwrite) {
            let before: std::collections::HashSet<&str> =
                prev.iter().map(|f| f.path.as_str()).collect();
            added.extend(
                next.iter()
                    .filter(|f| !before.contains(f.path.as_str()))
                    .cloned(),
            );
        }
        prev = next;
    }
    Ok(added)
}

fn run_split(ctx: Arc<ChangesContext>, schema: SchemaRef, split: Split) -> RecordBatchStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
    tokio::spawn(async move {
        if let Err(e) = read_split(&ctx, &schema, &split, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) }).boxed()
}

/// Rows of one file batch inside the range: (read columns, global seqs, ops).
fn in_range(
    ctx: &ChangesContext,
    batch: &RecordBatch,
    seq_offset: u64,
) -> Result<Option<RecordBatch>> {
    let n = batch.num_columns();
    let seqs = batch.column(n - 2).as_primitive::<UInt64Type>();
    let global: arrow::array::UInt64Array = seqs.unary(|s| s + seq_offset);
    let keep: BooleanArray = global
        .values()
        .iter()
        .map(|s| Some(*s >= ctx.lo && *s < ctx.hi))
        .collect();
    if keep.true_count() == 0 {
        return Ok(None);
    }
    let mut columns: Vec<ArrayRef> = batch.columns()[..n - 2].to_vec();
    columns.push(Arc::new(global));
    columns.push(batch.column(n - 1).clone());
    let mut fields: Vec<Field> = batch.schema().fields()[..n - 2]
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("_gseq", ArrowType::UInt64, false));
    fields.push(Field::new("_op", ArrowType::UInt8, false));
    let with_global =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).context(ArrowSnafu {
            what: "changes: global sequence numbers",
        })?;
    if keep.true_count() == keep.len() {
        return Ok(Some(with_global));
    }
    filter_record_batch(&with_global, &keep)
        .map(Some)
        .context(ArrowSnafu {
            what: "changes: rows in range",
        })
}

async fn read_split(
    ctx: &ChangesContext,
    schema: &SchemaRef,
    split: &Split,
    tx: &Sender,
) -> Result<()> {
    for section in crate::scan::merge::sections(&split.files) {
        let mut rows: Vec<RecordBatch> = Vec::new();
        for f in &section {
            let mut stream = open_file(&ctx.scan, f).await?;
            while let Some(batch) = stream.next().await {
                let Some(b) = in_range(ctx, &batch?, f.seq_offset)? else {
                    continue;
                };
                if section.len() == 1 {
                    // One file holds one row per key, already sorted: stream it.
                    if !emit(ctx, schema, &split.partition, &b, tx).await? {
                        return Ok(());
                    }
                } else {
                    rows.push(b);
                }
            }
        }
        if rows.is_empty() {
            continue;
        }
        let all = concat_batches(&rows[0].schema(), &rows).context(ArrowSnafu {
            what: "changes: gathering a section",
        })?;
        drop(rows);
        let last = last_per_key(ctx, &all)?;
        let mut offset = 0;
        while offset < last.num_rows() {
            let len = ctx.scan.batch_size.min(last.num_rows() - offset);
            if !emit(ctx, schema, &split.partition, &last.slice(offset, len), tx).await? {
                return Ok(());
            }
            offset += len;
        }
    }
    Ok(())
}

/// Sorts by (key, global seq) and keeps the last row of every key.
fn last_per_key(ctx: &ChangesContext, batch: &RecordBatch) -> Result<RecordBatch> {
    let keys: Vec<ArrayRef> = ctx
        .scan
        .key_indices
        .iter()
        .map(|k| {
            let pos = ctx.scan.read.iter().position(|r| r == k).unwrap_or(0);
            batch.column(pos).clone()
        })
        .collect();
    let rows = key_converter(&keys)?
        .convert_columns(&keys)
        .context(ArrowSnafu {
            what: "key encoding",
        })?;
    let seqs = batch
        .column(batch.num_columns() - 2)
        .as_primitive::<UInt64Type>()
        .values();
    let n = batch.num_rows();
    let mut idx: Vec<u32> = (0..n as u32).collect();
    idx.sort_unstable_by(|&a, &b| {
        rows.row(a as usize)
            .cmp(&rows.row(b as usize))
            .then(seqs[a as usize].cmp(&seqs[b as usize]))
    });
    let keep: Vec<u32> = (0..n)
        .filter(|&w| w + 1 == n || rows.row(idx[w] as usize) != rows.row(idx[w + 1] as usize))
        .map(|w| idx[w])
        .collect();
    take_record_batch(batch, &UInt32Array::from(keep)).context(ArrowSnafu {
        what: "changes: last row per key",
    })
}

/// Sends one batch of (read columns, global seq, op) as output columns; `Ok(false)` when the
/// consumer went away.
async fn emit(
    ctx: &ChangesContext,
    schema: &SchemaRef,
    partition: &PartitionSpec,
    data: &RecordBatch,
    tx: &Sender,
) -> Result<bool> {
    let n = data.num_rows();
    if n == 0 {
        return Ok(true);
    }
    let ops = data
        .column(data.num_columns() - 1)
        .as_primitive::<UInt8Type>();
    let columns: Vec<ArrayRef> = ctx
        .outputs
        .iter()
        .map(|o| match o {
            ChangeOutput::Column(Output::Data(i)) => {
                let pos = ctx.scan.read.iter().position(|r| r == i).unwrap_or(0);
                data.column(pos).clone()
            }
            ChangeOutput::Column(Output::Partition(i)) => match partition.0.get(*i) {
                Some((_, v)) => Arc::new(StringArray::from(vec![v.as_str(); n])) as ArrayRef,
                None => new_null_array(&ArrowType::Utf8, n),
            },
            ChangeOutput::Op => Arc::new(StringArray::from_iter_values(ops.values().iter().map(
                |o| {
                    if *o == OP_DELETE {
                        CHANGE_DELETE
                    } else {
                        CHANGE_UPSERT
                    }
                },
            ))) as ArrayRef,
        })
        .collect();
    let batch = RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
    )
    .context(ArrowSnafu {
        what: "assembling changes output",
    })?;
    Ok(tx.send(Ok(batch)).await.is_ok())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType as A, Field, Schema};
    use futures::TryStreamExt;
    use tidewater_format::{Column, DataType, TableProperties, TableSchema};

    use super::*;
    use crate::{SessionKind, Warehouse};

    async fn table(dir: &tempfile::TempDir) -> Table {
        let wh = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
        let schema = TableSchema::new(
            vec![
                Column::new("id", DataType::BigInt),
                Column::new("name", DataType::String),
            ],
            vec!["id".into()],
            vec![],
        )
        .unwrap();
        let props = TableProperties::from_map(&BTreeMap::from([
            ("transactional".to_string(), "true".to_string()),
            ("write.bucket.num".to_string(), "2".to_string()),
        ]))
        .unwrap();
        wh.create_table("default", "t", schema, props, false)
            .await
            .unwrap()
    }

    fn batch(rows: &[(i64, &str)]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", A::Int64, false),
                Field::new("name", A::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap()
    }

    async fn commit(t: &Table, upserts: &[(i64, &str)], deletes: &[i64]) {
        let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
        if !upserts.is_empty() {
            s.upsert(&batch(upserts)).await.unwrap();
        }
        if !deletes.is_empty() {
            let keys = RecordBatch::try_new(
                Arc::new(Schema::new(vec![Field::new("id", A::Int64, false)])),
                vec![Arc::new(Int64Array::from(deletes.to_vec()))],
            )
            .unwrap();
            s.delete(&keys).await.unwrap();
        }
        s.commit().await.unwrap();
    }

    async fn changes(t: &Table, from: u64, to: u64) -> Vec<(i64, Option<String>, String)> {
        let plan = t.changes(from, to).batch_size(2).plan().await.unwrap();
        let batches: Vec<RecordBatch> = plan.execute().try_collect().await.unwrap();
        let mut out = Vec::new();
        for b in batches {
            let ids = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
            let names = b.column(1).as_string::<i32>();
            let ops = b.column(2).as_string::<i32>();
            for r in 0..b.num_rows() {
                let name =
                    (!arrow::array::Array::is_null(names, r)).then(|| names.value(r).to_string());
                out.push((ids.value(r), name, ops.value(r).to_string()));
            }
        }
        out.sort();
        out
    }

    fn row(id: i64, name: Option<&str>, op: &str) -> (i64, Option<String>, String) {
        (id, name.map(str::to_string), op.to_string())
    }

    #[tokio::test]
    async fn changes_hold_the_last_state_of_every_key_changed_in_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&dir).await;
        commit(&t, &[(1, "a"), (2, "b")], &[]).await;
        commit(&t, &[(2, "b2"), (3, "c"), (4, "d")], &[1]).await;
        commit(&t, &[(1, "again"), (4, "d3")], &[]).await;
        commit(&t, &[], &[4]).await;

        assert_eq!(
            changes(&t, 0, 1).await,
            vec![row(1, Some("a"), "upsert"), row(2, Some("b"), "upsert")]
        );
        assert_eq!(
            changes(&t, 1, 2).await,
            vec![
                row(1, None, "delete"),
                row(2, Some("b2"), "upsert"),
                row(3, Some("c"), "upsert"),
                row(4, Some("d"), "upsert"),
            ]
        );
        // Several files per key: the newest row in the range wins.
        assert_eq!(
            changes(&t, 1, 4).await,
            vec![
                row(1, Some("again"), "upsert"),
                row(2, Some("b2"), "upsert"),
                row(3, Some("c"), "upsert"),
                row(4, None, "delete"),
            ]
        );
        assert_eq!(changes(&t, 3, 3).await, vec![]);
        assert!(t.changes(3, 1).plan().await.is_err());
        assert!(t.changes(0, 9).plan().await.is_err());
    }

    #[tokio::test]
    async fn a_projection_may_leave_out_the_operation() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&dir).await;
        commit(&t, &[(1, "a")], &[]).await;
        let plan = t.changes(0, 1).project(&["name"]).plan().await.unwrap();
        assert_eq!(plan.schema.fields().len(), 1);
        let batches: Vec<RecordBatch> = plan.execute().try_collect().await.unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        assert!(t.changes(0, 1).project(&["nope"]).plan().await.is_err());
    }
}
