//! Writing one data file: sort by primary key, keep the last operation per key, encode Parquet
//! (see [`writer_properties`]), store it durably and describe it as a [`DataFileMeta`].
//!
//! Invariants of every Delta-table data file: rows sorted by key, at most one row per key,
//! `_seq` relative to the file's `seq_offset`; `min_key`/`max_key` are its first and last keys.
//! The sort order is the Arrow row-format order, the same order the merge reader compares in.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{Int64Type, SchemaRef, UInt8Type, UInt64Type};
use arrow::row::{RowConverter, SortField};
use arrow_array::cast::AsArray;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use snafu::ResultExt;
use tidewater_format::path::data_file_relative;
use tidewater_format::schema::{OP_DELETE, SEQ_COLUMN, TableKind};
use tidewater_format::{DataFileMeta, KeyValue, PartitionSpec};

use crate::compact::MAX_LEVEL;
use crate::error::{ArrowSnafu, ParquetSnafu, Result};
use crate::util::now_ms;

/// Where a new file goes and how it is laid out.
#[derive(Debug, Clone)]
pub(crate) struct FileTarget {
    pub kind: TableKind,
    pub file_schema: SchemaRef,
    pub key_indices: Vec<usize>,
    pub partition: PartitionSpec,
    pub bucket: u32,
    pub total_buckets: u32,
    pub schema_id: u32,
}

/// Rows of a file's first batch that decide which columns get dictionary encoding.
const DICTIONARY_SAMPLE_ROWS: usize = 1024;

/// Parquet settings of a data file at LSM `level` whose first rows are `first`.
///
/// Compression: files that stay — base files (`MAX_LEVEL`) and standard-table files, which are
/// never compacted — are zstd. The short-lived files of a Delta table below the base (session
/// files at level 0, intermediate sorted runs) are LZ4_RAW, as LSM stores compress their upper
/// levels: they are written once and read back by compaction soon, and LZ4 encodes and decodes
/// several times faster than zstd for ~20 % more bytes.
///
/// Dictionary encoding only pays off for columns whose values repeat; for nearly unique values
/// (names, measurements, timestamps) the writer would hash every value into a dictionary that
/// grows to its size limit and is then abandoned — the largest single cost of encoding a file
/// besides compression. So a column is dictionary-encoded only when at most half the values of a
/// sample of the first rows are distinct. Key columns and `_seq` are unique within a Delta-table
/// file and never are.
pub(crate) fn writer_properties(
    target: &FileTarget,
    first: &RecordBatch,
    level: u32,
) -> WriterProperties {
    let compression = if target.kind == TableKind::Delta && level < MAX_LEVEL {
        Compression::LZ4_RAW
    } else {
        Compression::ZSTD(ZstdLevel::default())
    };
    let mut b = WriterProperties::builder()
        .set_compression(compression)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_row_count_limit(8192)
        .set_max_row_group_row_count(Some(1 << 20));
    let sample = first.slice(0, first.num_rows().min(DICTIONARY_SAMPLE_ROWS));
    for (i, field) in target.file_schema.fields().iter().enumerate() {
        let unique = target.kind == TableKind::Delta
            && (target.key_indices.contains(&i) || field.name() == SEQ_COLUMN);
        let dictionary = !unique && sample.columns().get(i).is_some_and(values_repeat);
        if !dictionary {
            b = b.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    b.build()
}

/// At most half of the (non-null) values are distinct. Types the row format cannot encode keep
/// the Parquet default (dictionary on).
fn values_repeat(column: &ArrayRef) -> bool {
    let values = column.len() - column.null_count();
    if values < 2 {
        return true;
    }
    let Ok(conv) = RowConverter::new(vec![SortField::new(column.data_type().clone())]) else {
        return true;
    };
    let Ok(rows) = conv.convert_columns(std::slice::from_ref(column)) else {
        return true;
    };
    let mut distinct = std::collections::HashSet::with_capacity(values);
    for (i, row) in rows.iter().enumerate() {
        if column.is_valid(i) && distinct.insert(row) && distinct.len() * 2 > values {
            return false;
        }
    }
    true
}

/// Sorts rows by (key, `_seq`) and keeps the last row of every key.
pub(crate) fn sort_dedup(batch: &RecordBatch, key_indices: &[usize]) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let seq_idx = batch.num_columns() - 2;
    let seqs = batch.column(seq_idx).as_primitive::<UInt64Type>().values();
    let mut idx: Vec<u32> = (0..n as u32).collect();
    let mut keep: Vec<u32> = Vec::with_capacity(n);
    let single_i64 = match key_indices {
        [k] => batch.column(*k).as_primitive_opt::<Int64Type>(),
        _ => None,
    };
    if let Some(keys) = single_i64 {
        let keys = keys.values();
        idx.sort_unstable_by_key(|&i| (keys[i as usize], seqs[i as usize]));
        for w in 0..n {
            if w + 1 == n || keys[idx[w] as usize] != keys[idx[w + 1] as usize] {
                keep.push(idx[w]);
            }
        }
    } else {
        let cols: Vec<ArrayRef> = key_indices
            .iter()
            .map(|i| batch.column(*i).clone())
            .collect();
        let converter = RowConverter::new(
            cols.iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect(),
        )
        .context(ArrowSnafu {
            what: "key encoding",
        })?;
        let rows = converter.convert_columns(&cols).context(ArrowSnafu {
            what: "key encoding",
        })?;
        idx.sort_unstable_by(|&a, &b| {
            rows.row(a as usize)
                .cmp(&rows.row(b as usize))
                .then(seqs[a as usize].cmp(&seqs[b as usize]))
        });
        for w in 0..n {
            if w + 1 == n || rows.row(idx[w] as usize) != rows.row(idx[w + 1] as usize) {
                keep.push(idx[w]);
            }
        }
    }
    if keep.len() == n && keep.iter().enumerate().all(|(i, &k)| i as u32 == k) {
        return Ok(batch.clone());
    }
    take_record_batch(batch, &UInt32Array::from(keep)).context(ArrowSnafu { what: "sort" })
}

/// Encodes rows (already in the file schema) into a Parquet file and describes it. CPU-bound:
/// call from a blocking thread. Returns the table-relative path, the bytes and the metadata.
pub(crate) fn encode_file(
    target: &FileTarget,
    batches: &[RecordBatch],
) -> Result<(DataFileMeta, bytes::Bytes)> {
    let batch = concat_batches(&target.file_schema, batches).context(ArrowSnafu {
        what: "concatenating buffered rows",
    })?;
    let batch = match target.kind {
        TableKind::Delta => sort_dedup(&batch, &target.key_indices)?,
        TableKind::Standard => batch,
    };
    let file_id = uuid::Uuid::new_v4().to_string();
    let path = data_file_relative(&target.partition.dir(), target.bucket, &file_id);
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 3 + 1024);
    let mut writer = ArrowWriter::try_new(
        &mut buf,
        batch.schema(),
        Some(writer_properties(target, &batch, 0)),
    )
    .context(ParquetSnafu {
        op: "encode",
        path: &path,
    })?;
    writer.write(&batch).context(ParquetSnafu {
        op: "encode",
        path: &path,
    })?;
    writer.close().context(ParquetSnafu {
        op: "encode",
        path: &path,
    })?;
    let mut stats = FileStats::default();
    stats.add(target, &batch);
    let meta = stats.into_meta(target, path, 0, buf.len() as u64);
    Ok((meta, bytes::Bytes::from(buf)))
}

/// What a data file's metadata records about its rows, gathered batch by batch (rows arrive
/// sorted by key).
#[derive(Default)]
struct FileStats {
    rows: u64,
    deletes: u64,
    min_key: Vec<KeyValue>,
    max_key: Vec<KeyValue>,
    min_seq: Option<u64>,
    max_seq: u64,
}

impl FileStats {
    fn add(&mut self, target: &FileTarget, batch: &RecordBatch) {
        let n = batch.num_rows();
        if n == 0 {
            return;
        }
        self.rows += n as u64;
        if target.kind != TableKind::Delta {
            return;
        }
        let key_cols: Vec<&dyn Array> = target
            .key_indices
            .iter()
            .map(|i| batch.column(*i).as_ref())
            .collect();
        if self.min_seq.is_none() {
            self.min_key = KeyValue::key_of_row(&key_cols, 0).unwrap_or_default();
        }
        self.max_key = KeyValue::key_of_row(&key_cols, n - 1).unwrap_or_default();
        let seqs = batch
            .column(batch.num_columns() - 2)
            .as_primitive::<UInt64Type>();
        let lo = arrow::compute::min(seqs).unwrap_or(0);
        self.min_seq = Some(self.min_seq.map_or(lo, |m| m.min(lo)));
        self.max_seq = self.max_seq.max(arrow::compute::max(seqs).unwrap_or(0));
        let ops = batch
            .column(batch.num_columns() - 1)
            .as_primitive::<UInt8Type>();
        self.deletes += ops.values().iter().filter(|o| **o == OP_DELETE).count() as u64;
    }

    fn into_meta(self, target: &FileTarget, path: String, level: u32, size: u64) -> DataFileMeta {
        DataFileMeta {
            path,
            partition: target.partition.clone(),
            bucket: target.bucket,
            total_buckets: target.total_buckets,
            level,
            row_count: self.rows,
            delete_count: self.deletes,
            min_key: self.min_key,
            max_key: self.max_key,
            seq_offset: 0,
            min_seq: self.min_seq.unwrap_or(0),
            max_seq: self.max_seq,
            size_bytes: size,
            schema_id: target.schema_id,
            created_ms: now_ms(),
        }
    }
}

/// Writes a key-ordered stream of rows (file schema, one row per key, global `_seq`) into files
/// of about `target_size` bytes at one LSM level: compaction output. CPU-bound: use from a
/// blocking thread.
pub(crate) struct RollingWriter {
    target: SharedTarget,
    level: u32,
    target_size: u64,
    open: Option<(String, ArrowWriter<Vec<u8>>, FileStats)>,
}

impl RollingWriter {
    pub(crate) fn new(target: SharedTarget, level: u32, target_size: u64) -> Self {
        RollingWriter {
            target,
            level,
            target_size,
            open: None,
        }
    }

    /// Adds rows; returns a finished file when the current one reached the target size.
    pub(crate) fn write(
        &mut self,
        batch: &RecordBatch,
    ) -> Result<Option<(DataFileMeta, bytes::Bytes)>> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        let (path, writer, stats) = match &mut self.open {
            Some(o) => o,
            None => {
                let t = &self.target;
                let file_id = uuid::Uuid::new_v4().to_string();
                let path = data_file_relative(&t.partition.dir(), t.bucket, &file_id);
                let writer = ArrowWriter::try_new(
                    Vec::new(),
                    t.file_schema.clone(),
                    Some(writer_properties(t, batch, self.level)),
                )
                .context(ParquetSnafu {
                    op: "encode",
                    path: &path,
                })?;
                self.open.insert((path, writer, FileStats::default()))
            }
        };
        let batch = batch
            .clone()
            .with_schema(self.target.file_schema.clone())
            .context(ArrowSnafu {
                what: "compaction output schema",
            })?;
        writer.write(&batch).context(ParquetSnafu {
            op: "encode",
            path: path.as_str(),
        })?;
        stats.add(&self.target, &batch);
        if (writer.bytes_written() + writer.in_progress_size()) as u64 >= self.target_size {
            return self.finish();
        }
        Ok(None)
    }

    /// Closes the current file, if any.
    pub(crate) fn finish(&mut self) -> Result<Option<(DataFileMeta, bytes::Bytes)>> {
        let Some((path, writer, stats)) = self.open.take() else {
            return Ok(None);
        };
        let buf = writer.into_inner().context(ParquetSnafu {
            op: "encode",
            path: &path,
        })?;
        let meta = stats.into_meta(&self.target, path, self.level, buf.len() as u64);
        Ok(Some((meta, bytes::Bytes::from(buf))))
    }
}

/// Shared so blocking encode tasks can own it.
pub(crate) type SharedTarget = Arc<FileTarget>;

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray, UInt8Array, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use tidewater_format::schema::OP_COLUMN;

    use super::*;

    /// A Delta-table target with a key, a unique name and a repeating country column, and
    /// `n` rows of it.
    fn sample(n: i64) -> (FileTarget, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("country", DataType::Utf8, true),
            Field::new(SEQ_COLUMN, DataType::UInt64, false),
            Field::new(OP_COLUMN, DataType::UInt8, false),
        ]));
        let countries = ["de", "fr", "jp", "us"];
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("name-{:016x}", i * 7919)),
                )),
                Arc::new(StringArray::from_iter(
                    (0..n).map(|i| (i % 5 != 0).then(|| countries[i as usize % 4])),
                )),
                Arc::new(UInt64Array::from_iter_values(0..n as u64)),
                Arc::new(UInt8Array::from(vec![0u8; n as usize])),
            ],
        )
        .unwrap();
        let target = FileTarget {
            kind: TableKind::Delta,
            file_schema: schema,
            key_indices: vec![0],
            partition: PartitionSpec::default(),
            bucket: 0,
            total_buckets: 1,
            schema_id: 0,
        };
        (target, batch)
    }

    #[test]
    fn only_columns_whose_values_repeat_are_dictionary_encoded() {
        let n = 5000;
        let (target, batch) = sample(n);
        let (meta, bytes) = encode_file(&target, &[batch]).unwrap();
        assert_eq!(meta.row_count, n as u64);
        let reader = SerializedFileReader::new(bytes).unwrap();
        let row_group = reader.metadata().row_group(0);
        let dictionary: Vec<(&str, bool)> = row_group
            .columns()
            .iter()
            .map(|c| {
                let name = c.column_descr().name();
                (name, c.dictionary_page_offset().is_some())
            })
            .collect();
        assert_eq!(
            dictionary,
            vec![
                ("id", false),
                ("name", false),
                ("country", true),
                (SEQ_COLUMN, false),
                (OP_COLUMN, true),
            ]
        );
    }

    /// Session files and intermediate runs of a Delta table are LZ4; base files and
    /// standard-table files zstd.
    #[test]
    fn files_below_the_base_are_lz4_and_files_that_stay_zstd() {
        let codec = |bytes: bytes::Bytes| {
            let reader = SerializedFileReader::new(bytes).unwrap();
            let codecs: Vec<Compression> = reader
                .metadata()
                .row_group(0)
                .columns()
                .iter()
                .map(|c| c.compression())
                .collect();
            assert!(codecs.windows(2).all(|w| w[0] == w[1]), "{codecs:?}");
            codecs[0]
        };
        let (target, batch) = sample(100);
        let (_, session_file) = encode_file(&target, std::slice::from_ref(&batch)).unwrap();
        assert_eq!(codec(session_file), Compression::LZ4_RAW);
        let target = Arc::new(target);
        for (level, expected) in [
            (1, Compression::LZ4_RAW),
            (MAX_LEVEL - 1, Compression::LZ4_RAW),
            (MAX_LEVEL, Compression::ZSTD(ZstdLevel::default())),
        ] {
            let mut writer = RollingWriter::new(target.clone(), level, u64::MAX);
            assert!(writer.write(&batch).unwrap().is_none());
            let (meta, bytes) = writer.finish().unwrap().unwrap();
            assert_eq!((meta.level, codec(bytes)), (level, expected));
        }
        let standard = FileTarget {
            kind: TableKind::Standard,
            key_indices: vec![],
            ..(*target).clone()
        };
        let (_, standard_file) = encode_file(&standard, &[batch]).unwrap();
        assert_eq!(
            codec(standard_file),
            Compression::ZSTD(ZstdLevel::default())
        );
    }
}
