//! The MaxCompute type system (DESIGN §2) and its mapping onto Arrow.
//!
//! A [`DataType`] is written and persisted as its SQL text (`DECIMAL(10,2)`, `ARRAY<INT>`,
//! `STRUCT<a:INT,b:STRING>`); parsing is case-insensitive and `Display` gives the canonical form, so
//! `parse(display(t)) == t` for every type.
//!
//! Invariants: DECIMAL precision is 1..=38 and 0 <= scale <= precision; CHAR/VARCHAR lengths are
//! 1..=65535 (enforced on write by the engine, counted in characters).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow_schema::{DataType as ArrowType, Field, Fields, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::error::{InvalidTypeSnafu, Result};

/// Arrow field metadata key carrying the SQL type, so CHAR/VARCHAR lengths survive a round trip.
pub const SQL_TYPE_METADATA: &str = "tidewater.type";

/// Time zone of TIMESTAMP values: an absolute instant, stored as UTC.
pub const TIMESTAMP_TZ: &str = "UTC";

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DataType {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    Decimal { precision: u8, scale: i8 },
    Char(u32),
    Varchar(u32),
    String,
    Binary,
    Date,
    DateTime,
    Timestamp,
    Array(Box<DataType>),
    Map(Box<DataType>, Box<DataType>),
    Struct(Vec<(String, DataType)>),
}

const MAX_CHAR_LEN: u32 = 65535;

impl DataType {
    /// The Arrow type values of this type are stored and exchanged as.
    pub fn to_arrow(&self) -> ArrowType {
        match self {
            DataType::Boolean => ArrowType::Boolean,
            DataType::TinyInt => ArrowType::Int8,
            DataType::SmallInt => ArrowType::Int16,
            DataType::Int => ArrowType::Int32,
            DataType::BigInt => ArrowType::Int64,
            DataType::Float => ArrowType::Float32,
            DataType::Double => ArrowType::Float64,
            DataType::Decimal { precision, scale } => ArrowType::Decimal128(*precision, *scale),
            DataType::Char(_) | DataType::Varchar(_) | DataType::String => ArrowType::Utf8,
            DataType::Binary => ArrowType::Binary,
            DataType::Date => ArrowType::Date32,
            DataType::DateTime => ArrowType::Timestamp(TimeUnit::Millisecond, None),
            DataType::Timestamp => {
                ArrowType::Timestamp(TimeUnit::Nanosecond, Some(TIMESTAMP_TZ.into()))
            }
            DataType::Array(item) => {
                ArrowType::List(Arc::new(Field::new("item", item.to_arrow(), true)))
            }
            DataType::Map(k, v) => ArrowType::Map(
                Arc::new(Field::new(
                    "entries",
                    ArrowType::Struct(Fields::from(vec![
                        Field::new("key", k.to_arrow(), false),
                        Field::new("value", v.to_arrow(), true),
                    ])),
                    false,
                )),
                false,
            ),
            DataType::Struct(fields) => ArrowType::Struct(Fields::from(
                fields
                    .iter()
                    .map(|(n, t)| Field::new(n, t.to_arrow(), true))
                    .collect::<Vec<_>>(),
            )),
        }
    }

    /// Whether values of this type may form a primary key (and be hashed into buckets).
    pub fn is_key_type(&self) -> bool {
        !matches!(
            self,
            DataType::Array(_) | DataType::Map(..) | DataType::Struct(_)
        )
    }

    /// The declared maximum length in characters, for CHAR(n) and VARCHAR(n).
    pub fn max_chars(&self) -> Option<u32> {
        match self {
            DataType::Char(n) | DataType::Varchar(n) => Some(*n),
            _ => None,
        }
    }

    /// Whether strings of this type may be used as partition values.
    pub fn is_string_like(&self) -> bool {
        matches!(
            self,
            DataType::String | DataType::Char(_) | DataType::Varchar(_)
        )
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Boolean => f.write_str("BOOLEAN"),
            DataType::TinyInt => f.write_str("TINYINT"),
            DataType::SmallInt => f.write_str("SMALLINT"),
            DataType::Int => f.write_str("INT"),
            DataType::BigInt => f.write_str("BIGINT"),
            DataType::Float => f.write_str("FLOAT"),
            DataType::Double => f.write_str("DOUBLE"),
            DataType::Decimal { precision, scale } => write!(f, "DECIMAL({precision},{scale})"),
            DataType::Char(n) => write!(f, "CHAR({n})"),
            DataType::Varchar(n) => write!(f, "VARCHAR({n})"),
            DataType::String => f.write_str("STRING"),
            DataType::Binary => f.write_str("BINARY"),
            DataType::Date => f.write_str("DATE"),
            DataType::DateTime => f.write_str("DATETIME"),
            DataType::Timestamp => f.write_str("TIMESTAMP"),
            DataType::Array(t) => write!(f, "ARRAY<{t}>"),
            DataType::Map(k, v) => write!(f, "MAP<{k},{v}>"),
            DataType::Struct(fields) => {
                f.write_str("STRUCT<")?;
                for (i, (n, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{n}:{t}")?;
                }
                f.write_str(">")
            }
        }
    }
}

impl From<DataType> for String {
    fn from(t: DataType) -> String {
        t.to_string()
    }
}

impl TryFrom<String> for DataType {
    type Error = crate::Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl FromStr for DataType {
    type Err = crate::Error;

    fn from_str(text: &str) -> Result<Self> {
        let mut p = Parser { text, pos: 0 };
        let t = p.parse_type()?;
        p.skip_ws();
        if p.pos != text.len() {
            return p.fail("unexpected trailing text");
        }
        Ok(t)
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn fail<T>(&self, reason: &str) -> Result<T> {
        InvalidTypeSnafu {
            text: self.text.to_string(),
            reason: format!("{reason} at position {}", self.pos),
        }
        .fail()
    }

    fn skip_ws(&mut self) {
        while self.text[self.pos..].starts_with(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn word(&mut self) -> &str {
        self.skip_ws();
        let start = self.pos;
        let rest = &self.text[start..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.pos += len;
        &self.text[start..start + len]
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.text[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            self.fail(&format!("expected '{c}'"))
        }
    }

    fn number(&mut self) -> Result<u32> {
        let w = self.word().to_string();
        match w.parse::<u32>() {
            Ok(n) => Ok(n),
            Err(_) => self.fail(&format!("expected a number, found '{w}'")),
        }
    }

    fn parse_type(&mut self) -> Result<DataType> {
        let name = self.word().to_ascii_uppercase();
        let t = match name.as_str() {
            "BOOLEAN" | "BOOL" => DataType::Boolean,
            "TINYINT" => DataType::TinyInt,
            "SMALLINT" => DataType::SmallInt,
            "INT" | "INTEGER" => DataType::Int,
            "BIGINT" | "LONG" => DataType::BigInt,
            "FLOAT" => DataType::Float,
            "DOUBLE" => DataType::Double,
            "DECIMAL" => {
                let (mut precision, mut scale) = (38, 18);
                if self.eat('(') {
                    precision = self.number()?;
                    scale = if self.eat(',') { self.number()? } else { 0 };
                    self.expect(')')?;
                }
                if !(1..=38).contains(&precision) {
                    return self.fail("DECIMAL precision must be between 1 and 38");
                }
                if scale > precision {
                    return self.fail("DECIMAL scale must not exceed its precision");
                }
                DataType::Decimal {
                    precision: precision as u8,
                    scale: scale as i8,
                }
            }
            "CHAR" | "VARCHAR" => {
                self.expect('(')?;
                let n = self.number()?;
                self.expect(')')?;
                if !(1..=MAX_CHAR_LEN).contains(&n) {
                    return self.fail(&format!(
                        "{name} length must be between 1 and {MAX_CHAR_LEN}"
                    ));
                }
                if name == "CHAR" {
                    DataType::Char(n)
                } else {
                    DataType::Varchar(n)
                }
            }
            "STRING" => DataType::String,
            "BINARY" => DataType::Binary,
            "DATE" => DataType::Date,
            "DATETIME" => DataType::DateTime,
            "TIMESTAMP" => DataType::Timestamp,
            "ARRAY" => {
                self.expect('<')?;
                let item = self.parse_type()?;
                self.expect('>')?;
                DataType::Array(Box::new(item))
            }
            "MAP" => {
                self.expect('<')?;
                let k = self.parse_type()?;
                if !k.is_key_type() {
                    return self.fail("MAP keys must be of a primitive type");
                }
                self.expect(',')?;
                let v = self.parse_type()?;
                self.expect('>')?;
                DataType::Map(Box::new(k), Box::new(v))
            }
            "STRUCT" => {
                self.expect('<')?;
                let mut fields: Vec<(String, DataType)> = Vec::new();
                loop {
                    let fname = self.word().to_string();
                    if fname.is_empty() {
                        return self.fail("expected a STRUCT field name");
                    }
                    if fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(&fname)) {
                        return self.fail(&format!("duplicate STRUCT field '{fname}'"));
                    }
                    self.expect(':')?;
                    fields.push((fname, self.parse_type()?));
                    if !self.eat(',') {
                        break;
                    }
                }
                self.expect('>')?;
                DataType::Struct(fields)
            }
            "" => return self.fail("expected a type name"),
            other => return self.fail(&format!("unknown type '{other}'")),
        };
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_text() {
        for text in [
            "BOOLEAN",
            "TINYINT",
            "SMALLINT",
            "INT",
            "BIGINT",
            "FLOAT",
            "DOUBLE",
            "DECIMAL(10,2)",
            "DECIMAL(38,0)",
            "CHAR(4)",
            "VARCHAR(16)",
            "STRING",
            "BINARY",
            "DATE",
            "DATETIME",
            "TIMESTAMP",
            "ARRAY<INT>",
            "MAP<STRING,ARRAY<DOUBLE>>",
            "STRUCT<a:INT,b:STRUCT<c:STRING>>",
        ] {
            let t: DataType = text.parse().unwrap();
            assert_eq!(t.to_string(), text);
        }
    }

    #[test]
    fn parsing_is_case_insensitive_and_accepts_aliases() {
        assert_eq!("bigint".parse::<DataType>().unwrap(), DataType::BigInt);
        assert_eq!("long".parse::<DataType>().unwrap(), DataType::BigInt);
        assert_eq!(
            "decimal".parse::<DataType>().unwrap(),
            DataType::Decimal {
                precision: 38,
                scale: 18
            }
        );
        assert_eq!(
            " array < varchar(3) > ".parse::<DataType>().unwrap(),
            DataType::Array(Box::new(DataType::Varchar(3)))
        );
    }

    #[test]
    fn bad_types_are_rejected_with_a_reason() {
        for (text, reason) in [
            ("DECIMAL(39,2)", "precision"),
            ("DECIMAL(5,6)", "scale"),
            ("VARCHAR", "expected '('"),
            ("VARCHAR(0)", "length"),
            ("ARRAY<INT", "expected '>'"),
            ("BLOB", "unknown type 'BLOB'"),
            ("INT INT", "trailing"),
            ("MAP<ARRAY<INT>,INT>", "primitive"),
        ] {
            let err = text.parse::<DataType>().unwrap_err().to_string();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn arrow_mapping_follows_the_design() {
        assert_eq!(
            DataType::DateTime.to_arrow(),
            ArrowType::Timestamp(TimeUnit::Millisecond, None)
        );
        assert_eq!(
            DataType::Timestamp.to_arrow(),
            ArrowType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        );
        assert_eq!(
            DataType::Decimal {
                precision: 20,
                scale: 4
            }
            .to_arrow(),
            ArrowType::Decimal128(20, 4)
        );
        assert_eq!(DataType::Varchar(5).to_arrow(), ArrowType::Utf8);
        assert!(matches!(
            "MAP<STRING,INT>".parse::<DataType>().unwrap().to_arrow(),
            ArrowType::Map(_, false)
        ));
    }

    #[test]
    fn serde_uses_the_sql_text() {
        let t = DataType::Decimal {
            precision: 10,
            scale: 2,
        };
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"DECIMAL(10,2)\"");
        let back: DataType = serde_json::from_str("\"decimal(10,2)\"").unwrap();
        assert_eq!(back, t);
    }
}
