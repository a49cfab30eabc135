//! Partition specs: one value per `PARTITIONED BY` column, in the table's column order.
//!
//! Written by users as `dd=01/hh=02` or `dd='01',hh='02'`. Values are non-empty strings of at most
//! 255 bytes without control characters. In paths every byte outside `[A-Za-z0-9_-]` is
//! percent-escaped (so `.`, `/` and `%` never reach a path unescaped), and [`PartitionSpec::dir`]
//! is reversible by [`PartitionSpec::from_dir`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{InvalidPartitionSnafu, Result};
use crate::path::validate_name;

pub const MAX_PARTITION_VALUE_BYTES: usize = 255;
pub const MAX_PARTITION_LEVELS: usize = 6;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct PartitionSpec(pub Vec<(String, String)>);

/// Checks one partition value; `column` names it in the error.
pub fn validate_partition_value(column: &str, value: &str) -> Result<()> {
    let reason = if value.is_empty() {
        Some("is empty".to_string())
    } else if value.len() > MAX_PARTITION_VALUE_BYTES {
        Some(format!(
            "is {} bytes long, at most {MAX_PARTITION_VALUE_BYTES} are allowed",
            value.len()
        ))
    } else if value.chars().any(|c| c.is_control()) {
        Some("contains a control character".to_string())
    } else {
        None
    };
    match reason {
        Some(reason) => InvalidPartitionSnafu {
            spec: format!("{column}={}", value.escape_debug()),
            reason: format!("the value of partition column '{column}' {reason}"),
        }
        .fail(),
        None => Ok(()),
    }
}

fn escape(value: &str, out: &mut String) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl PartitionSpec {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses `dd=01/hh=02` or `dd='01',hh='02'` and checks it against the table's partition
    /// columns (`columns`, in order): every column exactly once, valid values.
    pub fn parse(text: &str, columns: &[&str]) -> Result<Self> {
        let fail = |reason: String| InvalidPartitionSnafu { spec: text, reason }.fail();
        let text_trim = text.trim();
        let mut pairs: Vec<(String, String)> = Vec::new();
        if !text_trim.is_empty() {
            for part in text_trim.split(['/', ',']) {
                let Some((k, v)) = part.split_once('=') else {
                    return fail(format!("'{part}' is not of the form column=value"));
                };
                let k = k.trim();
                let v = v.trim();
                let v = v
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| v.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                    .unwrap_or(v);
                pairs.push((k.to_string(), v.to_string()));
            }
        }
        Self::from_pairs(pairs, columns).map_err(|e| match e {
            crate::Error::InvalidPartition { reason, .. } => {
                InvalidPartitionSnafu { spec: text, reason }.build()
            }
            other => other,
        })
    }

    /// Builds a spec from (column, value) pairs, reordered to the table's partition columns.
    pub fn from_pairs(pairs: Vec<(String, String)>, columns: &[&str]) -> Result<Self> {
        let spec_text = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("/");
        let fail = |reason: String| {
            InvalidPartitionSnafu {
                spec: spec_text.clone(),
                reason,
            }
            .fail()
        };
        if columns.is_empty() && !pairs.is_empty() {
            return fail("the table is not partitioned".into());
        }
        let mut out = Vec::with_capacity(columns.len());
        for col in columns {
            let matching: Vec<&(String, String)> = pairs
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(col))
                .collect();
            match matching.as_slice() {
                [] => return fail(format!("partition column '{col}' has no value")),
                [(_, v)] => {
                    validate_partition_value(col, v)?;
                    out.push((col.to_string(), v.clone()));
                }
                _ => return fail(format!("partition column '{col}' is given more than once")),
            }
        }
        if let Some((k, _)) = pairs
            .iter()
            .find(|(k, _)| !columns.iter().any(|c| c.eq_ignore_ascii_case(k)))
        {
            return fail(format!(
                "'{k}' is not a partition column (partition columns: {})",
                columns.join(", ")
            ));
        }
        Ok(PartitionSpec(out))
    }

    /// The values, in partition-column order.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(_, v)| v.as_str())
    }

    /// The escaped directory of this partition below `data/` (`dd=01/hh=02`), empty when the
    /// table is not partitioned.
    pub fn dir(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(k);
            out.push('=');
            escape(v, &mut out);
        }
        out
    }

    /// Inverse of [`PartitionSpec::dir`].
    pub fn from_dir(dir: &str) -> Result<Self> {
        let fail = |reason: &str| InvalidPartitionSnafu { spec: dir, reason }.fail();
        if dir.is_empty() {
            return Ok(PartitionSpec::default());
        }
        let mut out = Vec::new();
        for part in dir.split('/') {
            let Some((k, v)) = part.split_once('=') else {
                return fail("not of the form column=value");
            };
            if validate_name("column", k).is_err() {
                return fail("bad column name");
            }
            let Some(v) = unescape(v) else {
                return fail("bad escape");
            };
            out.push((k.to_string(), v));
        }
        Ok(PartitionSpec(out))
    }
}

impl fmt::Display for PartitionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_parse_into_column_order() {
        let a = PartitionSpec::parse("hh=01/dd=02", &["dd", "hh"]).unwrap();
        let b = PartitionSpec::parse("dd='02', hh='01'", &["dd", "hh"]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "dd=02/hh=01");
        assert_eq!(a.values().collect::<Vec<_>>(), ["02", "01"]);
    }

    #[test]
    fn escaping_keeps_dots_slashes_and_percent_out_of_paths() {
        let spec = PartitionSpec(vec![("p".into(), "../a/b%c d.é".into())]);
        let dir = spec.dir();
        assert_eq!(dir, "p=%2E%2E%2Fa%2Fb%25c%20d%2E%C3%A9");
        assert!(!dir.contains(".."));
        assert_eq!(PartitionSpec::from_dir(&dir).unwrap(), spec);
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (text, needle) in [
            ("dd=01", "partition column 'hh' has no value"),
            ("dd=01/hh=01/xx=1", "'xx' is not a partition column"),
            ("dd=01/dd=02/hh=1", "given more than once"),
            ("dd=/hh=01", "'dd' is empty"),
            ("dd01/hh=01", "not of the form"),
        ] {
            let err = PartitionSpec::parse(text, &["dd", "hh"])
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let err = PartitionSpec::parse("dd=01", &[]).unwrap_err().to_string();
        assert!(err.contains("not partitioned"), "{err}");
        let long = format!("dd={}/hh=1", "x".repeat(256));
        assert!(PartitionSpec::parse(&long, &["dd", "hh"]).is_err());
        assert!(PartitionSpec::parse("dd=a\u{1}/hh=1", &["dd", "hh"]).is_err());
    }
}
