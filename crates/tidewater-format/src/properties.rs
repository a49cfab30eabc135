//! Table properties, named as MaxCompute users know them.
//!
//! | property | default | range |
//! |---|---|---|
//! | `transactional` | `false` | `true` / `false`; `true` makes a Delta table (needs a primary key) |
//! | `write.bucket.num` | 16 | 1..=4096; Delta tables only; frozen once the table exists |
//! | `acid.data.retain.hours` | 24 | 0..=168 (time-travel window) |
//! | `upsert.major-compact.enable` | `false` | major compaction after `min-commits` commits |
//! | `upsert.major-compact.min-commits` | 100 | 1..=1000000 |
//! | `num-sorted-run.compaction-trigger` | 10 | 2..=1000 sorted runs in a bucket start a minor compaction |
//! | `num-sorted-run.stop-trigger` | 2 × trigger | trigger..=10000 sorted runs slow writers down |
//! | `compaction.size-ratio` | 1 | 0..=100 percent (which newer runs are merged together) |
//! | `compaction.max-size-amplification-percent` | 200 | 10..=10000 (when all runs are merged) |
//! | `target-file-size` | 128 MiB | 1 MiB..=4 GiB, bytes or with a unit (`64mb`, `1 GiB`) |
//!
//! The compaction properties (the last seven) apply to Delta tables only. Unknown properties and
//! out-of-range values are errors naming the property.
//!
//! `ALTER TABLE … SET|UNSET TBLPROPERTIES` goes through [`TableProperties::altered`]: every
//! property but the [frozen](FROZEN) ones may change, and the result is validated by the same
//! [`TableProperties::from_map`] as at `CREATE TABLE`. An unset property returns to its default;
//! `num-sorted-run.stop-trigger` left at its default (2 × trigger) follows the trigger.
//!
//! The run triggers are twice Paimon's (5, stop at trigger + 3): Tunnel sessions commit every
//! few seconds, not once per checkpoint, so each level-0 run is small. Merging ten of them costs
//! about as much per row as merging five but rewrites each row about half as often, and the room
//! up to the stop trigger lets compaction finish while writes go on (see the README's benchmark
//! notes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{InvalidPropertySnafu, Result};

pub const TRANSACTIONAL: &str = "transactional";
pub const WRITE_BUCKET_NUM: &str = "write.bucket.num";
pub const RETAIN_HOURS: &str = "acid.data.retain.hours";
pub const MAJOR_COMPACT_ENABLE: &str = "upsert.major-compact.enable";
pub const MAJOR_COMPACT_MIN_COMMITS: &str = "upsert.major-compact.min-commits";
pub const SORTED_RUN_TRIGGER: &str = "num-sorted-run.compaction-trigger";
pub const SORTED_RUN_STOP: &str = "num-sorted-run.stop-trigger";
pub const SIZE_RATIO: &str = "compaction.size-ratio";
pub const MAX_SIZE_AMP: &str = "compaction.max-size-amplification-percent";
pub const TARGET_FILE_SIZE: &str = "target-file-size";

/// Every property name, in the order errors list them.
pub const KNOWN: [&str; 10] = [
    TRANSACTIONAL,
    WRITE_BUCKET_NUM,
    RETAIN_HOURS,
    MAJOR_COMPACT_ENABLE,
    MAJOR_COMPACT_MIN_COMMITS,
    SORTED_RUN_TRIGGER,
    SORTED_RUN_STOP,
    SIZE_RATIO,
    MAX_SIZE_AMP,
    TARGET_FILE_SIZE,
];

/// Properties fixed when the table is created, with why `ALTER TABLE` cannot change them.
pub const FROZEN: [(&str, &str); 2] = [
    (
        TRANSACTIONAL,
        "the table kind (Delta or standard) is fixed when the table is created; create a new \
         table and copy the rows",
    ),
    (
        WRITE_BUCKET_NUM,
        "the bucket count is fixed when the table is created: every stored row was placed by \
         hash(key) % buckets, so changing it would re-hash the keys; create a new table and \
         copy the rows",
    ),
];

const NOT_COMPACTED: &str = "only Delta tables (\"transactional\"=\"true\") are compacted";

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
    /// Compaction settings (Delta tables); absent in metadata written before they existed.
    #[serde(default)]
    pub compaction: CompactionSettings,
}

impl Default for TableProperties {
    fn default() -> Self {
        TableProperties {
            transactional: false,
            bucket_num: 1,
            retain_hours: DEFAULT_RETAIN_HOURS,
            compaction: CompactionSettings::default(),
        }
    }
}

/// How a Delta table's buckets are compacted (DESIGN §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompactionSettings {
    /// Major compaction after `major_min_commits` commits since the last one.
    pub major_enable: bool,
    pub major_min_commits: u32,
    /// Sorted runs in a bucket that start a minor compaction.
    pub run_trigger: u32,
    /// Sorted runs in a bucket at which writers are slowed down.
    pub run_stop: u32,
    /// Percent: going from the newest run to older ones, the next run joins a minor compaction
    /// while it is at most this much larger than the runs picked so far together.
    pub size_ratio: u32,
    /// Percent: when the runs above the oldest exceed this share of it, everything is merged.
    pub max_size_amp: u32,
    /// Size at which compaction output rolls to a new file.
    pub target_file_size: u64,
}

pub const DEFAULT_RUN_TRIGGER: u32 = 10;
pub const DEFAULT_TARGET_FILE_SIZE: u64 = 128 << 20;

/// The stop trigger that follows `trigger` unless set.
pub fn default_run_stop(trigger: u32) -> u32 {
    trigger.saturating_mul(2)
}

impl Default for CompactionSettings {
    fn default() -> Self {
        CompactionSettings {
            major_enable: false,
            major_min_commits: 100,
            run_trigger: DEFAULT_RUN_TRIGGER,
            run_stop: default_run_stop(DEFAULT_RUN_TRIGGER),
            size_ratio: 1,
            max_size_amp: 200,
            target_file_size: DEFAULT_TARGET_FILE_SIZE,
        }
    }
}

/// `64mb`, `1 GiB`, `1048576`: a size in bytes (units are powers of 1024).
pub fn parse_size(value: &str) -> Option<u64> {
    let v = value.trim().to_ascii_lowercase();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let shift = match unit.trim() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

fn parse_bool(property: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => InvalidPropertySnafu {
            property,
            reason: format!("'{value}' is not 'true' or 'false'"),
        }
        .fail(),
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
        let mut c = CompactionSettings::default();
        let mut run_stop = None;
        let mut compaction_key = None;
        for (key, value) in map {
            let k = key.to_ascii_lowercase();
            match k.as_str() {
                TRANSACTIONAL => transactional = parse_bool(key, value)?,
                WRITE_BUCKET_NUM => bucket_num = Some(parse_u32(key, value, 1..=MAX_BUCKET_NUM)?),
                RETAIN_HOURS => retain_hours = parse_u32(key, value, 0..=MAX_RETAIN_HOURS)?,
                MAJOR_COMPACT_ENABLE => c.major_enable = parse_bool(key, value)?,
                MAJOR_COMPACT_MIN_COMMITS => {
                    c.major_min_commits = parse_u32(key, value, 1..=1_000_000)?
                }
                SORTED_RUN_TRIGGER => c.run_trigger = parse_u32(key, value, 2..=1000)?,
                SORTED_RUN_STOP => run_stop = Some(parse_u32(key, value, 2..=10_000)?),
                SIZE_RATIO => c.size_ratio = parse_u32(key, value, 0..=100)?,
                MAX_SIZE_AMP => c.max_size_amp = parse_u32(key, value, 10..=10_000)?,
                TARGET_FILE_SIZE => {
                    c.target_file_size = match parse_size(value) {
                        Some(n) if ((1 << 20)..=(4 << 30)).contains(&n) => n,
                        _ => {
                            return InvalidPropertySnafu {
                                property: key.clone(),
                                reason: format!(
                                    "'{value}' is not a size between 1 MiB and 4 GiB (e.g. 128mb)"
                                ),
                            }
                            .fail();
                        }
                    }
                }
                _ => return unknown(key),
            }
            if is_compaction(&k) {
                compaction_key = Some(key.clone());
            }
        }
        c.run_stop = match run_stop {
            Some(s) if s < c.run_trigger => {
                return InvalidPropertySnafu {
                    property: SORTED_RUN_STOP,
                    reason: format!(
                        "{s} is below {SORTED_RUN_TRIGGER} ({}): writers would stop before \
                         compaction starts",
                        c.run_trigger
                    ),
                }
                .fail();
            }
            Some(s) => s,
            None => default_run_stop(c.run_trigger),
        };
        if let (false, Some(key)) = (transactional, compaction_key) {
            return InvalidPropertySnafu {
                property: key,
                reason: NOT_COMPACTED,
            }
            .fail();
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
            compaction: c,
        })
    }

    /// The properties after `ALTER TABLE … SET TBLPROPERTIES (set)` / `UNSET TBLPROPERTIES
    /// (unset)`. Keys are case-insensitive. A [frozen](FROZEN) or unknown property, a
    /// compaction property of a standard table, or a value [`TableProperties::from_map`] refuses
    /// is an error naming the property. An unset property returns to its default.
    pub fn altered(&self, set: &BTreeMap<String, String>, unset: &[String]) -> Result<Self> {
        for key in set.keys().chain(unset) {
            let k = key.to_ascii_lowercase();
            if let Some((_, why)) = FROZEN.iter().find(|(f, _)| *f == k) {
                return InvalidPropertySnafu {
                    property: key.clone(),
                    reason: format!("cannot be changed after the table is created: {why}"),
                }
                .fail();
            }
            if !KNOWN.contains(&k.as_str()) {
                return unknown(key);
            }
        }
        // `from_map` refuses compaction properties of standard tables that are set; unsetting
        // one is refused the same way.
        let unset_compaction = unset
            .iter()
            .find(|k| is_compaction(&k.to_ascii_lowercase()));
        if let (false, Some(key)) = (self.transactional, unset_compaction) {
            return InvalidPropertySnafu {
                property: key.clone(),
                reason: NOT_COMPACTED,
            }
            .fail();
        }
        let mut map = self.to_map();
        let c = &self.compaction;
        if self.transactional && c.run_stop == default_run_stop(c.run_trigger) {
            // The default: keep following the trigger.
            map.remove(SORTED_RUN_STOP);
        }
        for key in unset {
            map.remove(&key.to_ascii_lowercase());
        }
        for (key, value) in set {
            map.insert(key.to_ascii_lowercase(), value.clone());
        }
        Self::from_map(&map)
    }

    /// The properties as `SHOW`/`DESC` print them.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert(TRANSACTIONAL.into(), self.transactional.to_string());
        if self.transactional {
            let c = &self.compaction;
            m.insert(WRITE_BUCKET_NUM.into(), self.bucket_num.to_string());
            m.insert(MAJOR_COMPACT_ENABLE.into(), c.major_enable.to_string());
            m.insert(
                MAJOR_COMPACT_MIN_COMMITS.into(),
                c.major_min_commits.to_string(),
            );
            m.insert(SORTED_RUN_TRIGGER.into(), c.run_trigger.to_string());
            m.insert(SORTED_RUN_STOP.into(), c.run_stop.to_string());
            m.insert(SIZE_RATIO.into(), c.size_ratio.to_string());
            m.insert(MAX_SIZE_AMP.into(), c.max_size_amp.to_string());
            m.insert(TARGET_FILE_SIZE.into(), c.target_file_size.to_string());
        }
        m.insert(RETAIN_HOURS.into(), self.retain_hours.to_string());
        m
    }
}

/// A (known, lower-case) property that only Delta tables have.
fn is_compaction(key: &str) -> bool {
    ![TRANSACTIONAL, WRITE_BUCKET_NUM, RETAIN_HOURS].contains(&key)
}

fn unknown<T>(key: &str) -> Result<T> {
    InvalidPropertySnafu {
        property: key,
        reason: format!("unknown property (known: {})", KNOWN.join(", ")),
    }
    .fail()
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
    fn compaction_properties_parse_and_round_trip() {
        let p = props(&[
            ("transactional", "true"),
            ("upsert.major-compact.enable", "TRUE"),
            ("upsert.major-compact.min-commits", "10"),
            ("num-sorted-run.compaction-trigger", "4"),
            ("target-file-size", "64mb"),
        ])
        .unwrap();
        let c = &p.compaction;
        assert!(c.major_enable);
        assert_eq!((c.major_min_commits, c.run_trigger, c.run_stop), (10, 4, 8));
        assert_eq!(c.target_file_size, 64 << 20);
        assert_eq!(TableProperties::from_map(&p.to_map()).unwrap(), p);
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("12x"), None);
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn altered_changes_only_what_is_named_and_unset_restores_defaults() {
        let p = props(&[
            ("transactional", "true"),
            ("write.bucket.num", "8"),
            ("num-sorted-run.compaction-trigger", "4"),
        ])
        .unwrap();
        let a = p
            .altered(
                &map(&[
                    ("ACID.DATA.RETAIN.HOURS", "60"),
                    ("upsert.major-compact.enable", "true"),
                    ("upsert.major-compact.min-commits", "3"),
                ]),
                &[],
            )
            .unwrap();
        assert_eq!(
            (a.transactional, a.bucket_num, a.retain_hours),
            (true, 8, 60)
        );
        assert!(a.compaction.major_enable);
        assert_eq!(a.compaction.major_min_commits, 3);
        assert_eq!((a.compaction.run_trigger, a.compaction.run_stop), (4, 8));
        // A stop trigger left at its default follows the trigger; an explicit one stays.
        let b = a
            .altered(&map(&[("num-sorted-run.compaction-trigger", "10")]), &[])
            .unwrap();
        assert_eq!((b.compaction.run_trigger, b.compaction.run_stop), (10, 20));
        let c = b
            .altered(&map(&[("num-sorted-run.stop-trigger", "25")]), &[])
            .unwrap();
        let d = c
            .altered(&map(&[("num-sorted-run.compaction-trigger", "6")]), &[])
            .unwrap();
        assert_eq!((d.compaction.run_trigger, d.compaction.run_stop), (6, 25));
        let e = d
            .altered(
                &map(&[]),
                &[
                    "acid.data.retain.hours".to_string(),
                    "upsert.major-compact.enable".to_string(),
                    "num-sorted-run.compaction-trigger".to_string(),
                    "num-sorted-run.stop-trigger".to_string(),
                ],
            )
            .unwrap();
        assert_eq!(e.retain_hours, DEFAULT_RETAIN_HOURS);
        assert_eq!(
            e.compaction,
            CompactionSettings {
                major_min_commits: 3,
                ..CompactionSettings::default()
            }
        );
        assert_eq!(e.bucket_num, 8);
        // Standard tables: retention changes, compaction properties are refused either way.
        let s = TableProperties::default();
        let s2 = s
            .altered(&map(&[("acid.data.retain.hours", "1")]), &[])
            .unwrap();
        assert_eq!(
            (s2.transactional, s2.bucket_num, s2.retain_hours),
            (false, 1, 1)
        );
        for (set, unset) in [
            (map(&[("target-file-size", "64mb")]), vec![]),
            (map(&[]), vec!["compaction.size-ratio".to_string()]),
        ] {
            let err = s.altered(&set, &unset).unwrap_err().to_string();
            assert!(err.contains("only Delta tables"), "{err}");
        }
        let s3 = s
            .altered(&map(&[]), &["acid.data.retain.hours".to_string()])
            .unwrap();
        assert_eq!(s3, s);
    }

    #[test]
    fn altering_frozen_unknown_or_invalid_properties_names_the_property() {
        let p = props(&[("transactional", "true"), ("write.bucket.num", "8")]).unwrap();
        for (set, unset, needle) in [
            (
                map(&[("write.bucket.num", "16")]),
                vec![],
                "'write.bucket.num': cannot be changed after the table is created",
            ),
            (
                map(&[]),
                vec!["Write.Bucket.Num".to_string()],
                "'Write.Bucket.Num': cannot be changed",
            ),
            (
                map(&[("transactional", "false")]),
                vec![],
                "'transactional': cannot be changed",
            ),
            (
                map(&[("acid.data.retain.hour", "1")]),
                vec![],
                "'acid.data.retain.hour': unknown property",
            ),
            (
                map(&[]),
                vec!["nope".to_string()],
                "'nope': unknown property",
            ),
            (
                map(&[("acid.data.retain.hours", "abc")]),
                vec![],
                "'acid.data.retain.hours': 'abc' is not a whole number",
            ),
            (
                map(&[("acid.data.retain.hours", "169")]),
                vec![],
                "'acid.data.retain.hours': 169 is out of range 0..=168",
            ),
            (
                map(&[("num-sorted-run.stop-trigger", "3")]),
                vec![],
                "'num-sorted-run.stop-trigger': 3 is below",
            ),
        ] {
            let err = p.altered(&set, &unset).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        let err = p
            .altered(&map(&[("write.bucket.num", "16")]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("re-hash"), "{err}");
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
            (
                vec![("upsert.major-compact.enable", "true")],
                "'upsert.major-compact.enable': only Delta tables",
            ),
            (
                vec![
                    ("transactional", "true"),
                    ("target-file-size", "12 parsecs"),
                ],
                "'target-file-size': '12 parsecs' is not a size",
            ),
            (
                vec![
                    ("transactional", "true"),
                    ("num-sorted-run.compaction-trigger", "8"),
                    ("num-sorted-run.stop-trigger", "6"),
                ],
                "'num-sorted-run.stop-trigger': 6 is below",
            ),
        ] {
            let err = props(&pairs).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
