//! Client-side routing: which bucket each row belongs to, and the per-bucket buffers.
//!
//! The bucket of a row is the frozen MaxCompute hash ([`tidewater_format::hash::bucket_columns`])
//! of the session's hash key columns, in the order `SessionInfo.hash.key_columns` gives, modulo
//! the bucket count — computed on the conformed block columns, i.e. exactly the arrays the
//! server re-hashes. Sessions without hash key columns (standard tables) send everything to
//! bucket 0.
//!
//! Invariants: [`split_by_bucket`] keeps the relative order of the rows of each bucket (so a
//! later write of a key stays later); a [`BucketBuffers`] holds batches per bucket in write
//! order and its byte count is the sum of the held batches' Arrow memory sizes.

use std::collections::BTreeMap;

use arrow::array::{Array, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use tidewater_format::hash::bucket_columns;

use crate::error::{Result, RoutingSnafu};
use crate::session::layout::Layout;

/// Splits `batch` (block schema) into one batch per bucket, ascending by bucket, each keeping
/// its rows' order.
pub(crate) fn split_by_bucket(
    layout: &Layout,
    batch: &RecordBatch,
) -> Result<Vec<(u32, RecordBatch)>> {
    if batch.num_rows() == 0 {
        return Ok(Vec::new());
    }
    if layout.hash_positions.is_empty() || layout.bucket_num == 1 {
        return Ok(vec![(0, batch.clone())]);
    }
    let keys: Vec<&dyn Array> = layout
        .hash_positions
        .iter()
        .map(|p| batch.column(*p).as_ref())
        .collect();
    let buckets = bucket_columns(&keys, layout.bucket_num).map_err(|e| {
        RoutingSnafu {
            table: &layout.table,
            reason: e.to_string(),
        }
        .build()
    })?;
    let first = buckets[0];
    if buckets.iter().all(|b| *b == first) {
        return Ok(vec![(first, batch.clone())]);
    }
    let mut rows: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (row, bucket) in buckets.iter().enumerate() {
        // Row indices fit u32: Arrow arrays are indexed by i32 offsets.
        rows.entry(*bucket).or_default().push(row as u32);
    }
    rows.into_iter()
        .map(|(bucket, indices)| {
            let indices = UInt32Array::from(indices);
            take_record_batch(batch, &indices)
                .map(|b| (bucket, b))
                .map_err(|e| {
                    RoutingSnafu {
                        table: &layout.table,
                        reason: e.to_string(),
                    }
                    .build()
                })
        })
        .collect()
}

/// Rows waiting to be sent, per bucket.
#[derive(Debug, Default)]
pub(crate) struct BucketBuffer {
    pub batches: Vec<RecordBatch>,
    pub bytes: usize,
}

/// The buffers of every bucket and their total size.
#[derive(Debug)]
pub(crate) struct BucketBuffers {
    buckets: Vec<BucketBuffer>,
    total_bytes: usize,
}

impl BucketBuffers {
    pub fn new(bucket_num: u32) -> Self {
        BucketBuffers {
            buckets: (0..bucket_num).map(|_| BucketBuffer::default()).collect(),
            total_bytes: 0,
        }
    }

    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    /// Adds a batch to `bucket`; returns the bucket's buffered bytes.
    pub fn push(&mut self, bucket: u32, batch: RecordBatch) -> usize {
        let bytes = batch.get_array_memory_size();
        let Some(buffer) = self.buckets.get_mut(bucket as usize) else {
            // bucket_columns returns buckets < bucket_num; nothing else calls this.
            return 0;
        };
        buffer.batches.push(batch);
        buffer.bytes += bytes;
        self.total_bytes += bytes;
        buffer.bytes
    }

    /// Removes and returns everything buffered for `bucket`.
    pub fn take(&mut self, bucket: u32) -> Vec<RecordBatch> {
        match self.buckets.get_mut(bucket as usize) {
            Some(buffer) => {
                self.total_bytes -= buffer.bytes;
                buffer.bytes = 0;
                std::mem::take(&mut buffer.batches)
            }
            None => Vec::new(),
        }
    }

    /// The bucket holding the most bytes, if any holds some.
    pub fn largest(&self) -> Option<u32> {
        self.buckets
            .iter()
            .enumerate()
            .filter(|(_, b)| b.bytes > 0)
            .max_by_key(|(_, b)| b.bytes)
            .map(|(i, _)| i as u32)
    }

    /// Buckets holding rows, ascending.
    pub fn non_empty(&self) -> Vec<u32> {
        self.buckets
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.batches.is_empty())
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Drops everything buffered.
    pub fn clear(&mut self) {
        for b in &mut self.buckets {
            *b = BucketBuffer::default();
        }
        self.total_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::layout::RowOp;
    use crate::session::layout::tests::info;
    use arrow::array::{ArrayRef, Int32Array, Int64Array, cast::AsArray};
    use arrow::datatypes::Int64Type;
    use std::sync::Arc;
    use tidewater_format::api::SessionKind;

    fn batch(ids: &[i64]) -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
            (
                "name",
                Arc::new(arrow::array::StringArray::from(vec!["n"; ids.len()])),
            ),
            (
                "age",
                Arc::new(Int32Array::from((0..ids.len() as i32).collect::<Vec<_>>())),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn rows_land_in_the_bucket_the_frozen_hash_says_in_order() {
        let layout = Layout::new(&info(SessionKind::Upsert, false, 8)).unwrap();
        let ids: Vec<i64> = (0..200).map(|i| i % 50).collect();
        let b = layout.conform(&batch(&ids), RowOp::Upsert).unwrap();
        let parts = split_by_bucket(&layout, &b).unwrap();
        assert!(parts.len() > 1);
        assert!(parts.windows(2).all(|w| w[0].0 < w[1].0));
        let mut total = 0;
        for (bucket, part) in &parts {
            let keys = part.column(0).as_primitive::<Int64Type>();
            let expected = bucket_columns(&[keys as &dyn Array], 8).unwrap();
            assert!(expected.iter().all(|e| e == bucket), "bucket {bucket}");
            // Order kept: `age` is the input row number, increasing within each bucket.
            let rows = part.column(2).as_primitive::<arrow::datatypes::Int32Type>();
            assert!(rows.values().windows(2).all(|w| w[0] < w[1]));
            total += part.num_rows();
        }
        assert_eq!(total, 200);
        // The golden MaxCompute vector: BIGINT 1 hashes to 357654460.
        assert_eq!(tidewater_format::hash::hash_i64(1), 357654460);
    }

    #[test]
    fn standard_tables_route_everything_to_bucket_zero() {
        let layout = Layout::new(&info(SessionKind::Insert, false, 1)).unwrap();
        let b = layout.conform(&batch(&[1, 2, 3]), RowOp::Insert).unwrap();
        let parts = split_by_bucket(&layout, &b).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].0, 0);
        assert_eq!(parts[0].1.num_rows(), 3);
    }

    #[test]
    fn buffers_count_bytes_and_find_the_largest() {
        let mut buffers = BucketBuffers::new(4);
        assert_eq!(buffers.largest(), None);
        let small = batch(&[1]);
        let big = batch(&(0..1000).collect::<Vec<_>>());
        buffers.push(1, small.clone());
        let after = buffers.push(3, big.clone());
        assert_eq!(after, big.get_array_memory_size());
        assert_eq!(buffers.largest(), Some(3));
        assert_eq!(buffers.non_empty(), [1, 3]);
        assert_eq!(buffers.take(3).len(), 1);
        assert_eq!(buffers.total_bytes(), small.get_array_memory_size());
        buffers.clear();
        assert_eq!(buffers.total_bytes(), 0);
    }
}
