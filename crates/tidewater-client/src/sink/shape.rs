//! Shaping a record for the session: partition columns (static `sink.partition`, a parent
//! partition with dynamic partitions below it, `sink.partition.default-value` for NULL) and
//! zone-less TIMESTAMP values read in `sink.time-zone`.
//!
//! Invariants: a TIMESTAMP without an offset is interpreted in the configured zone and sent
//! with an explicit UTC offset; a wall-clock time that the zone skips or repeats (DST) is an
//! error, never silently shifted; values with an offset are sent unchanged. DATETIME values
//! are zone-less wall clock by definition and are never converted. A record whose partition
//! value contradicts `sink.partition` is an error, never moved to another partition.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone as _, Utc};
use serde_json::{Map, Value};
use tidewater_format::{DataType, TableSchema};

use crate::sink::options::TimeZone;

/// How records of one sink are shaped; built once from the table and the options.
#[derive(Debug, Clone)]
pub(crate) struct Shaper {
    /// Partition columns of the table, in order.
    partition_columns: Vec<String>,
    /// Values fixed by `sink.partition`, per partition column (a prefix of them).
    fixed: Vec<Option<String>>,
    /// Every partition column is fixed: one static-partition session.
    pub static_spec: Option<String>,
    default_value: String,
    timestamp_columns: Vec<String>,
    time_zone: TimeZone,
}

impl Shaper {
    pub fn new(
        schema: &TableSchema,
        partition: &[(String, String)],
        default_value: &str,
        time_zone: TimeZone,
    ) -> Result<Shaper, String> {
        let partition_columns: Vec<String> = schema
            .partition_columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        if partition_columns.is_empty() && !partition.is_empty() {
            return Err("the table is not partitioned".to_string());
        }
        if partition.len() > partition_columns.len() {
            return Err(format!(
                "gives {} partition values; the table has {} partition columns ({})",
                partition.len(),
                partition_columns.len(),
                partition_columns.join(", ")
            ));
        }
        let mut fixed = vec![None; partition_columns.len()];
        for (i, (column, value)) in partition.iter().enumerate() {
            if !partition_columns[i].eq_ignore_ascii_case(column) {
                return Err(format!(
                    "'{column}' is not partition column {} of the table; give a prefix of ({}) in order",
                    i + 1,
                    partition_columns.join(", ")
                ));
            }
            tidewater_format::partition::validate_partition_value(column, value)
                .map_err(|e| e.to_string())?;
            fixed[i] = Some(value.clone());
        }
        tidewater_format::partition::validate_partition_value("default-value", default_value)
            .map_err(|e| e.to_string())?;
        let static_spec = (!partition_columns.is_empty() && fixed.iter().all(Option::is_some))
            .then(|| spec(&partition_columns, &fixed));
        let timestamp_columns = schema
            .columns
            .iter()
            .filter(|c| c.data_type == DataType::Timestamp)
            .map(|c| c.name.clone())
            .collect();
        Ok(Shaper {
            partition_columns,
            fixed,
            static_spec,
            default_value: default_value.to_string(),
            timestamp_columns,
            time_zone,
        })
    }

    pub fn dynamic(&self) -> bool {
        !self.partition_columns.is_empty() && self.static_spec.is_none()
    }

    /// The record as the session takes it, and its partition (`dd=01/hh=02`) with dynamic
    /// partitions. `Err` is the reason the record is bad.
    pub fn shape(
        &self,
        record: &Map<String, Value>,
    ) -> Result<(Map<String, Value>, String), String> {
        let mut out = Map::with_capacity(record.len() + self.partition_columns.len());
        let mut values: Vec<Option<String>> = vec![None; self.partition_columns.len()];
        for (name, value) in record {
            if let Some(p) = self
                .partition_columns
                .iter()
                .position(|c| c.eq_ignore_ascii_case(name))
            {
                let text = match value {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    other => {
                        return Err(format!(
                            "column '{name}': partition values are strings, found {other}"
                        ));
                    }
                };
                if let (Some(fixed), Some(given)) = (&self.fixed[p], &text)
                    && fixed != given
                {
                    return Err(format!(
                        "column '{name}': '{given}' contradicts sink.partition {}={fixed}",
                        self.partition_columns[p]
                    ));
                }
                values[p] = text;
                continue;
            }
            if let Value::String(s) = value
                && self
                    .timestamp_columns
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(name))
            {
                let normalized = normalize_timestamp(s, &self.time_zone)
                    .map_err(|reason| format!("column '{name}': {reason}"))?;
                out.insert(name.clone(), Value::String(normalized));
                continue;
            }
            out.insert(name.clone(), value.clone());
        }
        if !self.dynamic() {
            return Ok((out, String::new()));
        }
        for (p, column) in self.partition_columns.iter().enumerate() {
            let value = self.fixed[p]
                .clone()
                .or_else(|| values[p].take())
                .unwrap_or_else(|| self.default_value.clone());
            values[p] = Some(value.clone());
            out.insert(column.clone(), Value::String(value));
        }
        let partition = spec(&self.partition_columns, &values);
        Ok((out, partition))
    }
}

fn spec(columns: &[String], values: &[Option<String>]) -> String {
    columns
        .iter()
        .zip(values)
        .map(|(c, v)| format!("{c}={}", v.as_deref().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("/")
}

/// A TIMESTAMP string with an explicit offset: unchanged if it has one, else read as wall-clock
/// time in `zone`.
pub(crate) fn normalize_timestamp(text: &str, zone: &TimeZone) -> Result<String, String> {
    if DateTime::parse_from_rfc3339(text).is_ok() {
        return Ok(text.to_string());
    }
    let t = text.trim();
    let naive = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    let Some(naive) = naive else {
        // Not a timestamp at all: the session's check explains the expected form.
        return Ok(text.to_string());
    };
    let resolved: LocalResult<DateTime<Utc>> = match zone {
        TimeZone::Fixed(offset) => offset
            .from_local_datetime(&naive)
            .map(|d| d.with_timezone(&Utc)),
        TimeZone::Named(tz) => tz
            .from_local_datetime(&naive)
            .map(|d| d.with_timezone(&Utc)),
    };
    match resolved {
        LocalResult::Single(utc) => Ok(utc.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        LocalResult::Ambiguous(a, b) => Err(format!(
            "'{text}' is ambiguous in time zone {} ({} or {}); give an offset",
            zone.name(),
            a.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            b.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        )),
        LocalResult::None => Err(format!(
            "'{text}' does not exist in time zone {} (skipped by a clock change); give an offset",
            zone.name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tidewater_format::Column;

    use super::*;

    fn schema() -> TableSchema {
        TableSchema::new(
            vec![
                Column::new("id", DataType::BigInt).not_null(),
                Column::new("ts", DataType::Timestamp),
            ],
            vec!["id".into()],
            vec![
                Column::new("dd", DataType::String),
                Column::new("hh", DataType::String),
            ],
        )
        .unwrap()
    }

    fn utc() -> TimeZone {
        TimeZone::parse("UTC").unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn zone_less_timestamps_are_read_in_the_configured_zone() {
        let shanghai = TimeZone::parse("Asia/Shanghai").unwrap();
        assert_eq!(
            normalize_timestamp("2026-11-22 10:00:00", &shanghai).unwrap(),
            "2026-11-22T02:00:00Z"
        );
        assert_eq!(
            normalize_timestamp("2026-11-22T10:00:00.123456789", &utc()).unwrap(),
            "2026-11-22T10:00:00.123456789Z"
        );
        // With an offset: unchanged whatever the zone.
        assert_eq!(
            normalize_timestamp("2026-11-22T10:00:00+01:00", &shanghai).unwrap(),
            "2026-11-22T10:00:00+01:00"
        );
        let berlin = TimeZone::parse("Europe/Berlin").unwrap();
        let gap = normalize_timestamp("2026-03-29 02:30:00", &berlin).unwrap_err();
        assert!(gap.contains("does not exist"), "{gap}");
        let twice = normalize_timestamp("2026-10-25 02:30:00", &berlin).unwrap_err();
        assert!(twice.contains("ambiguous"), "{twice}");
    }

    #[test]
    fn dynamic_partitions_fill_the_prefix_and_the_default_value() {
        let s = Shaper::new(
            &schema(),
            &[("dd".into(), "01".into())],
            "__DEFAULT_PARTITION__",
            utc(),
        )
        .unwrap();
        assert!(s.dynamic());
        let (row, part) = s.shape(&obj(json!({"id": 1, "hh": "02"}))).unwrap();
        assert_eq!(part, "dd=01/hh=02");
        assert_eq!(row["dd"], json!("01"));
        let (_, part) = s.shape(&obj(json!({"id": 1, "hh": null}))).unwrap();
        assert_eq!(part, "dd=01/hh=__DEFAULT_PARTITION__");
        let e = s.shape(&obj(json!({"id": 1, "dd": "02"}))).unwrap_err();
        assert!(e.contains("contradicts sink.partition"), "{e}");
    }

    #[test]
    fn a_full_spec_is_one_static_partition_and_its_columns_are_dropped() {
        let spec = [("dd".into(), "01".into()), ("hh".into(), "02".into())];
        let s = Shaper::new(&schema(), &spec, "__DEFAULT_PARTITION__", utc()).unwrap();
        assert_eq!(s.static_spec.as_deref(), Some("dd=01/hh=02"));
        let (row, _) = s.shape(&obj(json!({"id": 1, "dd": "01"}))).unwrap();
        assert_eq!(row, obj(json!({"id": 1})));
        assert!(Shaper::new(&schema(), &[("hh".into(), "1".into())], "d", utc()).is_err());
    }
}
