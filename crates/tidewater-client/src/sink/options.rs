//! Sink options: the names users know from the reference Flink connector, parsed from a string
//! map (a Flink `WITH (…)` clause, a properties file, command-line `-o key=value`).
//!
//! Invariants: every key is known (an unknown key is an error naming it, with the closest known
//! name); every value is checked (type and range) before the sink touches the server; an option
//! given twice (under its name and an alias) is an error. Defaults are those of the reference.
//!
//! | option | default | what the Rust sink does with it |
//! |---|---|---|
//! | `table.name` | required | `[project.]table` |
//! | `project.name` (`odps.project.name`) | `default` | project when `table.name` has none |
//! | `endpoint` (`odps.end.point`) | — | server URL (the caller may give a client instead) |
//! | `access.id`, `access.key` (`odps.access.id`, `odps.access.key`) | env | AccessKey |
//! | `sink.operation` | `insert` | `insert` or `upsert` (Delta tables only) |
//! | `sink.parallelism` | 1 | writers; blocks in flight = parallelism × `upsert.flush.concurrent` |
//! | `sink.partition` | — | a full spec: one static partition; a prefix (`dd=01` of `dd, hh`): dynamic below it |
//! | `sink.partition.default-value` | `__DEFAULT_PARTITION__` | dynamic partition value for NULL |
//! | `sink.dynamic-partition.limit` | 100 | partitions in one checkpoint; one more asks for a checkpoint first |
//! | `sink.group-partition.enable` | false | accepted; one process routes every row by the bucket hash anyway |
//! | `sink.file-cached.enable` | false | when true, the `.memory`, `.rolling.max-size`, `.writer.num`, `.write.max-retries` values size the in-memory buffers instead (no local files) |
//! | `sink.file-cached.tmp.dirs` | `./local` | checked (non-empty), unused |
//! | `sink.file-cached.writer.num` / `.rolling.max-size` / `.memory` / `.write.max-retries` | 16 / 16 MB / 64 MB / 3 | see `.enable` |
//! | `sink.time-zone` | `UTC` | zone of zone-less TIMESTAMP values: `UTC`, `+08:00`, or an IANA name |
//! | `upsert.write.bucket.num` | — | must equal the table's `write.bucket.num` (checked at start) |
//! | `upsert.writer.max-retries` | 3 | block upload retries |
//! | `upsert.writer.buffer-size` | 64 MB | all buffers together |
//! | `upsert.writer.bucket.buffer-size` | 1 MB | one bucket's buffer (a block) |
//! | `upsert.write.slot-num` | 1 | checked (≥ 1); the server has one slot per session |
//! | `upsert.commit.max-retries` | 3 | commit retries (re-checked, never re-applied) |
//! | `upsert.commit.thread-num` | 16 | checked; one commit per checkpoint |
//! | `upsert.commit.timeout` | 600 (s) | one commit request |
//! | `upsert.major-compact.enable` / `.min-commits` | false / 100 | checked; no compaction API yet |
//! | `upsert.flush.concurrent` | 2 | blocks in flight per writer |
//! | `insert.commit.thread-num` | 16 | checked; one commit per checkpoint |
//! | `insert.writer.buffer-size` | 64 MB | all buffers together (insert) |

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{FixedOffset, Offset, Utc};
use snafu::ensure;

use crate::client::Credentials;
use crate::sink::error::{InvalidOptionSnafu, Result, UnknownOptionSnafu};

/// `sink.operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Rows are appended (any table); on Delta tables they still merge by key.
    Insert,
    /// Rows upsert or delete by primary key (Delta tables only).
    Upsert,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Insert => "insert",
            Operation::Upsert => "upsert",
        }
    }
}

/// The zone zone-less TIMESTAMP values are read in (`sink.time-zone`).
#[derive(Debug, Clone, PartialEq)]
pub enum TimeZone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl TimeZone {
    pub fn parse(text: &str) -> Result<TimeZone, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Ok(TimeZone::Fixed(Utc.fix()));
        }
        if let Some(rest) = t.strip_prefix(['+', '-']) {
            let sign = if t.starts_with('-') { -1 } else { 1 };
            let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
            let (Ok(h), Ok(m)) = (h.parse::<i32>(), m.parse::<i32>()) else {
                return Err(format!("'{text}' is not an offset such as +08:00"));
            };
            return FixedOffset::east_opt(sign * (h * 3600 + m * 60))
                .filter(|_| (0..60).contains(&m))
                .map(TimeZone::Fixed)
                .ok_or_else(|| format!("offset '{text}' is out of range"));
        }
        t.parse::<chrono_tz::Tz>().map(TimeZone::Named).map_err(|_| {
            format!("'{text}' is not a time zone (UTC, an offset such as +08:00, or an IANA name such as Asia/Shanghai)")
        })
    }

    pub fn name(&self) -> String {
        match self {
            TimeZone::Fixed(o) if o.local_minus_utc() == 0 => "UTC".to_string(),
            TimeZone::Fixed(o) => o.to_string(),
            TimeZone::Named(tz) => tz.name().to_string(),
        }
    }
}

/// Every option of the sink, checked. Build with [`SinkOptions::from_map`].
#[derive(Debug, Clone)]
pub struct SinkOptions {
    pub project: String,
    pub table: String,
    pub endpoint: Option<String>,
    pub credentials: Option<Credentials>,
    pub operation: Operation,
    pub parallelism: usize,
    /// `sink.partition` as (column, value) pairs, in the order given.
    pub partition: Vec<(String, String)>,
    pub partition_default_value: String,
    pub dynamic_partition_limit: usize,
    pub group_partition: bool,
    pub time_zone: TimeZone,
    pub bucket_num: Option<u32>,
    pub writer_retries: u32,
    pub total_buffer_bytes: usize,
    pub bucket_buffer_bytes: usize,
    pub flush_concurrent: usize,
    pub commit_retries: u32,
    pub commit_timeout: Duration,
    pub major_compact: bool,
    pub major_compact_min_commits: u32,
}

/// Known keys and their aliases (alias → key).
const KEYS: &[&str] = &[
    "table.name",
    "project.name",
    "endpoint",
    "access.id",
    "access.key",
    "sink.operation",
    "sink.parallelism",
    "sink.partition",
    "sink.partition.default-value",
    "sink.dynamic-partition.limit",
    "sink.group-partition.enable",
    "sink.file-cached.enable",
    "sink.file-cached.tmp.dirs",
    "sink.file-cached.writer.num",
    "sink.file-cached.rolling.max-size",
    "sink.file-cached.memory",
    "sink.file-cached.write.max-retries",
    "sink.time-zone",
    "upsert.write.bucket.num",
    "upsert.writer.max-retries",
    "upsert.writer.buffer-size",
    "upsert.writer.bucket.buffer-size",
    "upsert.write.slot-num",
    "upsert.commit.max-retries",
    "upsert.commit.thread-num",
    "upsert.commit.timeout",
    "upsert.major-compact.enable",
    "upsert.major-compact.min-commits",
    "upsert.flush.concurrent",
    "insert.commit.thread-num",
    "insert.writer.buffer-size",
];

const ALIASES: &[(&str, &str)] = &[
    ("odps.end.point", "endpoint"),
    ("odps.project.name", "project.name"),
    ("odps.access.id", "access.id"),
    ("odps.access.key", "access.key"),
];

/// The value of one option, checked.
struct Reader {
    values: BTreeMap<&'static str, (String, String)>,
}

impl Reader {
    fn new(map: &BTreeMap<String, String>) -> Result<Reader> {
        let mut values: BTreeMap<&'static str, (String, String)> = BTreeMap::new();
        for (given, value) in map {
            let lower = given.trim().to_ascii_lowercase();
            let key = KEYS
                .iter()
                .copied()
                .find(|k| *k == lower)
                .or_else(|| ALIASES.iter().find(|(a, _)| *a == lower).map(|(_, k)| *k));
            let Some(key) = key else {
                return UnknownOptionSnafu {
                    option: given.clone(),
                    hint: closest(&lower),
                }
                .fail();
            };
            if let Some((first, _)) = values.get(key) {
                return InvalidOptionSnafu {
                    option: given.clone(),
                    reason: format!("given twice (also as '{first}')"),
                }
                .fail();
            }
            values.insert(key, (given.clone(), value.trim().to_string()));
        }
        Ok(Reader { values })
    }

    fn raw(&self, key: &'static str) -> Option<&str> {
        self.values.get(key).map(|(_, v)| v.as_str())
    }

    fn fail<T>(&self, key: &'static str, reason: String) -> Result<T> {
        let option = self
            .values
            .get(key)
            .map(|(given, _)| given.clone())
            .unwrap_or_else(|| key.to_string());
        InvalidOptionSnafu { option, reason }.fail()
    }

    fn int(&self, key: &'static str, default: u64, min: u64, max: u64) -> Result<u64> {
        let Some(v) = self.raw(key) else {
            return Ok(default);
        };
        match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            Ok(n) => self.fail(key, format!("{n} is out of range {min}..={max}")),
            Err(_) => self.fail(key, format!("'{v}' is not a whole number")),
        }
    }

    fn boolean(&self, key: &'static str, default: bool) -> Result<bool> {
        match self.raw(key).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => self.fail(key, format!("'{v}' is not true or false")),
        }
    }

    fn size(&self, key: &'static str, default: usize) -> Result<usize> {
        let Some(v) = self.raw(key) else {
            return Ok(default);
        };
        match parse_size(v) {
            Some(n) if n > 0 => Ok(n),
            Some(_) => self.fail(key, "must be at least 1 byte".to_string()),
            None => self.fail(
                key,
                format!("'{v}' is not a size such as 1048576, 512 KB, 64 m or 1 GB"),
            ),
        }
    }

    fn string(&self, key: &'static str) -> Result<Option<String>> {
        match self.raw(key) {
            Some("") => self.fail(key, "is empty".to_string()),
            v => Ok(v.map(str::to_string)),
        }
    }
}

/// `1048576`, `512 KB`, `64 m`, `16M`, `1 GB` (binary units, case-insensitive).
pub fn parse_size(text: &str) -> Option<usize> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: usize = digits.parse().ok()?;
    let factor: usize = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// `600` (seconds), `600s`, `500ms`, `10min`, `1h`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit.trim() {
        "" | "s" | "sec" | "secs" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" | "min" | "mins" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

/// The known key closest to `given` (edit distance ≤ 4), for the error message.
fn closest(given: &str) -> String {
    let best = KEYS
        .iter()
        .chain(ALIASES.iter().map(|(a, _)| a))
        .map(|k| (edit_distance(given, k), *k))
        .min();
    match best {
        Some((d, k)) if d <= 4 => format!(" (did you mean '{k}'?)"),
        _ => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

impl SinkOptions {
    /// Parses and checks every option; see the module docs for the names and defaults.
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<SinkOptions> {
        let r = Reader::new(map)?;
        let Some(table_name) = r.string("table.name")? else {
            return InvalidOptionSnafu {
                option: "table.name",
                reason: "is required ([project.]table)".to_string(),
            }
            .fail();
        };
        let (project, table) = match table_name.split_once('.') {
            Some((p, t)) => {
                if r.raw("project.name").is_some_and(|given| given != p) {
                    return r.fail(
                        "project.name",
                        format!("differs from the project '{p}' of table.name '{table_name}'"),
                    );
                }
                (p.to_string(), t.to_string())
            }
            None => (
                r.string("project.name")?
                    .unwrap_or_else(|| "default".to_string()),
                table_name.clone(),
            ),
        };
        if table.is_empty() || project.is_empty() || table.contains('.') {
            return r.fail(
                "table.name",
                format!("'{table_name}' is not [project.]table"),
            );
        }
        let operation = match r
            .raw("sink.operation")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("insert") => Operation::Insert,
            Some("upsert") => Operation::Upsert,
            Some(v) => return r.fail("sink.operation", format!("'{v}' is not insert or upsert")),
        };
        let credentials = match (r.string("access.id")?, r.string("access.key")?) {
            (Some(id), Some(key)) => Some(Credentials::new(id, key)),
            (None, None) => None,
            (Some(_), None) => {
                return r.fail("access.key", "is required with access.id".to_string());
            }
            (None, Some(_)) => {
                return r.fail("access.id", "is required with access.key".to_string());
            }
        };
        let mut partition = Vec::new();
        if let Some(spec) = r.string("sink.partition")? {
            for part in spec.split(['/', ',']) {
                let Some((k, v)) = part.split_once('=') else {
                    return r.fail(
                        "sink.partition",
                        format!("'{part}' is not of the form column=value"),
                    );
                };
                let v = v.trim().trim_matches(['\'', '"']);
                if k.trim().is_empty() || v.is_empty() {
                    return r.fail("sink.partition", format!("'{part}' has an empty side"));
                }
                partition.push((k.trim().to_string(), v.to_string()));
            }
        }
        let time_zone = match r.raw("sink.time-zone") {
            None => TimeZone::Fixed(Utc.fix()),
            Some(v) => match TimeZone::parse(v) {
                Ok(tz) => tz,
                Err(reason) => return r.fail("sink.time-zone", reason),
            },
        };
        let file_cached = r.boolean("sink.file-cached.enable", false)?;
        let cached_writers = r.int("sink.file-cached.writer.num", 16, 1, 1024)? as usize;
        let cached_rolling = r.size("sink.file-cached.rolling.max-size", 16 << 20)?;
        let cached_memory = r.size("sink.file-cached.memory", 64 << 20)?;
        let cached_retries = r.int("sink.file-cached.write.max-retries", 3, 0, 100)? as u32;
        let _ = r.string("sink.file-cached.tmp.dirs")?;
        let parallelism = r.int("sink.parallelism", 1, 1, 4096)? as usize;
        let flush_concurrent = r.int("upsert.flush.concurrent", 2, 1, 1024)? as usize;
        let writer_retries = r.int("upsert.writer.max-retries", 3, 0, 100)? as u32;
        let upsert_buffer = r.size("upsert.writer.buffer-size", 64 << 20)?;
        let insert_buffer = r.size("insert.writer.buffer-size", 64 << 20)?;
        let bucket_buffer = r.size("upsert.writer.bucket.buffer-size", 1 << 20)?;
        r.int("upsert.write.slot-num", 1, 1, 1024)?;
        r.int("upsert.commit.thread-num", 16, 1, 1024)?;
        r.int("insert.commit.thread-num", 16, 1, 1024)?;
        let commit_timeout = match r.raw("upsert.commit.timeout") {
            None => Duration::from_secs(600),
            Some(v) => match parse_duration(v) {
                Some(d) if !d.is_zero() => d,
                _ => {
                    return r.fail(
                        "upsert.commit.timeout",
                        format!("'{v}' is not a positive duration (seconds, or 500ms, 10min)"),
                    );
                }
            },
        };
        let bucket_num = match r.raw("upsert.write.bucket.num") {
            None => None,
            Some(_) => Some(r.int("upsert.write.bucket.num", 0, 1, 4096)? as u32),
        };
        let (total_buffer_bytes, bucket_buffer_bytes, flush, retries) = if file_cached {
            (
                cached_memory,
                cached_rolling,
                cached_writers,
                cached_retries,
            )
        } else {
            let total = match operation {
                Operation::Upsert => upsert_buffer,
                Operation::Insert => insert_buffer,
            };
            (
                total,
                bucket_buffer,
                parallelism.saturating_mul(flush_concurrent),
                writer_retries,
            )
        };
        let options = SinkOptions {
            project,
            table,
            endpoint: r.string("endpoint")?,
            credentials,
            operation,
            parallelism,
            partition,
            partition_default_value: r
                .string("sink.partition.default-value")?
                .unwrap_or_else(|| "__DEFAULT_PARTITION__".to_string()),
            dynamic_partition_limit: r.int("sink.dynamic-partition.limit", 100, 1, 100_000)?
                as usize,
            group_partition: r.boolean("sink.group-partition.enable", false)?,
            time_zone,
            bucket_num,
            writer_retries: retries,
            total_buffer_bytes,
            bucket_buffer_bytes,
            flush_concurrent: flush.max(1),
            commit_retries: r.int("upsert.commit.max-retries", 3, 0, 100)? as u32,
            commit_timeout,
            major_compact: r.boolean("upsert.major-compact.enable", false)?,
            major_compact_min_commits: r.int("upsert.major-compact.min-commits", 100, 1, 1 << 20)?
                as u32,
        };
        ensure!(
            options.total_buffer_bytes >= options.bucket_buffer_bytes,
            InvalidOptionSnafu {
                option: "upsert.writer.buffer-size",
                reason: format!(
                    "{} bytes is less than upsert.writer.bucket.buffer-size ({} bytes)",
                    options.total_buffer_bytes, options.bucket_buffer_bytes
                ),
            }
        );
        Ok(options)
    }

    /// Options for `table` with every default (the string map `{"table.name": table}`).
    pub fn for_table(table: &str) -> Result<SinkOptions> {
        SinkOptions::from_map(&BTreeMap::from([(
            "table.name".to_string(),
            table.to_string(),
        )]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<SinkOptions> {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SinkOptions::from_map(&map)
    }

    #[test]
    fn reference_names_and_defaults() {
        let o = parse(&[
            ("table.name", "mf_flink_tt"),
            ("sink.operation", "upsert"),
            ("odps.access.id", "AK"),
            ("odps.access.key", "secret"),
            ("odps.end.point", "http://127.0.0.1:8470"),
            ("odps.project.name", "mf_mc_bj"),
            ("upsert.write.bucket.num", "64"),
        ])
        .unwrap();
        assert_eq!(
            (o.project.as_str(), o.table.as_str()),
            ("mf_mc_bj", "mf_flink_tt")
        );
        assert_eq!(o.operation, Operation::Upsert);
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:8470"));
        assert_eq!(o.credentials, Some(Credentials::new("AK", "secret")));
        assert_eq!(o.bucket_num, Some(64));
        assert_eq!(o.total_buffer_bytes, 64 << 20);
        assert_eq!(o.bucket_buffer_bytes, 1 << 20);
        assert_eq!(o.partition_default_value, "__DEFAULT_PARTITION__");
        assert_eq!(o.dynamic_partition_limit, 100);
        assert_eq!(o.commit_timeout, Duration::from_secs(600));
        assert_eq!(o.flush_concurrent, 2);
        assert_eq!(o.time_zone.name(), "UTC");
    }

    #[test]
    fn unknown_options_name_the_option_and_the_closest_known_one() {
        let e = parse(&[("table.name", "t"), ("upsert.writer.bufer-size", "1")]).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("'upsert.writer.bufer-size'"), "{text}");
        assert!(
            text.contains("did you mean 'upsert.writer.buffer-size'"),
            "{text}"
        );
    }

    #[test]
    fn invalid_values_name_the_option_and_the_reason() {
        for (key, value, needle) in [
            ("sink.operation", "merge", "not insert or upsert"),
            ("upsert.write.bucket.num", "0", "out of range"),
            ("upsert.writer.buffer-size", "lots", "not a size"),
            ("upsert.commit.timeout", "-1", "not a positive duration"),
            ("sink.group-partition.enable", "yes", "not true or false"),
            ("sink.time-zone", "Mars/Olympus", "not a time zone"),
            ("sink.partition", "dd", "column=value"),
            ("odps.access.id", "AK", "access.key"),
        ] {
            let e = parse(&[("table.name", "t"), (key, value)]).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(needle), "{key}={value}: {text}");
        }
        let e = parse(&[("sink.operation", "upsert")]).unwrap_err();
        assert!(e.to_string().contains("table.name"), "{e}");
        let e = parse(&[
            ("table.name", "t"),
            ("endpoint", "a"),
            ("odps.end.point", "b"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
    }

    #[test]
    fn sizes_durations_and_zones() {
        assert_eq!(parse_size("64 m"), Some(64 << 20));
        assert_eq!(parse_size("16M"), Some(16 << 20));
        assert_eq!(parse_size("128 KB"), Some(128 << 10));
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("1 parsec"), None);
        assert_eq!(parse_duration("600"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2min"), Some(Duration::from_secs(120)));
        assert_eq!(TimeZone::parse("+08:00").unwrap().name(), "+08:00");
        assert_eq!(
            TimeZone::parse("Asia/Shanghai").unwrap().name(),
            "Asia/Shanghai"
        );
        assert!(TimeZone::parse("+25:00").is_err());
    }

    #[test]
    fn project_in_table_name_wins_and_must_agree() {
        let o = parse(&[("table.name", "p1.t")]).unwrap();
        assert_eq!((o.project.as_str(), o.table.as_str()), ("p1", "t"));
        let e = parse(&[("table.name", "p1.t"), ("odps.project.name", "p2")]).unwrap_err();
        assert!(e.to_string().contains("odps.project.name"), "{e}");
    }
}
