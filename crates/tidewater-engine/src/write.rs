//! Writing one data file: sort by primary key, keep the last operation per key, encode Parquet
//! (zstd, page statistics), store it durably and describe it as a [`DataFileMeta`].
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

/// Parquet settings of data files. Key columns and `_seq` are unique within a file, so
/// dictionary encoding could never pay off for them and is not attempted.
pub(crate) fn writer_properties(target: &FileTarget) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_row_count_limit(8192)
        .set_max_row_group_row_count(Some(1 << 20));
    if target.kind == TableKind::Delta {
        for i in &target.key_indices {
            let name = target.file_schema.field(*i).name();
            b = b.set_column_dictionary_enabled(ColumnPath::from(name.as_str()), false);
        }
        b = b.set_column_dictionary_enabled(ColumnPath::from(SEQ_COLUMN), false);
    }
    b.build()
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
    let mut writer =
        ArrowWriter::try_new(&mut buf, batch.schema(), Some(writer_properties(target))).context(
            ParquetSnafu {
                op: "encode",
                path: &path,
            },
        )?;
    writer.write(&batch).context(ParquetSnafu {
        op: "encode",
        path: &path,
    })?;
    writer.close().context(ParquetSnafu {
        op: "encode",
        path: &path,
    })?;
    let n = batch.num_rows();
    let (mut min_key, mut max_key, mut delete_count, mut min_seq, mut max_seq) =
        (Vec::new(), Vec::new(), 0, 0, 0);
    if target.kind == TableKind::Delta && n > 0 {
        let key_cols: Vec<&dyn Array> = target
            .key_indices
            .iter()
            .map(|i| batch.column(*i).as_ref())
            .collect();
        min_key = KeyValue::key_of_row(&key_cols, 0).unwrap_or_default();
        max_key = KeyValue::key_of_row(&key_cols, n - 1).unwrap_or_default();
        let seqs = batch
            .column(batch.num_columns() - 2)
            .as_primitive::<UInt64Type>();
        min_seq = arrow::compute::min(seqs).unwrap_or(0);
        max_seq = arrow::compute::max(seqs).unwrap_or(0);
        let ops = batch
            .column(batch.num_columns() - 1)
            .as_primitive::<UInt8Type>();
        delete_count = ops.values().iter().filter(|o| **o == OP_DELETE).count() as u64;
    }
    let meta = DataFileMeta {
        path,
        partition: target.partition.clone(),
        bucket: target.bucket,
        total_buckets: target.total_buckets,
        level: 0,
        row_count: n as u64,
        delete_count,
        min_key,
        max_key,
        seq_offset: 0,
        min_seq,
        max_seq,
        size_bytes: buf.len() as u64,
        schema_id: target.schema_id,
        created_ms: now_ms(),
    };
    Ok((meta, bytes::Bytes::from(buf)))
}

/// Shared so blocking encode tasks can own it.
pub(crate) type SharedTarget = Arc<FileTarget>;
