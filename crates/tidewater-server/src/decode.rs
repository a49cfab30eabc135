//! Block bodies: an Arrow IPC stream, or newline-delimited JSON, decoded into one batch.
//!
//! Both are untrusted bytes: every failure is an `InvalidArgument` naming what was wrong (and,
//! for JSON, the line), never a panic. JSON values follow the table's Arrow types (numbers,
//! strings, booleans; DATE `"YYYY-MM-DD"`; TIMESTAMP an RFC 3339 string, zone-less strings are
//! read as UTC; DECIMAL a string or number); `"_op": "U"|"D"` marks upserts and deletes.

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use tidewater_format::TableSchema;
use tidewater_format::api::OP_FIELD;

use crate::error::{ApiError, ApiResult};

/// Decodes an Arrow IPC stream into one batch.
pub fn arrow_stream(body: &[u8]) -> ApiResult<RecordBatch> {
    let bad = |e: &dyn std::fmt::Display| {
        ApiError::invalid(format!("malformed Arrow IPC stream body: {e}"))
    };
    let reader = StreamReader::try_new(Cursor::new(body), None).map_err(|e| bad(&e))?;
    let schema = reader.schema();
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| bad(&e))?);
    }
    arrow::compute::concat_batches(&schema, &batches).map_err(|e| bad(&e))
}

/// The JSON shape of a block: every data column (plus partition columns when `dynamic`) and
/// `_op`, all nullable (NOT NULL is checked later, naming the row).
pub fn json_schema(schema: &TableSchema, dynamic: bool) -> SchemaRef {
    let mut fields: Vec<Field> = schema
        .columns
        .iter()
        .map(|c| Field::new(&c.name, c.data_type.to_arrow(), true))
        .collect();
    if dynamic {
        fields.extend(
            schema
                .partition_columns
                .iter()
                .map(|c| Field::new(&c.name, ArrowType::Utf8, true)),
        );
    }
    fields.push(Field::new(OP_FIELD, ArrowType::Utf8, true));
    Arc::new(Schema::new(fields))
}

fn decode_json(schema: &SchemaRef, body: &[u8]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_strict_mode(true)
        .with_batch_size(8192)
        .build_decoder()?;
    let mut batches = Vec::new();
    let mut rest = body;
    loop {
        let n = decoder.decode(rest)?;
        rest = &rest[n..];
        let flushed = decoder.flush()?;
        let progressed = n > 0 || flushed.is_some();
        batches.extend(flushed);
        if rest.is_empty() || !progressed {
            break;
        }
    }
    arrow::compute::concat_batches(schema, &batches)
}

/// Decodes newline-delimited JSON into one batch of `schema`; an error names the first bad line.
pub fn ndjson(schema: &SchemaRef, body: &[u8]) -> ApiResult<RecordBatch> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::invalid(format!(
            "the NDJSON body is not UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })?;
    match decode_json(schema, body) {
        Ok(b) => Ok(b),
        Err(whole) => {
            // Find the line to name: decode line by line (only on this error path).
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                if let Err(e) = decode_json(schema, line.as_bytes()) {
                    return Err(ApiError::invalid(format!(
                        "NDJSON line {}: {e} (the columns are: {})",
                        i + 1,
                        schema
                            .fields()
                            .iter()
                            .map(|f| format!("{} {}", f.name(), f.data_type()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
            Err(ApiError::invalid(format!("malformed NDJSON body: {whole}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use tidewater_format::{Column, DataType};

    use super::*;

    fn people() -> TableSchema {
        TableSchema::new(
            vec![
                Column::new("id", DataType::BigInt),
                Column::new("name", DataType::String),
            ],
            vec!["id".into()],
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn ndjson_reads_rows_and_ops() {
        let schema = json_schema(&people(), false);
        let b = ndjson(
            &schema,
            b"{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"_op\":\"D\"}\n",
        )
        .unwrap();
        assert_eq!(b.num_rows(), 2);
    }

    #[test]
    fn ndjson_errors_name_the_line() {
        let schema = json_schema(&people(), false);
        let err = ndjson(&schema, b"{\"id\":1}\n{\"id\":\"x\"}\n").unwrap_err();
        assert!(err.message.contains("line 2"), "{}", err.message);
        let err = ndjson(&schema, b"{\"id\":1,\"nope\":2}\n").unwrap_err();
        assert!(err.message.contains("line 1"), "{}", err.message);
        let err = ndjson(&schema, b"{\"id\":1\n").unwrap_err();
        assert!(err.message.contains("line 1"), "{}", err.message);
    }

    #[test]
    fn garbage_is_not_an_arrow_stream() {
        let err = arrow_stream(b"\x00\x01garbage").unwrap_err();
        assert!(
            err.message.contains("malformed Arrow IPC"),
            "{}",
            err.message
        );
        assert!(arrow_stream(b"").is_err());
    }
}
