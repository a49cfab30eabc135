//! Typed primary-key values.
//!
//! A key is a `Vec<KeyValue>`, one value per primary-key column, compared lexicographically. The
//! order of each variant equals the order the engine sorts data files in (integers and temporal
//! values numerically, strings and binaries bytewise, floats by IEEE total order, `false < true`),
//! so file `min_key`/`max_key` bounds can prune files for key lookups.

use std::cmp::Ordering;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_schema::{DataType as ArrowType, TimeUnit};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyValue {
    Bool(bool),
    /// Every integer width, DATE (days), DATETIME (ms) and TIMESTAMP (ns).
    Int(i64),
    Float(TotalF64),
    /// DECIMAL: the unscaled value (persisted as a decimal string, JSON numbers are too narrow).
    Decimal(#[serde(with = "i128_string")] i128),
    Str(String),
    /// BINARY, persisted as lower-case hex.
    Bytes(#[serde(with = "hex_bytes")] Vec<u8>),
}

/// An f64 ordered by IEEE total order.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TotalF64(pub f64);

impl PartialEq for TotalF64 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for TotalF64 {}
impl PartialOrd for TotalF64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TotalF64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}
impl std::hash::Hash for TotalF64 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state)
    }
}

mod i128_string {
    use super::*;
    pub fn serialize<S: Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

mod hex_bytes {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(v.len() * 2);
        for b in v {
            out.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&out)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd hex length"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(serde::de::Error::custom))
            .collect()
    }
}

impl KeyValue {
    /// The value of row `row` of a key column, or `None` if it is NULL or of a type that cannot
    /// be a key.
    pub fn from_array(array: &dyn Array, row: usize) -> Option<KeyValue> {
        if array.is_null(row) {
            return None;
        }
        Some(match array.data_type() {
            ArrowType::Boolean => KeyValue::Bool(array.as_boolean().value(row)),
            ArrowType::Int8 => KeyValue::Int(array.as_primitive::<Int8Type>().value(row).into()),
            ArrowType::Int16 => KeyValue::Int(array.as_primitive::<Int16Type>().value(row).into()),
            ArrowType::Int32 => KeyValue::Int(array.as_primitive::<Int32Type>().value(row).into()),
            ArrowType::Int64 => KeyValue::Int(array.as_primitive::<Int64Type>().value(row)),
            ArrowType::Date32 => {
                KeyValue::Int(array.as_primitive::<Date32Type>().value(row).into())
            }
            ArrowType::Timestamp(TimeUnit::Millisecond, _) => {
                KeyValue::Int(array.as_primitive::<TimestampMillisecondType>().value(row))
            }
            ArrowType::Timestamp(TimeUnit::Nanosecond, _) => {
                KeyValue::Int(array.as_primitive::<TimestampNanosecondType>().value(row))
            }
            ArrowType::Float32 => KeyValue::Float(TotalF64(
                array.as_primitive::<Float32Type>().value(row).into(),
            )),
            ArrowType::Float64 => {
                KeyValue::Float(TotalF64(array.as_primitive::<Float64Type>().value(row)))
            }
            ArrowType::Decimal128(..) => {
                KeyValue::Decimal(array.as_primitive::<Decimal128Type>().value(row))
            }
            ArrowType::Utf8 => KeyValue::Str(array.as_string::<i32>().value(row).to_string()),
            ArrowType::Binary => KeyValue::Bytes(array.as_binary::<i32>().value(row).to_vec()),
            _ => return None,
        })
    }

    /// The key of row `row` of the given key columns; `None` if any value is NULL.
    pub fn key_of_row(columns: &[&dyn Array], row: usize) -> Option<Vec<KeyValue>> {
        columns
            .iter()
            .map(|c| KeyValue::from_array(*c, row))
            .collect()
    }
}

impl std::fmt::Display for KeyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyValue::Bool(v) => write!(f, "{v}"),
            KeyValue::Int(v) => write!(f, "{v}"),
            KeyValue::Float(v) => write!(f, "{}", v.0),
            KeyValue::Decimal(v) => write!(f, "{v}"),
            KeyValue::Str(v) => write!(f, "'{v}'"),
            KeyValue::Bytes(v) => write!(f, "{} bytes", v.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};

    #[test]
    fn keys_compare_lexicographically_by_column() {
        let a = vec![KeyValue::Int(1), KeyValue::Str("b".into())];
        let b = vec![KeyValue::Int(1), KeyValue::Str("c".into())];
        let c = vec![KeyValue::Int(2), KeyValue::Str("a".into())];
        assert!(a < b && b < c);
        assert!(KeyValue::Float(TotalF64(-0.0)) < KeyValue::Float(TotalF64(0.0)));
    }

    #[test]
    fn key_values_serialize_losslessly() {
        let key = vec![
            KeyValue::Decimal(i128::MAX),
            KeyValue::Bytes(vec![0, 255, 16]),
            KeyValue::Int(i64::MIN),
            KeyValue::Str("阿里".into()),
        ];
        let json = serde_json::to_string(&key).unwrap();
        assert!(json.contains("\"00ff10\""), "{json}");
        let back: Vec<KeyValue> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, key);
    }

    #[test]
    fn key_of_row_reads_arrow_and_rejects_nulls() {
        let ids = Int64Array::from(vec![Some(7), None]);
        let names = StringArray::from(vec!["x", "y"]);
        let cols: Vec<&dyn Array> = vec![&ids, &names];
        assert_eq!(
            KeyValue::key_of_row(&cols, 0),
            Some(vec![KeyValue::Int(7), KeyValue::Str("x".into())])
        );
        assert_eq!(KeyValue::key_of_row(&cols, 1), None);
    }
}
