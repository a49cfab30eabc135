//! Scans: merge-on-read over one pinned snapshot (DESIGN §6).
//!
//! Planning pins a snapshot, lists its live files, prunes partitions (partition filter), buckets
//! and files (primary-key equality), and groups the rest into one [`Split`] per (partition,
//! bucket). Executing a split of a Delta table cuts its files into *sections* of transitively
//! overlapping key ranges; a section of one file is read straight through (deletes dropped; a
//! file without deletes is read without `_seq`/`_op`), a
//! section of several files is k-way merged by key ([`merge`]): for each key the row with the
//! highest sequence number wins and a winning delete removes the key. Sections are disjoint and
//! ordered, so a split's output is sorted by key. Standard tables are read file by file.
//!
//! Projection is pushed into the Parquet readers (key, `_seq` and `_op` are always read for
//! Delta tables). Splits run as tasks, a few at a time; each yields batches through a small
//! channel, so memory stays bounded by batch size × files per section.

mod lookup;
pub mod merge;
mod reader;

pub(crate) use reader::FooterCache;

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::row::{OwnedRow, RowConverter, SortField};
use futures::StreamExt;
use futures::stream::BoxStream;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::RowSelection;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use snafu::ResultExt;
use tidewater_format::hash::bucket_columns;
use tidewater_format::schema::TableKind;
use tidewater_format::{DataFileMeta, KeyValue, PartitionSpec, Snapshot};

use crate::error::{
    ArrowSnafu, HashSnafu, InvalidInputSnafu, ParquetSnafu, Result, UnknownColumnSnafu,
};
use crate::store::Storage;
use crate::table::Table;

pub const DEFAULT_BATCH_SIZE: usize = 8192;
/// Splits executed at once by [`ScanPlan::execute`].
pub const SCAN_CONCURRENCY: usize = 4;

/// A stream of result batches.
pub type RecordBatchStream = BoxStream<'static, Result<RecordBatch>>;

/// Which partitions a scan reads.
pub type PartitionFilter = Arc<dyn Fn(&PartitionSpec) -> bool + Send + Sync>;

enum Pin {
    Latest,
    Id(u64),
    AtMs(i64),
    Given(Arc<Snapshot>),
}

/// Builds a scan: `table.scan().project(&["id"]).partition_eq("dd", "01").collect().await`.
pub struct ScanBuilder {
    table: Table,
    pin: Pin,
    projection: Option<Vec<String>>,
    partition_eq: Vec<(String, String)>,
    partition_filter: Option<PartitionFilter>,
    key: Option<Vec<KeyValue>>,
    batch_size: usize,
}

impl ScanBuilder {
    /// Reads snapshot `id` (time travel by version).
    pub fn snapshot_id(mut self, id: u64) -> Self {
        self.pin = Pin::Id(id);
        self
    }

    /// Reads the newest snapshot committed at or before `ms` (time travel by timestamp).
    pub fn as_of_ms(mut self, ms: i64) -> Self {
        self.pin = Pin::AtMs(ms);
        self
    }

    /// Reads a snapshot already pinned by the caller.
    pub fn snapshot(mut self, s: Arc<Snapshot>) -> Self {
        self.pin = Pin::Given(s);
        self
    }

    /// Only these columns (data or partition columns), in this order.
    pub fn project<S: AsRef<str>>(mut self, columns: &[S]) -> Self {
        self.projection = Some(columns.iter().map(|c| c.as_ref().to_string()).collect());
        self
    }

    /// Only partitions whose `column` equals `value`.
    pub fn partition_eq(mut self, column: &str, value: &str) -> Self {
        self.partition_eq
            .push((column.to_string(), value.to_string()));
        self
    }

    /// Only partitions accepted by `f`.
    pub fn partition_filter(mut self, f: PartitionFilter) -> Self {
        self.partition_filter = Some(f);
        self
    }

    /// Only the row whose primary key equals `key` (bucket and file pruning).
    pub fn key_eq(mut self, key: Vec<KeyValue>) -> Self {
        self.key = Some(key);
        self
    }

    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    pub async fn plan(self) -> Result<ScanPlan> {
        let table = self.table;
        let schema = table.schema();
        let snapshot = match self.pin {
            Pin::Latest => table.latest_snapshot().await?,
            Pin::Id(id) => Some(table.snapshot(id).await?),
            Pin::AtMs(ms) => Some(table.snapshot_at(ms).await?),
            Pin::Given(s) => Some(s),
        };
        let user_schema = table.schema().arrow_schema();
        let names: Vec<String> = match &self.projection {
            Some(p) => p.clone(),
            None => user_schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        };
        let mut outputs = Vec::with_capacity(names.len());
        let mut fields = Vec::with_capacity(names.len());
        for n in &names {
            if let Some(i) = schema.column_index(n) {
                outputs.push(Output::Data(i));
                fields.push(user_schema.field(i).clone());
            } else if let Some(i) = schema.partition_index(n) {
                outputs.push(Output::Partition(i));
                fields.push(user_schema.field(schema.columns.len() + i).clone());
            } else {
                return UnknownColumnSnafu {
                    table: table.full_name(),
                    column: n.clone(),
                }
                .fail();
            }
        }
        for (c, _) in &self.partition_eq {
            if schema.partition_index(c).is_none() {
                return InvalidInputSnafu {
                    reason: format!("'{c}' is not a partition column of '{}'", table.full_name()),
                }
                .fail();
            }
        }
        let kind = table.kind();
        let key_indices = schema.key_indices();
        // Data columns to read: the projected ones, plus the key for Delta tables.
        let mut read: Vec<usize> = outputs
            .iter()
            .filter_map(|o| match o {
                Output::Data(i) => Some(*i),
                Output::Partition(_) => None,
            })
            .collect();
        if kind == TableKind::Delta {
            read.extend(key_indices.iter().copied());
        }
        read.sort_unstable();
        read.dedup();

        let mut probe = None;
        let mut key_bucket = None;
        if let Some(key) = &self.key {
            if kind != TableKind::Delta || key.len() != key_indices.len() {
                return InvalidInputSnafu {
                    reason: format!(
                        "a key lookup needs a Delta table and one value per primary-key column ({})",
                        schema.primary_key.join(", ")
                    ),
                }
                .fail();
            }
            let arrays: Vec<ArrayRef> = key_indices
                .iter()
                .zip(key)
                .map(|(i, v)| key_array(&schema.columns[*i].data_type.to_arrow(), v))
                .collect::<Result<_>>()?;
            let refs: Vec<&dyn arrow::array::Array> = arrays.iter().map(|a| a.as_ref()).collect();
            key_bucket = Some(bucket_columns(&refs, table.bucket_num()).context(HashSnafu)?[0]);
            let conv = key_converter(&arrays)?;
            let rows = conv.convert_columns(&arrays).context(ArrowSnafu {
                what: "key encoding",
            })?;
            probe = Some(rows.row(0).owned());
        }

        let mut splits: Vec<Split> = Vec::new();
        if let Some(s) = &snapshot {
            let mut files = table.files(s).await?;
            files.retain(|f| {
                let part_ok = self.partition_eq.iter().all(|(c, v)| {
                    f.partition
                        .0
                        .iter()
                        .any(|(k, pv)| k.eq_ignore_ascii_case(c) && pv == v)
                });
                let filter_ok = self
                    .partition_filter
                    .as_ref()
                    .is_none_or(|p| p(&f.partition));
                let key_ok = match (&self.key, key_bucket) {
                    (Some(k), Some(b)) => f.bucket == b && &f.min_key <= k && k <= &f.max_key,
                    _ => true,
                };
                part_ok && filter_ok && key_ok
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
        let file_schema = schema.file_arrow_schema(kind);
        let pin = snapshot.as_ref().map(|s| table.pin(s.id));
        Ok(ScanPlan {
            snapshot,
            schema: Arc::new(Schema::new(fields)),
            splits,
            ctx: Arc::new(ScanContext {
                storage: table.storage().clone(),
                table: table.clone(),
                kind,
                file_schema,
                read,
                key_indices,
                outputs,
                probe,
                batch_size: self.batch_size,
                versions: Versions::Latest,
                _pin: pin,
            }),
        })
    }

    /// Plans and runs the scan.
    pub async fn execute(self) -> Result<RecordBatchStream> {
        Ok(self.plan().await?.execute())
    }

    /// Plans and runs the scan, collecting every batch.
    pub async fn collect(self) -> Result<Vec<RecordBatch>> {
        let mut stream = self.execute().await?;
        let mut out = Vec::new();
        while let Some(b) = stream.next().await {
            out.push(b?);
        }
        Ok(out)
    }
}

fn key_array(t: &arrow::datatypes::DataType, v: &KeyValue) -> Result<ArrayRef> {
    use arrow::array::*;
    let a: ArrayRef = match v {
        KeyValue::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
        KeyValue::Int(i) => Arc::new(Int64Array::from(vec![*i])),
        KeyValue::Float(f) => Arc::new(Float64Array::from(vec![f.0])),
        KeyValue::Decimal(d) => Arc::new(Decimal128Array::from(vec![*d])),
        KeyValue::Str(s) => Arc::new(StringArray::from(vec![s.as_str()])),
        KeyValue::Bytes(b) => Arc::new(BinaryArray::from_vec(vec![b.as_slice()])),
    };
    arrow::compute::cast(&a, t).context(ArrowSnafu {
        what: format!("key value {v} as {t}"),
    })
}

pub(crate) fn key_converter(keys: &[ArrayRef]) -> Result<RowConverter> {
    RowConverter::new(
        keys.iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )
    .context(ArrowSnafu {
        what: "key encoding",
    })
}

impl Table {
    /// Starts building a scan of the latest snapshot.
    pub fn scan(&self) -> ScanBuilder {
        ScanBuilder {
            table: self.clone(),
            pin: Pin::Latest,
            projection: None,
            partition_eq: Vec::new(),
            partition_filter: None,
            key: None,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Output {
    Data(usize),
    Partition(usize),
}

/// Which rows a Delta-table read yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Versions {
    /// The current row of every live key (queries).
    Latest,
    /// The newest version of every key with its global `_seq` and `_op` appended (compaction);
    /// delete rows are kept unless `drop_deletes`.
    Newest { drop_deletes: bool },
}

impl Versions {
    pub(crate) fn keeps_deletes(self) -> bool {
        matches!(
            self,
            Versions::Newest {
                drop_deletes: false
            }
        )
    }
}

/// Everything a split needs to run, shared by all splits of a plan.
pub(crate) struct ScanContext {
    pub storage: Storage,
    pub table: Table,
    pub kind: TableKind,
    pub file_schema: SchemaRef,
    /// Data-column indices read from files, ascending.
    pub read: Vec<usize>,
    pub key_indices: Vec<usize>,
    pub outputs: Vec<Output>,
    pub probe: Option<OwnedRow>,
    pub batch_size: usize,
    pub versions: Versions,
    /// Keeps the snapshot read (and its files) from expiring while the read runs.
    pub _pin: Option<crate::retention::SnapshotPin>,
}

/// The files of one (partition, bucket): the unit of parallelism.
#[derive(Debug, Clone)]
pub struct Split {
    pub partition: PartitionSpec,
    pub bucket: u32,
    pub files: Vec<DataFileMeta>,
}

/// A planned scan over one pinned snapshot.
pub struct ScanPlan {
    /// `None` when the table has no snapshot yet (the scan is empty).
    pub snapshot: Option<Arc<Snapshot>>,
    /// Schema of the output batches.
    pub schema: SchemaRef,
    pub splits: Vec<Split>,
    ctx: Arc<ScanContext>,
}

impl ScanPlan {
    /// Runs every split, [`SCAN_CONCURRENCY`] at a time.
    pub fn execute(&self) -> RecordBatchStream {
        let ctx = self.ctx.clone();
        let schema = self.schema.clone();
        futures::stream::iter(self.splits.clone())
            .map(move |s| run_split(ctx.clone(), schema.clone(), s))
            .flatten_unordered(SCAN_CONCURRENCY)
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

fn run_split(ctx: Arc<ScanContext>, schema: SchemaRef, split: Split) -> RecordBatchStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
    tokio::spawn(async move {
        let out = Emitter {
            tx: tx.clone(),
            schema: Some(schema),
            ctx: ctx.clone(),
            partition: split.partition.clone(),
        };
        if let Err(e) = merge::read_split(&ctx, &split, &out).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) }).boxed()
}

/// Turns merged data batches (the `read` columns) into output batches and sends them.
pub(crate) struct Emitter {
    tx: tokio::sync::mpsc::Sender<Result<RecordBatch>>,
    /// `None`: batches are sent as merged (compaction).
    schema: Option<SchemaRef>,
    ctx: Arc<ScanContext>,
    partition: PartitionSpec,
}

impl Emitter {
    /// An emitter that sends merged batches unchanged.
    pub(crate) fn raw(
        tx: tokio::sync::mpsc::Sender<Result<RecordBatch>>,
        ctx: Arc<ScanContext>,
        partition: PartitionSpec,
    ) -> Self {
        Emitter {
            tx,
            schema: None,
            ctx,
            partition,
        }
    }

    /// Sends one batch of `read` columns; `Ok(false)` when the consumer went away.
    pub(crate) async fn send(&self, data: &RecordBatch) -> Result<bool> {
        let n = data.num_rows();
        if n == 0 {
            return Ok(true);
        }
        let Some(schema) = &self.schema else {
            return Ok(self.tx.send(Ok(data.clone())).await.is_ok());
        };
        let columns: Vec<ArrayRef> = self
            .ctx
            .outputs
            .iter()
            .map(|o| match o {
                Output::Data(i) => {
                    let pos = self.ctx.read.iter().position(|r| r == i).unwrap_or(0);
                    data.column(pos).clone()
                }
                Output::Partition(i) => match self.partition.0.get(*i) {
                    Some((_, v)) => Arc::new(StringArray::from(vec![v.as_str(); n])) as ArrayRef,
                    None => new_null_array(&arrow::datatypes::DataType::Utf8, n),
                },
            })
            .collect();
        let batch = RecordBatch::try_new_with_options(
            schema.clone(),
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .context(ArrowSnafu {
            what: "assembling scan output",
        })?;
        Ok(self.tx.send(Ok(batch)).await.is_ok())
    }
}

/// Opens a stream over one data file, reading the `read` data columns (and, for Delta tables,
/// `_seq` and `_op`).
pub(crate) async fn open_file(
    ctx: &ScanContext,
    file: &DataFileMeta,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let mut roots = ctx.read.clone();
    if ctx.kind == TableKind::Delta {
        let ncols = ctx.file_schema.fields().len();
        roots.push(ncols - 2);
        roots.push(ncols - 1);
    }
    open_file_with(ctx, file, roots, None).await
}

/// Opens a stream over the given top-level file columns (`roots`, ascending) of a data file,
/// optionally only the selected rows.
pub(crate) async fn open_file_with(
    ctx: &ScanContext,
    file: &DataFileMeta,
    roots: Vec<usize>,
    selection: Option<RowSelection>,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let path = ctx.table.paths().data_file(&file.path);
    let reader = reader::DataFileReader {
        store: ctx.storage.object_store().clone(),
        path: object_store::path::Path::from(path.as_str()),
        size: file.size_bytes,
        footers: ctx.table.footers(),
    };
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .context(ParquetSnafu {
            op: "open",
            path: &path,
        })?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let mut builder = builder
        .with_projection(mask)
        .with_batch_size(ctx.batch_size);
    if let Some(selection) = selection {
        builder = builder.with_row_selection(selection);
    }
    let stream = builder.build().context(ParquetSnafu {
        op: "read",
        path: &path,
    })?;
    Ok(stream
        .map(move |r| {
            r.context(ParquetSnafu {
                op: "read",
                path: path.clone(),
            })
        })
        .boxed())
}
