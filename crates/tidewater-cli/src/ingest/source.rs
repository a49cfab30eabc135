//! Where `tidewater ingest` reads records: NDJSON or CSV files (or standard input), or the
//! `datagen` generator. A reader thread turns input into [`Item`]s, each with the [`Position`]
//! right after it, and sends them through a bounded channel.
//!
//! Invariants: reading from a [`Position`] yields exactly the items that follow it in the same
//! input (files: a seek to the byte offset; standard input: that many bytes skipped, so the
//! same bytes must be piped again; datagen: rows are a pure function of their index); line
//! numbers are those of the file (1-based), also after a resume.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use tidewater_client::sink::Change;
use tidewater_client::{DataType, TableSchema};
use tokio::sync::mpsc::Sender;

/// The read position after an item: what a checkpoint stores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Fingerprint of the inputs: a resume with other inputs is refused.
    pub inputs: String,
    /// Index of the input (datagen: 0).
    pub file: usize,
    /// Bytes of that input consumed.
    pub offset: u64,
    /// Lines of that input consumed (CSV: the line the next record starts on, minus one).
    pub line: u64,
    /// CSV records of that input consumed (header included).
    pub record: u64,
    /// Records consumed, all inputs (datagen: the next row index).
    pub records: u64,
    /// Records written to the table.
    pub written: u64,
    /// Records sent to the dead-letter file.
    pub skipped: u64,
    /// Bytes consumed, all inputs.
    pub bytes: u64,
    /// Length of the dead-letter file.
    pub dead_letter_len: u64,
}

/// Where an item came from, for messages.
#[derive(Debug, Clone)]
pub struct Location {
    pub file: String,
    pub line: u64,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

pub enum Item {
    Record {
        row: Map<String, Value>,
        change: Change,
        at: Location,
        pos: Position,
    },
    Bad {
        at: Location,
        reason: String,
        raw: Value,
        pos: Position,
    },
    /// Input that cannot be read at all (missing file, unknown CSV header).
    Fatal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

#[derive(Debug, Clone)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

pub struct Reader {
    pub schema: TableSchema,
    pub tx: Sender<Item>,
    pub pos: Position,
}

impl Reader {
    fn send(&self, item: Item) -> bool {
        self.tx.blocking_send(item).is_ok()
    }

    /// Reads every input from `self.pos` on.
    pub fn files(mut self, inputs: &[Input], format: Format) {
        let start = self.pos.file;
        for (index, input) in inputs.iter().enumerate().skip(start) {
            if index != self.pos.file {
                self.pos.file = index;
                self.pos.offset = 0;
                self.pos.line = 0;
                self.pos.record = 0;
            }
            let result = match format {
                Format::Ndjson => self.ndjson(input),
                Format::Csv => self.csv(input),
            };
            match result {
                Ok(true) => {}
                Ok(false) => return, // the receiver stopped
                Err(reason) => {
                    self.send(Item::Fatal(format!("{}: {reason}", input.name())));
                    return;
                }
            }
        }
    }

    fn open(&self, input: &Input) -> Result<Box<dyn Read + Send>, String> {
        match input {
            Input::Stdin => {
                let mut stdin = io::stdin();
                // Standard input cannot seek: skip what the last checkpoint covered.
                io::copy(&mut (&mut stdin).take(self.pos.offset), &mut io::sink())
                    .map_err(|e| e.to_string())?;
                Ok(Box::new(stdin))
            }
            Input::File(path) => {
                let mut file = File::open(path).map_err(|e| e.to_string())?;
                file.seek(SeekFrom::Start(self.pos.offset))
                    .map_err(|e| e.to_string())?;
                Ok(Box::new(file))
            }
        }
    }

    fn ndjson(&mut self, input: &Input) -> Result<bool, String> {
        let mut reader = BufReader::with_capacity(1 << 16, self.open(input)?);
        let name = input.name();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| format!("line {}: {e}", self.pos.line + 1))?;
            if n == 0 {
                return Ok(true);
            }
            self.pos.offset += n as u64;
            self.pos.bytes += n as u64;
            self.pos.line += 1;
            let at = Location {
                file: name.clone(),
                line: self.pos.line,
            };
            let text = buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            self.pos.records += 1;
            let item = match serde_json::from_slice::<Value>(text) {
                Ok(Value::Object(mut row)) => match take_op(&mut row) {
                    Ok(change) => Item::Record {
                        row,
                        change,
                        at,
                        pos: self.pos.clone(),
                    },
                    Err(reason) => self.bad(at, reason, Value::Object(row)),
                },
                Ok(other) => {
                    let reason = format!("not a JSON object: {}", short(&other.to_string()));
                    self.bad(at, reason, other)
                }
                Err(e) => {
                    let raw = Value::String(String::from_utf8_lossy(text).into_owned());
                    self.bad(at, format!("not valid JSON: {e}"), raw)
                }
            };
            if !self.send(item) {
                return Ok(false);
            }
        }
    }

    fn bad(&self, at: Location, reason: String, raw: Value) -> Item {
        Item::Bad {
            at,
            reason,
            raw,
            pos: self.pos.clone(),
        }
    }

    fn csv(&mut self, input: &Input) -> Result<bool, String> {
        let name = input.name();
        let seekable = matches!(input, Input::File(_));
        let resume = self.pos.clone();
        // Open from the start: the header is always read; then seek (files) or skip (stdin).
        let source: Box<dyn Read + Send> = match input {
            Input::Stdin => Box::new(io::stdin()),
            Input::File(path) => Box::new(File::open(path).map_err(|e| e.to_string())?),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(source);
        let headers = reader
            .headers()
            .map_err(|e| format!("cannot read the CSV header: {e}"))?
            .clone();
        let columns = self.csv_columns(&headers)?;
        let header_end = reader.position().clone();
        let mut skipping = false;
        if resume.offset > header_end.byte() {
            if seekable {
                // `seek` needs a Seek reader: reopen the file (the header is kept).
                drop(reader);
                let Input::File(path) = input else {
                    return Err("internal: not a file".to_string());
                };
                let file = File::open(path).map_err(|e| e.to_string())?;
                let mut r = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(file);
                let mut at = csv::Position::new();
                at.set_byte(resume.offset)
                    .set_line(resume.line + 1)
                    .set_record(resume.record);
                r.seek(at).map_err(|e| e.to_string())?;
                return self.csv_records(r, &name, &headers, &columns, false);
            }
            skipping = true;
        }
        self.csv_records(reader, &name, &headers, &columns, skipping)
    }

    fn csv_records<R: Read>(
        &mut self,
        mut reader: csv::Reader<R>,
        name: &str,
        headers: &csv::StringRecord,
        columns: &[Option<DataType>],
        mut skipping: bool,
    ) -> Result<bool, String> {
        let target = self.pos.offset;
        if !skipping && self.pos.offset == 0 {
            // A fresh file: the header counts as consumed.
            let end = reader.position().clone();
            self.advance_csv(&end);
        }
        let mut record = csv::StringRecord::new();
        loop {
            let result = reader.read_record(&mut record);
            let end = reader.position().clone();
            if skipping {
                match result {
                    Ok(false) => return Ok(true),
                    _ if end.byte() >= target => {
                        skipping = false;
                        self.pos.line = end.line().saturating_sub(1);
                        self.pos.record = end.record();
                        continue;
                    }
                    _ => continue,
                }
            }
            let line = match &result {
                Ok(_) => record.position().map_or(end.line(), |p| p.line()),
                Err(e) => e.position().map_or(end.line(), |p| p.line()),
            };
            let at = Location {
                file: name.to_string(),
                line,
            };
            let item = match result {
                Ok(false) => return Ok(true),
                Ok(true) => {
                    self.advance_csv(&end);
                    self.pos.records += 1;
                    let raw = || Value::Array(record.iter().map(|f| f.into()).collect());
                    match csv_row(&record, columns, headers) {
                        Ok((row, change)) => Item::Record {
                            row,
                            change,
                            at,
                            pos: self.pos.clone(),
                        },
                        Err(reason) => self.bad(at, reason, raw()),
                    }
                }
                Err(e) if e.is_io_error() => return Err(e.to_string()),
                Err(e) => {
                    self.advance_csv(&end);
                    self.pos.records += 1;
                    self.bad(at, format!("not valid CSV: {e}"), Value::Null)
                }
            };
            if !self.send(item) {
                return Ok(false);
            }
        }
    }

    fn advance_csv(&mut self, end: &csv::Position) {
        self.pos.bytes += end.byte().saturating_sub(self.pos.offset);
        self.pos.offset = end.byte();
        self.pos.line = end.line().saturating_sub(1);
        self.pos.record = end.record();
    }

    /// The type of each CSV column (`None`: `_op`); unknown headers are an error.
    fn csv_columns(&self, headers: &csv::StringRecord) -> Result<Vec<Option<DataType>>, String> {
        let all = self
            .schema
            .columns
            .iter()
            .chain(&self.schema.partition_columns);
        let all: Vec<_> = all.collect();
        headers
            .iter()
            .map(|h| {
                if h.eq_ignore_ascii_case("_op") {
                    return Ok(None);
                }
                all.iter()
                    .find(|c| c.name.eq_ignore_ascii_case(h))
                    .map(|c| Some(c.data_type.clone()))
                    .ok_or_else(|| {
                        format!(
                            "CSV header: unknown column '{h}' (columns: {})",
                            all.iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
            })
            .collect()
    }

    /// `--source datagen`: rows `pos.records..limit` (forever without a limit).
    pub fn datagen(mut self, limit: Option<u64>) {
        loop {
            if limit.is_some_and(|l| self.pos.records >= l) {
                return;
            }
            let i = self.pos.records;
            let row = generate(&self.schema, i);
            self.pos.records += 1;
            self.pos.line = self.pos.records;
            let bytes = serde_json::to_vec(&row).map_or(0, |b| b.len() as u64 + 1);
            self.pos.bytes += bytes;
            let item = Item::Record {
                row,
                change: Change::Upsert,
                at: Location {
                    file: "datagen".to_string(),
                    line: i + 1,
                },
                pos: self.pos.clone(),
            };
            if !self.send(item) {
                return;
            }
        }
    }
}

fn short(text: &str) -> String {
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text.to_string()
    }
}

/// Takes the optional `_op` field: upsert (`U`, `I`, `upsert`, `insert`) or delete (`D`,
/// `delete`), any case.
fn take_op(row: &mut Map<String, Value>) -> Result<Change, String> {
    let key = row.keys().find(|k| k.eq_ignore_ascii_case("_op")).cloned();
    let Some(key) = key else {
        return Ok(Change::Upsert);
    };
    match row.remove(&key) {
        None | Some(Value::Null) => Ok(Change::Upsert),
        Some(Value::String(s)) => op_from_text(&s),
        Some(other) => Err(format!(
            "_op must be a string (U, D, upsert, delete), found {other}"
        )),
    }
}

fn op_from_text(text: &str) -> Result<Change, String> {
    match text.to_ascii_lowercase().as_str() {
        "" | "u" | "i" | "upsert" | "insert" => Ok(Change::Upsert),
        "d" | "delete" => Ok(Change::Delete),
        _ => Err(format!(
            "_op '{text}' is not one of U, I, D, upsert, insert, delete"
        )),
    }
}

/// One CSV record as a JSON row: an empty field is NULL; numbers and booleans are parsed by
/// the column type; everything else stays a string for the session's checks.
fn csv_row(
    record: &csv::StringRecord,
    columns: &[Option<DataType>],
    headers: &csv::StringRecord,
) -> Result<(Map<String, Value>, Change), String> {
    if record.len() != headers.len() {
        return Err(format!(
            "{} fields, but the header has {}",
            record.len(),
            headers.len()
        ));
    }
    let mut row = Map::with_capacity(record.len());
    let mut change = Change::Upsert;
    for ((field, name), column) in record.iter().zip(headers).zip(columns) {
        let Some(data_type) = column else {
            change = op_from_text(field)?;
            continue;
        };
        let bad = |what: &str| {
            format!(
                "column '{name}': expected {data_type} ({what}), found \"{}\"",
                short(field)
            )
        };
        let value = if field.is_empty() {
            Value::Null
        } else {
            match data_type {
                DataType::Boolean => match field.to_ascii_lowercase().as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => return Err(bad("true or false")),
                },
                DataType::TinyInt | DataType::SmallInt | DataType::Int | DataType::BigInt => field
                    .trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| bad("an integer"))?,
                DataType::Float | DataType::Double => match field.trim() {
                    t @ ("NaN" | "Infinity" | "-Infinity") => Value::String(t.to_string()),
                    t => t
                        .parse::<f64>()
                        .ok()
                        .and_then(Number::from_f64)
                        .map(Value::Number)
                        .ok_or_else(|| bad("a number"))?,
                },
                DataType::Array(_) | DataType::Map(..) | DataType::Struct(_) => {
                    serde_json::from_str(field).map_err(|_| bad("JSON"))?
                }
                _ => Value::String(field.to_string()),
            }
        };
        row.insert(name.to_string(), value);
    }
    Ok((row, change))
}

/// Row `i` of `--source datagen`: keys from `i` (unique), other values derived from it.
fn generate(schema: &TableSchema, i: u64) -> Map<String, Value> {
    let mut row = Map::new();
    let n = i as i64;
    for column in &schema.columns {
        let value = match &column.data_type {
            DataType::Boolean => Value::Bool(i.is_multiple_of(2)),
            DataType::TinyInt => Value::from(n % 128),
            DataType::SmallInt => Value::from(n % 32_768),
            DataType::Int => Value::from(n % 2_147_483_648),
            DataType::BigInt => Value::from(n),
            DataType::Float | DataType::Double => Value::from(n as f64 / 4.0),
            DataType::Decimal { precision, scale } => {
                let digits = u32::from(precision.saturating_sub((*scale).max(0) as u8)).min(18);
                Value::String((n % 10i64.pow(digits).max(1)).to_string())
            }
            DataType::String => Value::String(format!("{}-{i}", column.name)),
            DataType::Char(len) | DataType::Varchar(len) => {
                let text = i.to_string();
                Value::String(text.chars().take(*len as usize).collect())
            }
            DataType::Binary => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(i.to_le_bytes()))
            }
            DataType::Date => {
                let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
                    .and_then(|d| d.checked_add_days(chrono::Days::new(i % 3650)));
                day.map_or(Value::Null, |d| Value::String(d.to_string()))
            }
            DataType::DateTime => {
                let t = chrono::DateTime::from_timestamp(1_767_225_600 + n % 315_360_000, 0);
                t.map_or(Value::Null, |t| {
                    Value::String(t.format("%Y-%m-%d %H:%M:%S").to_string())
                })
            }
            DataType::Timestamp => {
                let t = chrono::DateTime::from_timestamp_millis(1_767_225_600_000 + n);
                t.map_or(Value::Null, |t| Value::String(t.to_rfc3339()))
            }
            _ => Value::Null,
        };
        row.insert(column.name.clone(), value);
    }
    for column in &schema.partition_columns {
        row.insert(column.name.clone(), Value::String(format!("p{}", i % 4)));
    }
    row
}

#[cfg(test)]
mod tests {
    use tidewater_client::Column;

    use super::*;

    #[test]
    fn csv_fields_follow_the_column_types() {
        let headers = csv::StringRecord::from(vec!["id", "ok", "name", "_op"]);
        let columns = vec![
            Some(DataType::BigInt),
            Some(DataType::Boolean),
            Some(DataType::String),
            None,
        ];
        let record = csv::StringRecord::from(vec!["7", "true", "", "D"]);
        let (row, change) = csv_row(&record, &columns, &headers).unwrap();
        assert_eq!(
            Value::Object(row),
            serde_json::json!({"id": 7, "ok": true, "name": null})
        );
        assert_eq!(change, Change::Delete);
        let record = csv::StringRecord::from(vec!["x", "true", "a", ""]);
        let e = csv_row(&record, &columns, &headers).unwrap_err();
        assert!(e.contains("column 'id'") && e.contains("\"x\""), "{e}");
    }

    #[test]
    fn datagen_keys_are_unique_and_deterministic() {
        let schema = TableSchema::new(
            vec![
                Column::new("id", DataType::BigInt).not_null(),
                Column::new(
                    "d",
                    DataType::Decimal {
                        precision: 10,
                        scale: 2,
                    },
                ),
            ],
            vec!["id".into()],
            vec![Column::new("dd", DataType::String)],
        )
        .unwrap();
        assert_eq!(generate(&schema, 5), generate(&schema, 5));
        assert_ne!(generate(&schema, 5)["id"], generate(&schema, 6)["id"]);
        assert_eq!(generate(&schema, 5)["dd"], Value::from("p1"));
    }
}
