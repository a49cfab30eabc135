//! Table properties, named as MaxCompute users know them.
//!
//! | property | default | range |
//! |---|---|---|
//! | `transactional` | `false` | `true` / `false`; `true` makes a Delta table (needs a primary key) |
//! | `write.bucket.num` | 16 | 1..=4096; Delta tables only; frozen once the table exists |
//! | `acid.data.retain.hours` | 24 | 0..=168 (time-travel window) |
//!
//! Unknown properties and out-of-range values are errors naming the property.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{InvalidPropertySnafu, Result};

pub const TRANSACTIONAL: &str = "transactional";
pub const WRITE_BUCKET_NUM: &str = "write.bucket.num";
pub const RETAIN_HOURS: &str = "acid.data.retain.hours";

pub const DEFAULT_BUCKET_NUM: u32 = 16;
pub const MAX_BUCKET_NUM: u32 = 4096;
pub const DEFAULT_RETAIN_HOURS: u32 = 24;
pub const MAX_RETAIN_HOURS: u32 = 168;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableProperties {
    pub transactional: bool,
    /// Number of hash buckets of a Delta table; 1 for standard tables.
    pub bucket_num: u32,
    pub retain_hours: u32,
}

impl Default for TableProperties {
    fn default() -> Self {
        TableProperties {
            transactional: false,
            bucket_num: 1,
            retain_hours: DEFAULT_RETAIN_HOURS,
        }
    }
}

fn parse_u32(property: &str, value: &str, range: std::ops::RangeInclusive<u32>) -> Result<u32> {
    let v: u32 = value.trim().parse().map_err(|_| {
        InvalidPropertySnafu {
            property,
            reason: format!("'{value}' is not a whole number"),
        }
        .build()
    })?;
    if !range.contains(&v) {
        return InvalidPropertySnafu {
            property,
            reason: format!("{v} is out of range {}..={}", range.start(), range.end()),
        }
        .fail();
    }
    Ok(v)
}

impl TableProperties {
    /// Parses the `TBLPROPERTIES` of a `CREATE TABLE`. Keys are case-insensitive.
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<Self> {
        let mut transactional = false;
        let mut bucket_num = None;
        let mut retain_hours = DEFAULT_RETAIN_HOURS;
        for (key, value) in map {
            match key.to_ascii_lowercase().as_str() {
                TRANSACTIONAL => {
                    transactional = match value.trim().to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return InvalidPropertySnafu {
                                property: key.clone(),
                                reason: format!("'{value}' is not 'true' or 'false'"),
                            }
                            .fail();
                        }
                    }
                }
                WRITE_BUCKET_NUM => bucket_num = Some(parse_u32(key, value, 1..=MAX_BUCKET_NUM)?),
                RETAIN_HOURS => retain_hours = parse_u32(key, value, 0..=MAX_RETAIN_HOURS)?,
                _ => {
                    return InvalidPropertySnafu {
                        property: key.clone(),
                        reason: format!(
                            "unknown property (known: {TRANSACTIONAL}, {WRITE_BUCKET_NUM}, {RETAIN_HOURS})"
                        ),
                    }
                    .fail();
                }
            }
        }
        let bucket_num = match (transactional, bucket_num) {
            (true, n) => n.unwrap_or(DEFAULT_BUCKET_NUM),
            (false, None) => 1,
            (false, Some(_)) => {
                return InvalidPropertySnafu {
                    property: WRITE_BUCKET_NUM,
                    reason: "only Delta tables (\"transactional\"=\"true\") are bucketed",
                }
                .fail();
            }
        };
        Ok(TableProperties {
            transactional,
            bucket_num,
            retain_hours,
        })
    }

    /// The properties as `SHOW`/`DESC` print them.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert(TRANSACTIONAL.into(), self.transactional.to_string());
        if self.transactional {
            m.insert(WRITE_BUCKET_NUM.into(), self.bucket_num.to_string());
        }
        m.insert(RETAIN_HOURS.into(), self.retain_hours.to_string());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Result<TableProperties> {
        TableProperties::from_map(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn delta_table_defaults_to_16_buckets_and_24_hours() {
        let p = props(&[("transactional", "true")]).unwrap();
        assert_eq!(
            (p.transactional, p.bucket_num, p.retain_hours),
            (true, 16, 24)
        );
    }

    #[test]
    fn reference_properties_parse() {
        let p = props(&[
            ("transactional", "true"),
            ("write.bucket.num", "64"),
            ("acid.data.retain.hours", "12"),
        ])
        .unwrap();
        assert_eq!((p.bucket_num, p.retain_hours), (64, 12));
        assert_eq!(TableProperties::from_map(&p.to_map()).unwrap(), p);
    }

    #[test]
    fn bad_properties_name_the_property() {
        for (pairs, needle) in [
            (
                vec![("transactional", "true"), ("write.bucket.num", "0")],
                "'write.bucket.num': 0 is out of range 1..=4096",
            ),
            (
                vec![("transactional", "true"), ("write.bucket.num", "4097")],
                "out of range",
            ),
            (
                vec![("transactional", "true"), ("write.bucket.num", "x")],
                "'x' is not a whole number",
            ),
            (
                vec![("acid.data.retain.hours", "169")],
                "'acid.data.retain.hours'",
            ),
            (vec![("transactional", "yes")], "'transactional'"),
            (
                vec![("write.bucket.nums", "4")],
                "'write.bucket.nums': unknown property",
            ),
            (vec![("write.bucket.num", "4")], "only Delta tables"),
        ] {
            let err = props(&pairs).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
