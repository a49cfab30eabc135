//! Printing result sets: an aligned table, CSV, or JSON lines.
//!
//! - `table`: a boxed table; NULL prints as `NULL`.
//! - `csv`: a header line, then one line per row (RFC 4180 quoting: fields holding `,`, `"`,
//!   CR or LF are quoted, `"` doubled); booleans `true`/`false`; NULL is an empty field.
//! - `json`: one JSON object per row (JSON lines); numbers and booleans as JSON values, NULL as
//!   `null`, everything else as strings.
//!
//! Dates and times print as `YYYY-MM-DD HH:MM:SS[.fff]`, TIMESTAMP values in UTC.

use std::io::Write;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType as A, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;

use futures::StreamExt;

use crate::engine::StatementOutput;
use crate::error::{Error, Result};

/// How result sets are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Csv,
    Json,
}

impl std::str::FromStr for OutputFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            _ => Err(Error::invalid(format!(
                "unknown output format '{s}' (table, csv or json)"
            ))),
        }
    }
}

fn options(null: &str) -> FormatOptions<'_> {
    FormatOptions::new()
        .with_null(null)
        .with_date_format(Some("%Y-%m-%d"))
        .with_datetime_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f"))
}

fn io(e: std::io::Error) -> Error {
    Error::invalid(format!("cannot write the result: {e}"))
}

fn arrow(e: datafusion::arrow::error::ArrowError) -> Error {
    Error::invalid(format!("cannot format the result: {e}"))
}

/// Writes a whole result set as a table.
pub fn write_table(out: &mut dyn Write, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let text = if batches.is_empty() {
        pretty_format_batches_with_options(
            &[RecordBatch::new_empty(schema.clone())],
            &options("NULL"),
        )
    } else {
        pretty_format_batches_with_options(batches, &options("NULL"))
    }
    .map_err(arrow)?;
    writeln!(out, "{text}").map_err(io)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes the CSV header line.
pub fn write_csv_header(out: &mut dyn Write, schema: &SchemaRef) -> Result<()> {
    let header: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| csv_field(f.name()))
        .collect();
    writeln!(out, "{}", header.join(",")).map_err(io)
}

/// Writes the rows of one batch as CSV lines.
pub fn write_csv_rows(out: &mut dyn Write, batch: &RecordBatch) -> Result<()> {
    let opts = options("");
    let formatters: Vec<ArrayFormatter> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<std::result::Result<_, _>>()
        .map_err(arrow)?;
    let mut line = String::new();
    for row in 0..batch.num_rows() {
        line.clear();
        for (i, f) in formatters.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            if !batch.column(i).is_null(row) {
                line.push_str(&csv_field(&f.value(row).to_string()));
            }
        }
        writeln!(out, "{line}").map_err(io)?;
    }
    Ok(())
}

/// Writes the rows of one batch as JSON lines.
pub fn write_json_rows(out: &mut dyn Write, batch: &RecordBatch) -> Result<()> {
    let opts = options("");
    let schema = batch.schema();
    let formatters: Vec<ArrayFormatter> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<std::result::Result<_, _>>()
        .map_err(arrow)?;
    for row in 0..batch.num_rows() {
        // Built by hand to keep the column order.
        let mut line = String::from("{");
        for (i, f) in formatters.iter().enumerate() {
            let column = batch.column(i);
            let value = if column.is_null(row) {
                serde_json::Value::Null
            } else {
                let text = f.value(row).to_string();
                let t = column.data_type();
                match t {
                    A::Boolean => serde_json::Value::Bool(text == "true"),
                    _ if t.is_integer() || t.is_floating() => {
                        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
                    }
                    _ => serde_json::Value::String(text),
                }
            };
            if i > 0 {
                line.push(',');
            }
            line.push_str(&serde_json::Value::String(schema.field(i).name().clone()).to_string());
            line.push(':');
            line.push_str(&value.to_string());
        }
        line.push('}');
        writeln!(out, "{line}").map_err(io)?;
    }
    Ok(())
}

/// Prints a statement's output: a result set to `out` in `format` (CSV and JSON stream batch by
/// batch; a table needs them all), a statement's message to `messages`. Returns the number of
/// rows printed or written.
pub async fn write_output(
    out: &mut dyn Write,
    messages: &mut dyn Write,
    format: OutputFormat,
    output: StatementOutput,
) -> Result<u64> {
    match output {
        StatementOutput::Done { message, rows } => {
            if !message.is_empty() {
                writeln!(messages, "{message}").map_err(io)?;
            }
            Ok(rows)
        }
        StatementOutput::Rows(mut stream) => {
            let schema = stream.schema();
            let mut rows = 0u64;
            match format {
                OutputFormat::Table => {
                    let mut batches = Vec::new();
                    while let Some(b) = stream.next().await {
                        let b = b?;
                        rows += b.num_rows() as u64;
                        batches.push(b);
                    }
                    write_table(out, &schema, &batches)?;
                    writeln!(messages, "{rows} row(s)").map_err(io)?;
                }
                OutputFormat::Csv | OutputFormat::Json => {
                    if format == OutputFormat::Csv {
                        write_csv_header(out, &schema)?;
                    }
                    while let Some(b) = stream.next().await {
                        let b = b?;
                        rows += b.num_rows() as u64;
                        match format {
                            OutputFormat::Csv => write_csv_rows(out, &b)?,
                            _ => write_json_rows(out, &b)?,
                        }
                    }
                }
            }
            out.flush().map_err(io)?;
            Ok(rows)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{BooleanArray, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    fn sample() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", A::Int64, false),
            Field::new("name", A::Utf8, true),
            Field::new("ok", A::Boolean, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a,\"b\""), None])),
                Arc::new(BooleanArray::from(vec![Some(false), None])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn csv_quotes_and_prints_null_as_empty() {
        let b = sample();
        let mut out = Vec::new();
        write_csv_header(&mut out, &b.schema()).unwrap();
        write_csv_rows(&mut out, &b).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id,name,ok\n1,\"a,\"\"b\"\"\",false\n2,,\n"
        );
    }

    #[test]
    fn json_lines_keep_numbers_and_booleans() {
        let mut out = Vec::new();
        write_json_rows(&mut out, &sample()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\":1,\"name\":\"a,\\\"b\\\"\",\"ok\":false}\n{\"id\":2,\"name\":null,\"ok\":null}\n"
        );
    }
}
