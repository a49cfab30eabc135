//! JSON rows: one `serde_json` object per row, keyed by column name, converted into Arrow.
//!
//! Value conventions per column type (`null` or a missing key is NULL):
//!
//! | type | JSON value |
//! |---|---|
//! | BOOLEAN | `true` / `false` |
//! | TINYINT, SMALLINT, INT, BIGINT | an integer number, range-checked (`1.5` or `"1"` are errors) |
//! | FLOAT, DOUBLE | a number, or the strings `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | DECIMAL(p,s) | a string (`"12.30"`) or an integer number; more than `s` significant fraction digits or more than `p - s` integer digits are errors (never rounded) |
//! | STRING, VARCHAR(n), CHAR(n) | a string (length checked in characters) |
//! | BINARY | a base64 string (standard alphabet, padded) |
//! | DATE | `"YYYY-MM-DD"` |
//! | DATETIME | `"YYYY-MM-DD HH:MM:SS[.fff]"` (or with `T`), no offset, at most millisecond precision |
//! | TIMESTAMP | RFC 3339 with an offset, e.g. `"2026-11-22T02:42:51.123456789Z"` |
//! | ARRAY, MAP, STRUCT | a JSON array / object / object, decoded by `arrow-json` |
//!
//! Invariants: a row is converted completely (every value parsed and checked) before anything of
//! it is appended, so a bad row leaves the buffer unchanged; a multi-row call is all or nothing
//! the same way. Errors name the column and the row.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMillisecondBuilder, TimestampNanosecondBuilder, UInt8Builder,
    new_empty_array, new_null_array,
};
use arrow::compute::concat;
use arrow::datatypes::{DataType as ArrowType, Field, Schema};
use arrow::json::ReaderBuilder;
use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::{Map, Value};
use tidewater_format::DataType;
use tidewater_format::partition::validate_partition_value;
use tidewater_format::types::TIMESTAMP_TZ;

use crate::error::{InvalidInputSnafu, InvalidValueSnafu, Result};
use crate::session::layout::{BlockColumn, Layout, RowOp};

/// Something that is one JSON row.
pub trait JsonRow {
    /// The row's object, or `None` if it is not a JSON object.
    fn as_object(&self) -> Option<&Map<String, Value>>;
}

impl JsonRow for Value {
    fn as_object(&self) -> Option<&Map<String, Value>> {
        Value::as_object(self)
    }
}

impl JsonRow for Map<String, Value> {
    fn as_object(&self) -> Option<&Map<String, Value>> {
        Some(self)
    }
}

impl<T: JsonRow + ?Sized> JsonRow for &T {
    fn as_object(&self) -> Option<&Map<String, Value>> {
        (**self).as_object()
    }
}

/// One parsed value, borrowing strings from the row.
#[derive(Debug)]
pub(crate) enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Decimal(i128),
    Str(&'a str),
    Bytes(Vec<u8>),
    Nested(ArrayRef),
}

impl Cell<'_> {
    fn size(&self) -> usize {
        match self {
            Cell::Str(s) => s.len() + 4,
            Cell::Bytes(b) => b.len() + 4,
            Cell::Decimal(_) => 16,
            Cell::Nested(a) => a.get_array_memory_size(),
            _ => 8,
        }
    }
}

/// A parsed row: one cell per block column, and its operation.
pub(crate) struct ParsedRow<'a> {
    cells: Vec<Cell<'a>>,
    op: RowOp,
}

/// Parses and checks one JSON row (`row` is its number in error messages).
pub(crate) fn parse_row<'a>(
    layout: &Layout,
    json: &'a (impl JsonRow + ?Sized),
    op: RowOp,
    row: usize,
) -> Result<ParsedRow<'a>> {
    let Some(object) = json.as_object() else {
        return InvalidInputSnafu {
            table: &layout.table,
            reason: format!("row {row} is not a JSON object"),
        }
        .fail();
    };
    let mut values: Vec<Option<&'a Value>> = vec![None; layout.columns.len()];
    for (name, value) in object {
        let Some(p) = layout.position(name) else {
            return InvalidValueSnafu {
                row,
                column: name,
                reason: layout.unknown_column_reason(name),
            }
            .fail();
        };
        if values[p].is_some() {
            return InvalidValueSnafu {
                row,
                column: name,
                reason: "given twice (names are case-insensitive)".to_string(),
            }
            .fail();
        }
        values[p] = Some(value);
    }
    let mut cells = Vec::with_capacity(layout.columns.len());
    for (column, value) in layout.columns.iter().zip(values) {
        if op == RowOp::Delete && !column.needed_by_deletes() {
            cells.push(Cell::Null);
            continue;
        }
        let fail = |reason: String| {
            InvalidValueSnafu {
                row,
                column: &column.name,
                reason,
            }
            .fail()
        };
        let cell = match value {
            None | Some(Value::Null) => Cell::Null,
            Some(v) => match parse_value(column, v) {
                Ok(cell) => cell,
                Err(reason) => return fail(reason),
            },
        };
        if matches!(cell, Cell::Null) {
            if column.is_key {
                return fail("missing primary-key value".to_string());
            }
            if column.is_partition {
                return fail("missing partition value (dynamic partitions)".to_string());
            }
            if !column.nullable {
                return fail("missing value of a NOT NULL column".to_string());
            }
        }
        if column.is_partition
            && let Cell::Str(s) = cell
            && let Err(e) = validate_partition_value(&column.name, s)
        {
            return fail(e.to_string());
        }
        cells.push(cell);
    }
    Ok(ParsedRow { cells, op })
}

fn found(v: &Value) -> String {
    let text = v.to_string();
    if text.len() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// Parses one non-null JSON value of `column`; the error is the reason.
fn parse_value<'a>(column: &BlockColumn, v: &'a Value) -> Result<Cell<'a>, String> {
    let expected =
        |what: &str| format!("expected {} ({what}), found {}", column.data_type, found(v));
    let int = |min: i64, max: i64| match v.as_i64() {
        Some(i) if (min..=max).contains(&i) => Ok(Cell::Int(i)),
        Some(i) => Err(format!(
            "{i} is out of range for {} ({min}..={max})",
            column.data_type
        )),
        None => Err(expected("an integer number")),
    };
    let string = || v.as_str().ok_or_else(|| expected("a string"));
    match &column.data_type {
        DataType::Boolean => v
            .as_bool()
            .map(Cell::Bool)
            .ok_or_else(|| expected("true or false")),
        DataType::TinyInt => int(i8::MIN.into(), i8::MAX.into()),
        DataType::SmallInt => int(i16::MIN.into(), i16::MAX.into()),
        DataType::Int => int(i32::MIN.into(), i32::MAX.into()),
        DataType::BigInt => int(i64::MIN, i64::MAX),
        DataType::Float | DataType::Double => match v {
            Value::Number(n) => n
                .as_f64()
                .map(Cell::Float)
                .ok_or_else(|| expected("a number")),
            Value::String(s) => match s.as_str() {
                "NaN" => Ok(Cell::Float(f64::NAN)),
                "Infinity" => Ok(Cell::Float(f64::INFINITY)),
                "-Infinity" => Ok(Cell::Float(f64::NEG_INFINITY)),
                _ => Err(expected("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")),
            },
            _ => Err(expected("a number")),
        },
        DataType::Decimal { precision, scale } => {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
                _ => return Err(expected("a string such as \"12.30\", or an integer")),
            };
            parse_decimal(&text, *precision, *scale).map(Cell::Decimal)
        }
        DataType::String | DataType::Char(_) | DataType::Varchar(_) => {
            let s = string()?;
            if let Some(max) = column.data_type.max_chars()
                && s.len() > max as usize
                && s.chars().count() > max as usize
            {
                return Err(format!(
                    "{} characters do not fit {}",
                    s.chars().count(),
                    column.data_type
                ));
            }
            Ok(Cell::Str(s))
        }
        DataType::Binary => base64::engine::general_purpose::STANDARD
            .decode(string()?)
            .map(Cell::Bytes)
            .map_err(|e| format!("expected BINARY as base64: {e}")),
        DataType::Date => {
            let s = string()?;
            let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|e| format!("expected DATE as \"YYYY-MM-DD\", found \"{s}\": {e}"))?;
            let days = date.signed_duration_since(NaiveDate::default()).num_days();
            i32::try_from(days)
                .map(|d| Cell::Int(d.into()))
                .map_err(|_| format!("DATE \"{s}\" is out of range"))
        }
        DataType::DateTime => {
            let s = string()?;
            let parsed = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
                .map_err(|e| {
                    format!(
                        "expected DATETIME as \"YYYY-MM-DD HH:MM:SS[.fff]\" (no offset), found \"{s}\": {e}"
                    )
                })?
                .and_utc();
            if parsed.timestamp_subsec_nanos() % 1_000_000 != 0 {
                return Err(format!(
                    "DATETIME has millisecond precision; \"{s}\" has more digits"
                ));
            }
            Ok(Cell::Int(parsed.timestamp_millis()))
        }
        DataType::Timestamp => {
            let s = string()?;
            let parsed = DateTime::parse_from_rfc3339(s).map_err(|e| {
                format!("expected TIMESTAMP as RFC 3339 with an offset, found \"{s}\": {e}")
            })?;
            parsed
                .timestamp_nanos_opt()
                .map(Cell::Int)
                .ok_or_else(|| format!("TIMESTAMP \"{s}\" is out of range (years 1677..2262)"))
        }
        DataType::Array(_) | DataType::Map(..) | DataType::Struct(_) => {
            decode_nested(column, v).map(Cell::Nested)
        }
    }
}

/// Parses a decimal string exactly into its unscaled value.
pub(crate) fn parse_decimal(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let bad = || format!("\"{text}\" is not a DECIMAL({precision},{scale}) value");
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(bad());
    }
    let scale = usize::try_from(scale).map_err(|_| bad())?;
    let int_part = int_part.trim_start_matches('0');
    let significant_frac = frac_part.trim_end_matches('0');
    if significant_frac.len() > scale {
        return Err(format!(
            "\"{text}\" has more than {scale} fraction digits (DECIMAL({precision},{scale}))"
        ));
    }
    if int_part.len() > usize::from(precision).saturating_sub(scale) {
        return Err(format!(
            "\"{text}\" has more than {} integer digits (DECIMAL({precision},{scale}))",
            usize::from(precision).saturating_sub(scale)
        ));
    }
    let mut unscaled: i128 = 0;
    let frac_padded = significant_frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(scale);
    for b in int_part.bytes().chain(frac_padded) {
        // At most 38 digits: fits i128 (max ≈ 1.7e38).
        unscaled = unscaled * 10 + i128::from(b - b'0');
    }
    Ok(if negative { -unscaled } else { unscaled })
}

/// Decodes one nested value with arrow-json into a one-row array.
fn decode_nested(column: &BlockColumn, v: &Value) -> Result<ArrayRef, String> {
    let field = Field::new(&column.name, column.arrow.clone(), true);
    let schema = Arc::new(Schema::new(vec![field]));
    let mut decoder = ReaderBuilder::new(schema)
        .with_batch_size(1)
        .build_decoder()
        .map_err(|e| e.to_string())?;
    let mut object = Map::new();
    object.insert(column.name.clone(), v.clone());
    decoder
        .serialize(&[object])
        .map_err(|e| format!("expected {}: {e}", column.data_type))?;
    match decoder.flush() {
        Ok(Some(batch)) if batch.num_rows() == 1 => Ok(batch.column(0).clone()),
        Ok(_) => Err(format!("expected {}, found {}", column.data_type, found(v))),
        Err(e) => Err(format!("expected {}: {e}", column.data_type)),
    }
}

/// A column being built from parsed rows.
enum ColumnBuilder {
    Bool(BooleanBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Date(Date32Builder),
    DateTime(TimestampMillisecondBuilder),
    Timestamp(TimestampNanosecondBuilder),
    Nested(Vec<ArrayRef>, ArrowType),
}

impl ColumnBuilder {
    fn new(column: &BlockColumn) -> Self {
        match &column.data_type {
            DataType::Boolean => ColumnBuilder::Bool(BooleanBuilder::new()),
            DataType::TinyInt => ColumnBuilder::Int8(Int8Builder::new()),
            DataType::SmallInt => ColumnBuilder::Int16(Int16Builder::new()),
            DataType::Int => ColumnBuilder::Int32(Int32Builder::new()),
            DataType::BigInt => ColumnBuilder::Int64(Int64Builder::new()),
            DataType::Float => ColumnBuilder::Float32(Float32Builder::new()),
            DataType::Double => ColumnBuilder::Float64(Float64Builder::new()),
            DataType::Decimal { precision, scale } => {
                ColumnBuilder::Decimal(Decimal128Builder::new(), *precision, *scale)
            }
            DataType::String | DataType::Char(_) | DataType::Varchar(_) => {
                ColumnBuilder::Utf8(StringBuilder::new())
            }
            DataType::Binary => ColumnBuilder::Binary(BinaryBuilder::new()),
            DataType::Date => ColumnBuilder::Date(Date32Builder::new()),
            DataType::DateTime => ColumnBuilder::DateTime(TimestampMillisecondBuilder::new()),
            DataType::Timestamp => ColumnBuilder::Timestamp(TimestampNanosecondBuilder::new()),
            DataType::Array(_) | DataType::Map(..) | DataType::Struct(_) => {
                ColumnBuilder::Nested(Vec::new(), column.arrow.clone())
            }
        }
    }

    /// Appends a cell parsed for this column (so its variant matches the builder's).
    fn append(&mut self, cell: Cell<'_>) {
        // Narrowing casts below are exact: parse_value range-checked every integer.
        match (self, cell) {
            (ColumnBuilder::Nested(arrays, t), Cell::Null) => arrays.push(new_null_array(t, 1)),
            (ColumnBuilder::Nested(arrays, _), Cell::Nested(a)) => arrays.push(a),
            (ColumnBuilder::Bool(b), Cell::Bool(v)) => b.append_value(v),
            (ColumnBuilder::Int8(b), Cell::Int(v)) => b.append_value(v as i8),
            (ColumnBuilder::Int16(b), Cell::Int(v)) => b.append_value(v as i16),
            (ColumnBuilder::Int32(b), Cell::Int(v)) => b.append_value(v as i32),
            (ColumnBuilder::Date(b), Cell::Int(v)) => b.append_value(v as i32),
            (ColumnBuilder::Int64(b), Cell::Int(v)) => b.append_value(v),
            (ColumnBuilder::DateTime(b), Cell::Int(v)) => b.append_value(v),
            (ColumnBuilder::Timestamp(b), Cell::Int(v)) => b.append_value(v),
            (ColumnBuilder::Float32(b), Cell::Float(v)) => b.append_value(v as f32),
            (ColumnBuilder::Float64(b), Cell::Float(v)) => b.append_value(v),
            (ColumnBuilder::Decimal(b, ..), Cell::Decimal(v)) => b.append_value(v),
            (ColumnBuilder::Utf8(b), Cell::Str(v)) => b.append_value(v),
            (ColumnBuilder::Binary(b), Cell::Bytes(v)) => b.append_value(v),
            (builder, _) => builder.append_null(),
        }
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::Int8(b) => b.append_null(),
            ColumnBuilder::Int16(b) => b.append_null(),
            ColumnBuilder::Int32(b) => b.append_null(),
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::Float32(b) => b.append_null(),
            ColumnBuilder::Float64(b) => b.append_null(),
            ColumnBuilder::Decimal(b, ..) => b.append_null(),
            ColumnBuilder::Utf8(b) => b.append_null(),
            ColumnBuilder::Binary(b) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
            ColumnBuilder::DateTime(b) => b.append_null(),
            ColumnBuilder::Timestamp(b) => b.append_null(),
            ColumnBuilder::Nested(arrays, t) => arrays.push(new_null_array(t, 1)),
        }
    }

    fn finish(&mut self) -> Result<ArrayRef, arrow::error::ArrowError> {
        Ok(match self {
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Int8(b) => Arc::new(b.finish()),
            ColumnBuilder::Int16(b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float32(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(b, p, s) => {
                Arc::new(b.finish().with_precision_and_scale(*p, *s)?)
            }
            ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
            ColumnBuilder::Binary(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::DateTime(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish().with_timezone(TIMESTAMP_TZ)),
            ColumnBuilder::Nested(arrays, t) => {
                let arrays = std::mem::take(arrays);
                if arrays.is_empty() {
                    new_empty_array(t)
                } else {
                    let refs: Vec<&dyn arrow::array::Array> =
                        arrays.iter().map(|a| a.as_ref()).collect();
                    concat(&refs)?
                }
            }
        })
    }
}

/// JSON rows written but not yet routed to buckets, in write order.
pub(crate) struct RowBuffer {
    columns: Vec<ColumnBuilder>,
    ops: UInt8Builder,
    rows: usize,
    bytes: usize,
}

impl RowBuffer {
    pub fn new(layout: &Layout) -> Self {
        RowBuffer {
            columns: layout.columns.iter().map(ColumnBuilder::new).collect(),
            ops: UInt8Builder::new(),
            rows: 0,
            bytes: 0,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Estimated memory of the buffered rows.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends parsed rows (which cannot fail: they were checked by [`parse_row`]).
    pub fn append(&mut self, rows: Vec<ParsedRow<'_>>) {
        for row in rows {
            for (builder, cell) in self.columns.iter_mut().zip(row.cells) {
                self.bytes += cell.size();
                builder.append(cell);
            }
            self.ops.append_value(row.op.code());
            self.rows += 1;
        }
    }

    /// The buffered rows as one batch of the block schema (`None` when empty); empties the
    /// buffer.
    pub fn take_batch(
        &mut self,
        layout: &Layout,
    ) -> Result<Option<RecordBatch>, arrow::error::ArrowError> {
        if self.rows == 0 {
            return Ok(None);
        }
        let mut arrays = Vec::with_capacity(self.columns.len() + 1);
        for builder in &mut self.columns {
            arrays.push(builder.finish()?);
        }
        let ops = self.ops.finish();
        if layout.has_op_column() {
            arrays.push(Arc::new(ops) as ArrayRef);
        }
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(layout.schema.clone(), arrays).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::layout::tests::info;
    use arrow::array::Array;
    use arrow::array::cast::AsArray;
    use arrow::datatypes::{Date32Type, Decimal128Type, Int64Type, TimestampNanosecondType};
    use serde_json::json;
    use tidewater_format::api::SessionKind;

    fn column(t: DataType) -> BlockColumn {
        BlockColumn {
            name: "c".into(),
            arrow: t.to_arrow(),
            data_type: t,
            nullable: true,
            is_key: false,
            is_partition: false,
        }
    }

    fn parse(t: DataType, v: Value) -> Result<ArrayRef, String> {
        let c = column(t);
        let cell = parse_value(&c, &v)?;
        let mut b = ColumnBuilder::new(&c);
        b.append(cell);
        b.finish().map_err(|e| e.to_string())
    }

    #[test]
    fn every_type_converts_from_its_json_form() {
        let a = parse(DataType::BigInt, json!(-7)).unwrap();
        assert_eq!(a.as_primitive::<Int64Type>().value(0), -7);
        assert_eq!(parse(DataType::TinyInt, json!(127)).unwrap().len(), 1);
        assert!(parse(DataType::Boolean, json!(true)).is_ok());
        assert!(parse(DataType::Double, json!("NaN")).is_ok());
        assert!(parse(DataType::Float, json!(1.5)).is_ok());
        let d = parse(
            DataType::Decimal {
                precision: 10,
                scale: 2,
            },
            json!("-12.3"),
        )
        .unwrap();
        assert_eq!(d.as_primitive::<Decimal128Type>().value(0), -1230);
        assert_eq!(d.data_type(), &ArrowType::Decimal128(10, 2));
        let s = parse(DataType::Varchar(3), json!("äöü")).unwrap();
        assert_eq!(s.as_string::<i32>().value(0), "äöü");
        let b = parse(DataType::Binary, json!("AAEC")).unwrap();
        assert_eq!(b.as_binary::<i32>().value(0), [0u8, 1, 2]);
        let date = parse(DataType::Date, json!("1970-01-11")).unwrap();
        assert_eq!(date.as_primitive::<Date32Type>().value(0), 10);
        let dt = parse(DataType::DateTime, json!("1970-01-01 00:00:01.5")).unwrap();
        assert_eq!(dt.data_type(), &DataType::DateTime.to_arrow());
        let ts = parse(
            DataType::Timestamp,
            json!("1970-01-01T01:00:00.000000001+01:00"),
        )
        .unwrap();
        assert_eq!(ts.as_primitive::<TimestampNanosecondType>().value(0), 1);
        assert_eq!(ts.data_type(), &DataType::Timestamp.to_arrow());
        let list = parse("ARRAY<INT>".parse().unwrap(), json!([1, null, 3])).unwrap();
        assert_eq!(list.len(), 1);
        let map = parse("MAP<STRING,INT>".parse().unwrap(), json!({"a": 1})).unwrap();
        assert_eq!(
            map.data_type(),
            &"MAP<STRING,INT>".parse::<DataType>().unwrap().to_arrow()
        );
        let st = parse(
            "STRUCT<a:INT,b:STRING>".parse().unwrap(),
            json!({"a": 1, "b": "x"}),
        );
        assert!(st.is_ok(), "{st:?}");
    }

    #[test]
    fn wrong_values_are_rejected_with_a_reason() {
        let dec = DataType::Decimal {
            precision: 5,
            scale: 2,
        };
        let cases: Vec<(DataType, Value, &str)> = vec![
            (DataType::TinyInt, json!(128), "out of range"),
            (DataType::Int, json!(1.5), "integer"),
            (DataType::BigInt, json!("1"), "integer"),
            (DataType::Boolean, json!(1), "true or false"),
            (dec.clone(), json!("1.234"), "fraction digits"),
            (dec.clone(), json!("1234"), "integer digits"),
            (dec.clone(), json!(1.5), "string"),
            (dec, json!("1.2.3"), "not a DECIMAL"),
            (DataType::Varchar(2), json!("abc"), "do not fit VARCHAR(2)"),
            (DataType::String, json!(1), "a string"),
            (DataType::Binary, json!("!!"), "base64"),
            (DataType::Date, json!("2026-13-01"), "YYYY-MM-DD"),
            (
                DataType::DateTime,
                json!("2026-01-01 00:00:00.0001"),
                "millisecond",
            ),
            (
                DataType::Timestamp,
                json!("2026-01-01 00:00:00"),
                "RFC 3339",
            ),
            ("ARRAY<INT>".parse().unwrap(), json!(["x"]), "ARRAY<INT>"),
        ];
        for (t, v, needle) in cases {
            let err = parse(t.clone(), v.clone()).unwrap_err();
            assert!(err.contains(needle), "{t} {v}: {err}");
        }
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(parse_decimal("0.10", 3, 2), Ok(10));
        assert_eq!(parse_decimal("-.5", 3, 2), Ok(-50));
        assert_eq!(parse_decimal("+007.500", 3, 2), Ok(750));
        assert_eq!(parse_decimal("1", 38, 0), Ok(1));
        let max = "9".repeat(38);
        assert_eq!(parse_decimal(&max, 38, 0), Ok(10i128.pow(38) - 1));
        assert!(parse_decimal("", 3, 2).is_err());
        assert!(parse_decimal("1e3", 5, 0).is_err());
    }

    #[test]
    fn rows_are_checked_whole_and_errors_name_column_and_row() {
        let layout = Layout::new(&info(SessionKind::Upsert, false, 4)).unwrap();
        let cases: Vec<(Value, RowOp, &str)> = vec![
            (
                json!({"name": "a", "age": 1}),
                RowOp::Upsert,
                "row 3: column 'id': missing primary-key value",
            ),
            (
                json!({"id": 1, "name": "a"}),
                RowOp::Upsert,
                "row 3: column 'age': missing value of a NOT NULL column",
            ),
            (
                json!({"id": 1, "age": "x"}),
                RowOp::Upsert,
                "row 3: column 'age': expected INT",
            ),
            (
                json!({"id": 1, "agee": 1}),
                RowOp::Upsert,
                "row 3: column 'agee': unknown column",
            ),
            (json!({"id": 1, "ID": 2}), RowOp::Delete, "given twice"),
            (
                json!({"id": 1, "dd": "01"}),
                RowOp::Delete,
                "static partition",
            ),
            (json!([1, 2]), RowOp::Upsert, "row 3 is not a JSON object"),
        ];
        for (row, op, needle) in cases {
            let err = parse_row(&layout, &row, op, 3).err().unwrap().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
        // Deletes need only the key; other values are dropped (not even parsed).
        let row = json!({"id": 5, "age": "ignored"});
        assert!(parse_row(&layout, &row, RowOp::Delete, 0).is_ok());
    }

    #[test]
    fn buffered_rows_become_one_batch_in_write_order_with_ops() {
        let layout = Layout::new(&info(SessionKind::Upsert, true, 4)).unwrap();
        let mut buffer = RowBuffer::new(&layout);
        let rows = [
            json!({"id": 1, "name": "a", "age": 3, "dd": "01"}),
            json!({"ID": 1, "dd": "01"}),
        ];
        let parsed = vec![
            parse_row(&layout, &rows[0], RowOp::Upsert, 0).unwrap(),
            parse_row(&layout, &rows[1], RowOp::Delete, 1).unwrap(),
        ];
        buffer.append(parsed);
        assert_eq!(buffer.rows(), 2);
        let batch = buffer.take_batch(&layout).unwrap().unwrap();
        assert_eq!(batch.schema(), layout.schema);
        let ops = batch
            .column(4)
            .as_primitive::<arrow::datatypes::UInt8Type>();
        assert_eq!(ops.values().to_vec(), [0, 1]);
        assert!(batch.column(1).is_null(1));
        assert_eq!(buffer.rows(), 0);
        assert!(buffer.take_batch(&layout).unwrap().is_none());
        let err = parse_row(&layout, &json!({"id": 2}), RowOp::Delete, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("column 'dd': missing partition value"),
            "{err}"
        );
    }
}
