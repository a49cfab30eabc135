//! Primary-key point lookups.
//!
//! Every file of the split that may hold the key (bucket and min/max pruned at planning) is
//! searched on its key, `_seq` and `_op` columns only (a binary search: files are sorted and hold
//! one row per key). The hit with the highest sequence number is the key's current version; if it
//! is an upsert, just that row is read with the projected columns (a one-row selection).

use arrow::array::RecordBatch;
use arrow::datatypes::{UInt8Type, UInt64Type};
use arrow::row::OwnedRow;
use arrow_array::cast::AsArray;
use futures::StreamExt;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use snafu::ResultExt;
use tidewater_format::DataFileMeta;
use tidewater_format::schema::OP_DELETE;

use super::{Emitter, ScanContext, Split, key_converter, open_file_with};
use crate::error::{ArrowSnafu, Result};

struct Hit {
    file: usize,
    row: usize,
    seq: u64,
    op: u8,
}

/// Row of `probe` in one file, if present.
async fn find(
    ctx: &ScanContext,
    file: &DataFileMeta,
    probe: &OwnedRow,
) -> Result<Option<(usize, u64, u8)>> {
    let ncols = ctx.file_schema.fields().len();
    let mut roots = ctx.key_indices.clone();
    roots.sort_unstable();
    // Key columns in key order, as positions within the read (ascending) columns.
    let key_pos: Vec<usize> = ctx
        .key_indices
        .iter()
        .filter_map(|k| roots.iter().position(|r| r == k))
        .collect();
    roots.push(ncols - 2);
    roots.push(ncols - 1);
    let mut stream = open_file_with(ctx, file, roots, None).await?;
    let mut offset = 0;
    while let Some(batch) = stream.next().await {
        let batch: RecordBatch = batch?;
        let keys: Vec<_> = key_pos.iter().map(|p| batch.column(*p).clone()).collect();
        let rows = key_converter(&keys)?
            .convert_columns(&keys)
            .context(ArrowSnafu {
                what: "key encoding",
            })?;
        let (mut lo, mut hi) = (0, rows.num_rows());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if rows.row(mid) < probe.row() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo < rows.num_rows() && rows.row(lo) == probe.row() {
            let n = batch.num_columns();
            let seq = batch.column(n - 2).as_primitive::<UInt64Type>().value(lo) + file.seq_offset;
            let op = batch.column(n - 1).as_primitive::<UInt8Type>().value(lo);
            return Ok(Some((offset + lo, seq, op)));
        }
        offset += batch.num_rows();
    }
    Ok(None)
}

/// Emits the current version of the probed key in this split, if it is live.
pub(crate) async fn lookup(
    ctx: &ScanContext,
    split: &Split,
    probe: &OwnedRow,
    out: &Emitter,
) -> Result<bool> {
    // A plain loop of futures (no closures over references) keeps the future `Send`.
    let mut searches = Vec::with_capacity(split.files.len());
    for (i, f) in split.files.iter().enumerate() {
        searches.push(async move {
            Ok::<_, crate::Error>(find(ctx, f, probe).await?.map(|(row, seq, op)| Hit {
                file: i,
                row,
                seq,
                op,
            }))
        });
    }
    let hits: Vec<Hit> = futures::future::try_join_all(searches)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let Some(best) = hits.into_iter().max_by_key(|h| h.seq) else {
        return Ok(true);
    };
    if best.op == OP_DELETE {
        return Ok(true);
    }
    let file = &split.files[best.file];
    let mut roots = ctx.read.clone();
    let ncols = ctx.file_schema.fields().len();
    roots.push(ncols - 2);
    roots.push(ncols - 1);
    let selection = RowSelection::from(vec![RowSelector::skip(best.row), RowSelector::select(1)]);
    let mut stream = open_file_with(ctx, file, roots, Some(selection)).await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let data = batch
            .project(&(0..ctx.read.len()).collect::<Vec<_>>())
            .context(ArrowSnafu { what: "projection" })?;
        if !out.send(&data).await? {
            return Ok(false);
        }
    }
    Ok(true)
}
