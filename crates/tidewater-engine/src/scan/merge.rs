//! Reading one split: sections of overlapping files, straight reads and the k-way merge.
//!
//! The merge keeps one cursor per file (its current batch, the batch's keys in Arrow row format,
//! global sequence numbers and operations) in a binary heap ordered by (key ascending, sequence
//! descending). The heap top is the newest version of the smallest key: it is emitted unless it
//! is a delete, and every other cursor positioned on the same key is advanced past it. Output rows
//! are gathered as (batch, row) pairs and materialised with `interleave` every `batch_size` rows.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, UInt8Array, UInt64Array,
};
use arrow::buffer::ScalarBuffer;
use arrow::compute::{filter_record_batch, interleave_record_batch};
use arrow::datatypes::{Int64Type, Schema};
use arrow::datatypes::{UInt8Type, UInt64Type};
use arrow::row::{RowConverter, Rows};
use arrow_array::cast::AsArray;
use futures::StreamExt;
use futures::stream::BoxStream;
use snafu::ResultExt;
use tidewater_format::DataFileMeta;
use tidewater_format::schema::{OP_DELETE, TableKind};

use super::{Emitter, ScanContext, Split, Versions, key_converter, open_file, open_file_with};
use crate::error::{ArrowSnafu, Result};

pub(crate) async fn read_split(ctx: &ScanContext, split: &Split, out: &Emitter) -> Result<()> {
    if ctx.kind == TableKind::Standard {
        for f in &split.files {
            let mut s = open_file(ctx, f).await?;
            while let Some(b) = s.next().await {
                if !out.send(&b?).await? {
                    return Ok(());
                }
            }
        }
        return Ok(());
    }
    if let Some(probe) = &ctx.probe {
        super::lookup::lookup(ctx, split, probe, out).await?;
        return Ok(());
    }
    for section in sections(&split.files) {
        let go_on = if section.len() == 1 {
            read_single(ctx, section[0], out).await?
        } else {
            merge_files(ctx, &section, out).await?
        };
        if !go_on {
            return Ok(());
        }
    }
    Ok(())
}

/// Groups files into sections of transitively overlapping key ranges, in key order.
pub(crate) fn sections(files: &[DataFileMeta]) -> Vec<Vec<&DataFileMeta>> {
    let mut sorted: Vec<&DataFileMeta> = files.iter().filter(|f| f.row_count > 0).collect();
    sorted.sort_by(|a, b| a.min_key.cmp(&b.min_key));
    let mut out: Vec<Vec<&DataFileMeta>> = Vec::new();
    let mut end = None;
    for f in sorted {
        match (out.last_mut(), &end) {
            (Some(sec), Some(e)) if &f.min_key <= e => {
                sec.push(f);
                if &f.max_key > e {
                    end = Some(f.max_key.clone());
                }
            }
            _ => {
                out.push(vec![f]);
                end = Some(f.max_key.clone());
            }
        }
    }
    out
}

fn key_columns(ctx: &ScanContext, batch: &RecordBatch) -> Vec<ArrayRef> {
    ctx.key_indices
        .iter()
        .map(|k| {
            let pos = ctx.read.iter().position(|r| r == k).unwrap_or(0);
            batch.column(pos).clone()
        })
        .collect()
}

/// The `read` columns of a file batch; with [`Versions::Newest`], then the global `_seq`
/// (`seqs`) and `_op`.
fn data_part(ctx: &ScanContext, batch: &RecordBatch, seqs: &UInt64Array) -> Result<RecordBatch> {
    let n = ctx.read.len();
    if ctx.versions == Versions::Latest {
        return batch
            .project(&(0..n).collect::<Vec<_>>())
            .context(ArrowSnafu { what: "projection" });
    }
    let mut columns: Vec<ArrayRef> = batch.columns()[..n].to_vec();
    columns.push(Arc::new(seqs.clone()));
    columns.push(batch.column(batch.num_columns() - 1).clone());
    let mut fields: Vec<_> = batch.schema().fields()[..n].to_vec();
    fields.extend(
        batch.schema().fields()[batch.num_columns() - 2..]
            .iter()
            .cloned(),
    );
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .context(ArrowSnafu { what: "projection" })
}

/// Global sequence numbers of a file batch.
fn global_seqs(batch: &RecordBatch, seq_offset: u64) -> UInt64Array {
    batch
        .column(batch.num_columns() - 2)
        .as_primitive::<UInt64Type>()
        .unary(|s| s + seq_offset)
}

async fn read_single(ctx: &ScanContext, file: &DataFileMeta, out: &Emitter) -> Result<bool> {
    if ctx.versions == Versions::Latest && file.delete_count == 0 {
        // Nothing to drop (e.g. a base file after major compaction): `_seq` and `_op` are not
        // needed, only the `read` columns.
        let mut stream = open_file_with(ctx, file, ctx.read.clone(), None).await?;
        while let Some(batch) = stream.next().await {
            if !out.send(&batch?).await? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    let mut stream = open_file(ctx, file).await?;
    let keep_deletes = ctx.versions.keeps_deletes();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let ops = batch
            .column(batch.num_columns() - 1)
            .as_primitive::<UInt8Type>();
        let keep: Vec<bool> = ops
            .values()
            .iter()
            .map(|o| keep_deletes || *o != OP_DELETE)
            .collect();
        let data = data_part(ctx, &batch, &global_seqs(&batch, file.seq_offset))?;
        let data = if keep.iter().all(|k| *k) {
            data
        } else {
            filter_record_batch(&data, &BooleanArray::from(keep)).context(ArrowSnafu {
                what: "dropping deletes",
            })?
        };
        if !out.send(&data).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The keys of a cursor's batch: Arrow rows in general, the values themselves for the common
/// single BIGINT key (several times cheaper to compare). All cursors of a merge use one kind.
enum Keys {
    Rows(Rows),
    I64(ScalarBuffer<i64>),
}

impl Keys {
    fn cmp_at(&self, i: usize, other: &Keys, j: usize) -> Ordering {
        match (self, other) {
            (Keys::I64(a), Keys::I64(b)) => a[i].cmp(&b[j]),
            (Keys::Rows(a), Keys::Rows(b)) => a.row(i).cmp(&b.row(j)),
            // Never mixed: the key type decides the kind for every batch of a table.
            (Keys::I64(_), Keys::Rows(_)) => Ordering::Less,
            (Keys::Rows(_), Keys::I64(_)) => Ordering::Greater,
        }
    }

    fn len(&self) -> usize {
        match self {
            Keys::I64(a) => a.len(),
            Keys::Rows(r) => r.num_rows(),
        }
    }
}

struct Cursor {
    stream: BoxStream<'static, Result<RecordBatch>>,
    seq_offset: u64,
    rows: Keys,
    seqs: UInt64Array,
    ops: UInt8Array,
    len: usize,
    pos: usize,
    slot: usize,
}

/// Loads the next non-empty batch of a file: (data batch, keys, global seqs, ops).
async fn next_batch(
    ctx: &ScanContext,
    conv: &RowConverter,
    stream: &mut BoxStream<'static, Result<RecordBatch>>,
    seq_offset: u64,
) -> Result<Option<(RecordBatch, Keys, UInt64Array, UInt8Array)>> {
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        let keys = key_columns(ctx, &batch);
        let single_i64 = match keys.as_slice() {
            [k] if k.null_count() == 0 => k.as_primitive_opt::<Int64Type>(),
            _ => None,
        };
        let rows = match single_i64 {
            Some(k) => Keys::I64(k.values().clone()),
            None => Keys::Rows(conv.convert_columns(&keys).context(ArrowSnafu {
                what: "key encoding",
            })?),
        };
        let seqs = global_seqs(&batch, seq_offset);
        let ops = batch
            .column(batch.num_columns() - 1)
            .as_primitive::<UInt8Type>()
            .clone();
        return Ok(Some((data_part(ctx, &batch, &seqs)?, rows, seqs, ops)));
    }
    Ok(None)
}

/// `a` comes before `b`: smaller key, or same key and newer.
fn before(cursors: &[Cursor], a: usize, b: usize) -> bool {
    let (ca, cb) = (&cursors[a], &cursors[b]);
    match ca.rows.cmp_at(ca.pos, &cb.rows, cb.pos) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => ca.seqs.value(ca.pos) > cb.seqs.value(cb.pos),
    }
}

fn sift_down(heap: &mut [usize], cursors: &[Cursor], mut i: usize) {
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut m = i;
        if l < heap.len() && before(cursors, heap[l], heap[m]) {
            m = l;
        }
        if r < heap.len() && before(cursors, heap[r], heap[m]) {
            m = r;
        }
        if m == i {
            return;
        }
        heap.swap(i, m);
        i = m;
    }
}

fn sift_up(heap: &mut [usize], cursors: &[Cursor], mut i: usize) {
    while i > 0 {
        let p = (i - 1) / 2;
        if !before(cursors, heap[i], heap[p]) {
            return;
        }
        heap.swap(i, p);
        i = p;
    }
}

fn pop(heap: &mut Vec<usize>, cursors: &[Cursor]) {
    let last = heap.len() - 1;
    heap.swap(0, last);
    heap.pop();
    if !heap.is_empty() {
        sift_down(heap, cursors, 0);
    }
}

struct Merge<'a> {
    ctx: &'a ScanContext,
    conv: RowConverter,
    cursors: Vec<Cursor>,
    slots: Vec<RecordBatch>,
    picked: Vec<(usize, usize)>,
}

impl Merge<'_> {
    /// Moves cursor `c` one row on; `Ok(false)` when its file is exhausted.
    async fn advance(&mut self, c: usize) -> Result<bool> {
        let cur = &mut self.cursors[c];
        cur.pos += 1;
        if cur.pos < cur.len {
            return Ok(true);
        }
        let mut stream = std::mem::replace(&mut cur.stream, futures::stream::empty().boxed());
        let next = next_batch(self.ctx, &self.conv, &mut stream, cur.seq_offset).await?;
        let cur = &mut self.cursors[c];
        cur.stream = stream;
        match next {
            Some((batch, rows, seqs, ops)) => {
                self.slots.push(batch);
                cur.slot = self.slots.len() - 1;
                cur.len = rows.len();
                cur.rows = rows;
                cur.seqs = seqs;
                cur.ops = ops;
                cur.pos = 0;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Materialises the picked rows and keeps only the batches cursors still point into.
    async fn emit(&mut self, out: &Emitter, live: &[usize]) -> Result<bool> {
        if self.picked.is_empty() {
            return Ok(true);
        }
        let batch = if self.ctx.outputs.is_empty() {
            // Nothing projected (e.g. `count(*)`): only the number of rows matters.
            RecordBatch::try_new_with_options(
                Arc::new(Schema::empty()),
                vec![],
                &RecordBatchOptions::new().with_row_count(Some(self.picked.len())),
            )
            .context(ArrowSnafu {
                what: "counting rows",
            })?
        } else {
            let refs: Vec<&RecordBatch> = self.slots.iter().collect();
            interleave_record_batch(&refs, &self.picked).context(ArrowSnafu {
                what: "merging rows",
            })?
        };
        self.picked.clear();
        let mut slots = Vec::with_capacity(live.len());
        for &c in live {
            let cur = &mut self.cursors[c];
            slots.push(self.slots[cur.slot].clone());
            cur.slot = slots.len() - 1;
        }
        self.slots = slots;
        out.send(&batch).await
    }
}

async fn merge_files(ctx: &ScanContext, files: &[&DataFileMeta], out: &Emitter) -> Result<bool> {
    let mut m: Option<Merge> = None;
    let mut heap: Vec<usize> = Vec::with_capacity(files.len());
    for f in files {
        let mut stream = open_file(ctx, f).await?;
        let first = stream.next().await.transpose()?;
        let Some(first) = first else { continue };
        let keys = key_columns(ctx, &first);
        let merge = match &mut m {
            Some(m) => m,
            None => m.insert(Merge {
                ctx,
                conv: key_converter(&keys)?,
                cursors: Vec::new(),
                slots: Vec::new(),
                picked: Vec::with_capacity(ctx.batch_size),
            }),
        };
        let mut prefix = futures::stream::iter(vec![Ok(first)]).chain(stream).boxed();
        if let Some((batch, rows, seqs, ops)) =
            next_batch(ctx, &merge.conv, &mut prefix, f.seq_offset).await?
        {
            merge.slots.push(batch);
            merge.cursors.push(Cursor {
                stream: prefix,
                seq_offset: f.seq_offset,
                len: rows.len(),
                rows,
                seqs,
                ops,
                pos: 0,
                slot: merge.slots.len() - 1,
            });
            let c = merge.cursors.len() - 1;
            heap.push(c);
            let last = heap.len() - 1;
            sift_up(&mut heap, &merge.cursors, last);
        }
    }
    let Some(mut m) = m else { return Ok(true) };
    let keep_deletes = ctx.versions.keeps_deletes();
    while let Some(&w) = heap.first() {
        {
            let c = &m.cursors[w];
            if keep_deletes || c.ops.value(c.pos) != OP_DELETE {
                m.picked.push((c.slot, c.pos));
            }
        }
        pop(&mut heap, &m.cursors);
        // Older versions of the same key in other files.
        while let Some(&t) = heap.first() {
            let same = {
                let (ct, cw) = (&m.cursors[t], &m.cursors[w]);
                ct.rows.cmp_at(ct.pos, &cw.rows, cw.pos) == Ordering::Equal
            };
            if !same {
                break;
            }
            if m.advance(t).await? {
                sift_down(&mut heap, &m.cursors, 0);
            } else {
                pop(&mut heap, &m.cursors);
            }
        }
        if m.advance(w).await? {
            heap.push(w);
            let last = heap.len() - 1;
            sift_up(&mut heap, &m.cursors, last);
        }
        if m.picked.len() >= ctx.batch_size && !m.emit(out, &heap).await? {
            return Ok(false);
        }
    }
    m.emit(out, &heap).await
}
