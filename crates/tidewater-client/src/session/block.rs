//! Blocks: the unit a session uploads — the buffered rows of one bucket as one Arrow IPC stream,
//! sent with `PUT …/buckets/{bucket}/blocks/{block}` and retried under the same number.
//!
//! Invariants: a block's rows keep their write order; no encoded block is larger than the
//! server's `max_block_bytes` (oversized ones are split in halves, in order, each half getting
//! the next number); a retry sends the same bytes under the same (bucket, block) number, which
//! the server treats as a replacement, so retries never duplicate rows.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ipc::writer::StreamWriter;
use bytes::Bytes;
use reqwest::{Method, Url};
use snafu::IntoError;
use tidewater_format::api::{ARROW_STREAM, BlockAck};

use crate::client::{Call, Client};
use crate::error::{EncodeBlockSnafu, Result, RowTooLargeSnafu};
use crate::retry::Backoff;

/// Encodes batches as one Arrow IPC stream.
pub(crate) fn encode(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Bytes, ArrowError> {
    let mut out = Vec::new();
    {
        let mut writer = StreamWriter::try_new(&mut out, schema)?;
        for b in batches {
            writer.write(b)?;
        }
        writer.finish()?;
    }
    Ok(Bytes::from(out))
}

/// The buffered batches of `bucket` as encoded blocks of at most `max_bytes` each, in row order.
pub(crate) fn encode_blocks(
    schema: &SchemaRef,
    bucket: u32,
    batches: &[RecordBatch],
    max_bytes: u64,
) -> Result<Vec<Bytes>> {
    let context = EncodeBlockSnafu { bucket };
    let whole = concat_batches(schema, batches).map_err(|e| context.into_error(e))?;
    // Pieces still to encode, in reverse order (the next one is last).
    let mut pending = vec![whole];
    let mut blocks = Vec::new();
    while let Some(batch) = pending.pop() {
        if batch.num_rows() == 0 {
            continue;
        }
        let bytes = encode(schema, std::slice::from_ref(&batch))
            .map_err(|e| EncodeBlockSnafu { bucket }.into_error(e))?;
        if bytes.len() as u64 <= max_bytes {
            blocks.push(bytes);
            continue;
        }
        let rows = batch.num_rows();
        if rows == 1 {
            return RowTooLargeSnafu {
                bucket,
                bytes: bytes.len(),
                max: max_bytes,
            }
            .fail();
        }
        // Copy the halves so each encodes only its own rows' buffers.
        let half = rows / 2;
        let second = compact(schema, &batch.slice(half, rows - half), bucket)?;
        let first = compact(schema, &batch.slice(0, half), bucket)?;
        pending.push(second);
        pending.push(first);
    }
    Ok(blocks)
}

fn compact(schema: &SchemaRef, batch: &RecordBatch, bucket: u32) -> Result<RecordBatch> {
    concat_batches(schema, std::iter::once(batch))
        .map_err(|e| EncodeBlockSnafu { bucket }.into_error(e))
}

/// Where and how one session's blocks are uploaded.
#[derive(Debug)]
pub(crate) struct Uploader {
    pub client: Client,
    /// Path segments of the session (`v1/projects/{p}/tables/{t}/sessions/{id}`).
    pub session_path: Vec<String>,
    /// Slot endpoints by bucket, where a slot names one (others use the client's endpoint).
    pub slot_endpoints: std::collections::HashMap<u32, Url>,
    pub retries: u32,
    pub backoff: Backoff,
}

impl Uploader {
    /// Sends one block, retrying transient failures under the same number.
    pub async fn put(self: Arc<Self>, bucket: u32, block: u64, body: Bytes) -> Result<BlockAck> {
        let bucket_text = bucket.to_string();
        let block_text = block.to_string();
        let mut segments: Vec<&str> = self.session_path.iter().map(String::as_str).collect();
        segments.extend(["buckets", &bucket_text, "blocks", &block_text]);
        let mut attempt = 0;
        loop {
            let mut call = Call::new(Method::PUT, &segments);
            call.base = self.slot_endpoints.get(&bucket);
            call.body = body.clone();
            call.content_type = Some(ARROW_STREAM);
            let result = self.client.send(call).await;
            let error = match result {
                Ok(answer) => return answer.decode("block ack"),
                Err(e) => e,
            };
            if !error.is_retryable() || attempt >= self.retries {
                return Err(error);
            }
            let delay = self.backoff.delay(attempt, error.retry_after());
            tracing::debug!(bucket, block, attempt, ?delay, error = %error, "retrying block");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::layout::tests::info;
    use crate::session::layout::{Layout, RowOp};
    use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
    use arrow::ipc::reader::StreamReader;
    use std::io::Cursor;
    use tidewater_format::api::SessionKind;

    fn decode(bytes: &Bytes) -> (SchemaRef, Vec<RecordBatch>) {
        let reader = StreamReader::try_new(Cursor::new(bytes.clone()), None).unwrap();
        let schema = reader.schema();
        (schema, reader.collect::<Result<Vec<_>, _>>().unwrap())
    }

    fn rows(layout: &Layout, from: i64, n: usize) -> RecordBatch {
        let b = RecordBatch::try_from_iter(vec![
            (
                "id",
                Arc::new(Int64Array::from_iter_values(from..from + n as i64)) as ArrayRef,
            ),
            ("name", Arc::new(StringArray::from(vec!["xxxxx"; n]))),
            ("age", Arc::new(Int32Array::from(vec![1; n]))),
        ])
        .unwrap();
        layout.conform(&b, RowOp::Upsert).unwrap()
    }

    #[test]
    fn blocks_round_trip_through_arrow_ipc_with_the_op_column() {
        let layout = Layout::new(&info(SessionKind::Upsert, false, 4)).unwrap();
        let parts = [rows(&layout, 0, 3), rows(&layout, 3, 2)];
        let blocks = encode_blocks(&layout.schema, 0, &parts, 1 << 20).unwrap();
        assert_eq!(blocks.len(), 1);
        let (schema, batches) = decode(&blocks[0]);
        assert_eq!(schema, layout.schema);
        assert_eq!(batches.len(), 1);
        let expected = concat_batches(&layout.schema, &parts).unwrap();
        assert_eq!(batches[0], expected);
        assert_eq!(schema.field(0).metadata()["tidewater.type"], "BIGINT");
        assert_eq!(
            schema.field_with_name("_op").unwrap().data_type(),
            &arrow::datatypes::DataType::UInt8
        );
    }

    #[test]
    fn oversized_blocks_are_split_in_order() {
        let layout = Layout::new(&info(SessionKind::Upsert, false, 4)).unwrap();
        let all = rows(&layout, 0, 1000);
        let blocks = encode_blocks(&layout.schema, 2, std::slice::from_ref(&all), 5_000).unwrap();
        assert!(blocks.len() > 4, "{}", blocks.len());
        let mut decoded = Vec::new();
        for b in &blocks {
            assert!(b.len() <= 5_000);
            decoded.extend(decode(b).1);
        }
        assert_eq!(concat_batches(&layout.schema, &decoded).unwrap(), all);
        let err = encode_blocks(&layout.schema, 2, &[all], 100).unwrap_err();
        assert!(err.to_string().contains("one row of bucket 2"), "{err}");
    }
}
