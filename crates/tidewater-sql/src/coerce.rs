//! Implicit conversion of values written by SQL (`INSERT` sources, `UPDATE` expressions) to the
//! column types of the table.
//!
//! Allowed, with every value checked (an out-of-range value is an error, never wrapped or cut):
//! NULL to any type; integers and decimals to wider or narrower integers, decimals and floats;
//! floats to floats and decimals; strings to STRING/VARCHAR/CHAR/BINARY and — parsed — to DATE,
//! DATETIME and TIMESTAMP; dates and timestamps to DATETIME/TIMESTAMP (zone-less values are UTC);
//! nested values of the same shape. Everything else — a string into a number, a boolean into a
//! number, a number into a string, a float into an integer — is a type mismatch that names the
//! column and suggests an explicit `CAST`. CHAR/VARCHAR lengths, NOT NULL and primary keys are
//! checked by the engine when the rows are written.

use datafusion::arrow::array::{Array, ArrayRef, new_null_array};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::DataType as A;
use datafusion::arrow::util::display::FormatOptions;
use tidewater_format::Column;

use crate::error::{Error, Result};

fn is_int(t: &A) -> bool {
    t.is_integer()
}

fn is_decimal(t: &A) -> bool {
    matches!(
        t,
        A::Decimal32(..) | A::Decimal64(..) | A::Decimal128(..) | A::Decimal256(..)
    )
}

fn is_float(t: &A) -> bool {
    t.is_floating()
}

fn is_string(t: &A) -> bool {
    matches!(t, A::Utf8 | A::LargeUtf8 | A::Utf8View)
}

fn is_binary(t: &A) -> bool {
    matches!(
        t,
        A::Binary | A::LargeBinary | A::BinaryView | A::FixedSizeBinary(_)
    )
}

fn is_temporal(t: &A) -> bool {
    matches!(t, A::Date32 | A::Date64 | A::Timestamp(..))
}

fn allowed(from: &A, to: &A) -> bool {
    if from == to || from.equals_datatype(to) || *from == A::Null {
        return true;
    }
    match to {
        A::Int8 | A::Int16 | A::Int32 | A::Int64 => is_int(from),
        A::Decimal128(..) => is_int(from) || is_decimal(from) || is_float(from),
        A::Float32 | A::Float64 => is_int(from) || is_decimal(from) || is_float(from),
        A::Utf8 => is_string(from),
        A::Binary => is_binary(from) || is_string(from),
        A::Date32 => is_string(from) || matches!(from, A::Date64),
        A::Timestamp(..) => is_string(from) || is_temporal(from),
        A::Boolean => false,
        A::List(_) => matches!(from, A::List(_) | A::LargeList(_) | A::FixedSizeList(..)),
        A::Map(..) => matches!(from, A::Map(..)),
        A::Struct(_) => matches!(from, A::Struct(_)),
        _ => false,
    }
}

fn sql_name(t: &A) -> String {
    match t {
        A::Null => "NULL".into(),
        A::Boolean => "a BOOLEAN".into(),
        A::Int8 | A::Int16 | A::Int32 | A::Int64 => "an integer".into(),
        A::UInt8 | A::UInt16 | A::UInt32 | A::UInt64 => "an unsigned integer".into(),
        A::Float16 | A::Float32 | A::Float64 => "a floating-point number".into(),
        t if is_decimal(t) => format!("a decimal ({t})"),
        t if is_string(t) => "a string".into(),
        t if is_binary(t) => "binary".into(),
        A::Date32 | A::Date64 => "a DATE".into(),
        A::Timestamp(..) => "a timestamp".into(),
        other => format!("of Arrow type {other}"),
    }
}

/// Checks, before any row is read, that values of type `from` may be written to `column`.
pub(crate) fn check(column: &Column, from: &A) -> Result<()> {
    if allowed(from, &column.data_type.to_arrow()) {
        return Ok(());
    }
    Err(Error::TypeMismatch {
        column: column.name.clone(),
        expected: column.data_type.to_string(),
        actual: sql_name(from),
        hint: format!(
            "; convert it explicitly, e.g. CAST(… AS {})",
            column.data_type
        ),
    })
}

/// Converts `array` to the type of `column`, or fails naming the column.
pub(crate) fn coerce(column: &Column, array: &ArrayRef) -> Result<ArrayRef> {
    let to = column.data_type.to_arrow();
    let from = array.data_type();
    if from == &to {
        return Ok(array.clone());
    }
    if *from == A::Null {
        return Ok(new_null_array(&to, array.len()));
    }
    check(column, from)?;
    let options = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    cast_with_options(array, &to, &options).map_err(|e| {
        Error::invalid(format!(
            "column '{}' ({}): a value cannot be converted: {e}",
            column.name, column.data_type
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use tidewater_format::DataType;

    use super::*;

    #[test]
    fn integers_narrow_with_a_range_check() {
        let c = Column::new("age", DataType::Int);
        let ok = coerce(&c, &(Arc::new(Int64Array::from(vec![27])) as ArrayRef)).unwrap();
        assert_eq!(ok.data_type(), &A::Int32);
        let big = Arc::new(Int64Array::from(vec![1 << 40])) as ArrayRef;
        let e = coerce(&c, &big).unwrap_err().to_string();
        assert!(e.contains("column 'age' (INT)"), "{e}");
    }

    #[test]
    fn strings_do_not_become_numbers_implicitly() {
        let c = Column::new("age", DataType::Int);
        let e = coerce(&c, &(Arc::new(StringArray::from(vec!["27"])) as ArrayRef))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column 'age' is INT, but the value is a string"),
            "{e}"
        );
        let c = Column::new("name", DataType::String);
        assert!(coerce(&c, &(Arc::new(Int64Array::from(vec![1])) as ArrayRef)).is_err());
    }

    #[test]
    fn strings_parse_into_timestamps_as_utc() {
        let c = Column::new("ts", DataType::Timestamp);
        let a = coerce(
            &c,
            &(Arc::new(StringArray::from(vec!["2026-11-21 10:00:00"])) as ArrayRef),
        )
        .unwrap();
        let ts = a
            .as_any()
            .downcast_ref::<datafusion::arrow::array::TimestampNanosecondArray>()
            .unwrap();
        assert_eq!(ts.value(0), 1_795_255_200_000_000_000);
    }
}
