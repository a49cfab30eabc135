//! The "upsert-stream" workload of `BENCHMARK.md`: its size, its data and its expected answers.
//!
//! Everything is generated up front from one seed by a self-contained PRNG (splitmix64), so a
//! seed names one exact workload on every machine. While generating, an in-memory model of the
//! table (per id: age, score, live or not) is kept; the expected answers are taken from it and
//! the model is dropped before anything is timed.
//!
//! Invariants:
//! - phase A writes ids `0..rows` once each, in `commits` consecutive ranges;
//! - in a phase B commit, ids are unique: updates and deletes are distinct ids live when the
//!   commit starts, new ids were never used before (`rows..`), so the order of operations inside
//!   a commit does not matter;
//! - the probe is an id updated in the last commit (written in phase A when there is no phase
//!   B), the deleted id was deleted in the last commit.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringBuilder,
    TimestampNanosecondArray,
};
use arrow::datatypes::{Schema, SchemaRef};
use snafu::ResultExt;
use tidewater_format::properties::{TRANSACTIONAL, WRITE_BUCKET_NUM};
use tidewater_format::types::TIMESTAMP_TZ;
use tidewater_format::{Column, DataType, TableProperties, TableSchema};

use crate::error::{ArrowSnafu, FormatSnafu, InvalidParamsSnafu, Result};

/// Length of every `name` value, in ASCII characters.
pub const NAME_CHARS: usize = 16;
/// 2024-01-01T00:00:00Z in nanoseconds: `ts` values fall in the year after it.
const TS_BASE_NS: i64 = 1_704_067_200_000_000_000;
const TS_SPAN_NS: u64 = 365 * 24 * 3600 * 1_000_000_000;
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The size of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSize {
    /// Phase A: rows written in bulk (ids `0..rows`).
    pub rows: u64,
    /// Phase A: commits the rows are spread over.
    pub commits: u32,
    /// Phase B: number of stream commits.
    pub stream_commits: u32,
    /// Phase B: upserts per commit; a fifth of them are new ids, the rest updates.
    pub stream_upserts: u32,
    /// Phase B: deletes per commit.
    pub stream_deletes: u32,
    pub buckets: u32,
    pub seed: u64,
}

impl WorkloadSize {
    /// `BENCHMARK.md`'s default size.
    pub const DEFAULT: WorkloadSize = WorkloadSize {
        rows: 2_000_000,
        commits: 20,
        stream_commits: 50,
        stream_upserts: 20_000,
        stream_deletes: 200,
        buckets: 4,
        seed: 42,
    };

    /// A size that runs in seconds, with the same shape.
    pub const QUICK: WorkloadSize = WorkloadSize {
        rows: 100_000,
        commits: 10,
        stream_commits: 10,
        stream_upserts: 2_000,
        stream_deletes: 50,
        buckets: 4,
        seed: 42,
    };

    /// New ids per stream commit (a fifth of the upserts).
    pub fn stream_new(&self) -> u32 {
        self.stream_upserts / 5
    }

    /// Updates of live ids per stream commit.
    pub fn stream_updates(&self) -> u32 {
        self.stream_upserts - self.stream_new()
    }

    /// Checks that the workload can be generated as described.
    pub fn validate(&self) -> Result<()> {
        let fail = |reason: String| InvalidParamsSnafu { reason }.fail();
        if self.rows == 0 || self.commits == 0 {
            return fail("--rows and --commits must be at least 1".into());
        }
        if u64::from(self.commits) > self.rows {
            return fail(format!(
                "--commits {} is more than --rows {}: every bulk commit needs a row",
                self.commits, self.rows
            ));
        }
        if self.rows > u64::from(u32::MAX / 2) {
            return fail(format!("--rows {} is too large (at most 2^31)", self.rows));
        }
        let picked = u64::from(self.stream_updates()) + u64::from(self.stream_deletes);
        if self.stream_commits > 0 && picked > self.rows {
            return fail(format!(
                "a stream commit updates {} and deletes {} distinct live ids, more than the {} rows of phase A",
                self.stream_updates(),
                self.stream_deletes,
                self.rows
            ));
        }
        if self.stream_commits > 0 && self.stream_upserts == 0 && self.stream_deletes == 0 {
            return fail("stream commits need --stream-upserts or --stream-deletes".into());
        }
        if self.buckets == 0 {
            return fail("--buckets must be at least 1".into());
        }
        Ok(())
    }
}

/// `id BIGINT NOT NULL PRIMARY KEY, name STRING, age INT, status BOOLEAN, score DOUBLE,
/// ts TIMESTAMP`.
pub fn table_schema() -> Result<TableSchema> {
    TableSchema::new(
        vec![
            Column::new("id", DataType::BigInt).not_null(),
            Column::new("name", DataType::String),
            Column::new("age", DataType::Int),
            Column::new("status", DataType::Boolean),
            Column::new("score", DataType::Double),
            Column::new("ts", DataType::Timestamp),
        ],
        vec!["id".into()],
        vec![],
    )
    .context(FormatSnafu {
        op: "building the bench schema",
    })
}

/// A Delta table (`transactional=true`) with `buckets` buckets.
/// The bench table's properties: a Delta table with `buckets` buckets, plus `extra`.
pub fn table_properties(buckets: u32, extra: &BTreeMap<String, String>) -> Result<TableProperties> {
    let mut map = extra.clone();
    map.insert(TRANSACTIONAL.to_string(), "true".to_string());
    map.insert(WRITE_BUCKET_NUM.to_string(), buckets.to_string());
    TableProperties::from_map(&map).context(FormatSnafu {
        op: "building the bench table properties",
    })
}

/// splitmix64: small, fast, and good enough to draw benchmark data.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below 2^-32 for the sizes used here).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// One row's values, as the model expects to read them back.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedRow {
    pub id: i64,
    pub name: String,
    pub age: i32,
    pub status: bool,
    pub score: f64,
    pub ts_ns: i64,
}

/// The answers a correct engine gives on the final snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub count: u64,
    pub sum_id: i128,
    pub sum_age: i128,
    pub avg_score: f64,
    /// An id written by the last commit, with its values.
    pub probe: ExpectedRow,
    /// An id deleted by the last commit (none without phase B or without deletes).
    pub deleted: Option<i64>,
}

/// One phase B commit.
#[derive(Debug, Clone)]
pub struct StreamCommit {
    pub upserts: RecordBatch,
    /// Key-only batch (`id`).
    pub deletes: RecordBatch,
}

/// The generated data and its expected answers.
#[derive(Debug)]
pub struct Workload {
    pub size: WorkloadSize,
    pub bulk: Vec<RecordBatch>,
    pub stream: Vec<StreamCommit>,
    pub expected: Expected,
}

const NOT_LIVE: u32 = u32::MAX;

/// The expected table while generating: dense per-id state (ids are `0..next_id`).
struct Model {
    age: Vec<i32>,
    score: Vec<f64>,
    /// Live ids, in no particular order (sampled uniformly).
    live: Vec<i64>,
    /// Position of each id in `live`, or `NOT_LIVE`.
    pos: Vec<u32>,
    /// The stream commit (1-based) that last picked each id, to keep ids unique per commit.
    picked_in: Vec<u32>,
}

impl Model {
    fn with_capacity(ids: usize) -> Self {
        Model {
            age: Vec::with_capacity(ids),
            score: Vec::with_capacity(ids),
            live: Vec::with_capacity(ids),
            pos: Vec::with_capacity(ids),
            picked_in: Vec::with_capacity(ids),
        }
    }

    fn write(&mut self, id: i64, age: i32, score: f64) {
        let i = id as usize;
        if i >= self.age.len() {
            self.age.resize(i + 1, 0);
            self.score.resize(i + 1, 0.0);
            self.pos.resize(i + 1, NOT_LIVE);
            self.picked_in.resize(i + 1, 0);
        }
        self.age[i] = age;
        self.score[i] = score;
        if self.pos[i] == NOT_LIVE {
            self.pos[i] = self.live.len() as u32;
            self.live.push(id);
        }
    }

    fn delete(&mut self, id: i64) {
        let i = id as usize;
        let p = self.pos[i];
        if p == NOT_LIVE {
            return;
        }
        self.live.swap_remove(p as usize);
        if let Some(moved) = self.live.get(p as usize) {
            self.pos[*moved as usize] = p;
        }
        self.pos[i] = NOT_LIVE;
    }

    /// `n` distinct live ids not yet picked in stream commit `commit` (1-based).
    fn pick_live(&mut self, rng: &mut SplitMix64, n: usize, commit: u32) -> Vec<i64> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let id = self.live[rng.below(self.live.len() as u64) as usize];
            let seen = &mut self.picked_in[id as usize];
            if *seen != commit {
                *seen = commit;
                out.push(id);
            }
        }
        out
    }

    fn expected(&self, probe: ExpectedRow, deleted: Option<i64>) -> Expected {
        let mut sum_id = 0i128;
        let mut sum_age = 0i128;
        let mut score = NeumaierSum::default();
        for &id in &self.live {
            sum_id += i128::from(id);
            sum_age += i128::from(self.age[id as usize]);
            score.add(self.score[id as usize]);
        }
        let count = self.live.len() as u64;
        Expected {
            count,
            sum_id,
            sum_age,
            avg_score: if count == 0 {
                f64::NAN
            } else {
                score.sum() / count as f64
            },
            probe,
            deleted,
        }
    }
}

/// Compensated summation, so the expected and the measured average agree far below 1e-9
/// whatever order the rows are added in.
#[derive(Debug, Default, Clone, Copy)]
pub struct NeumaierSum {
    sum: f64,
    compensation: f64,
}

impl NeumaierSum {
    pub fn add(&mut self, v: f64) {
        let t = self.sum + v;
        if self.sum.abs() >= v.abs() {
            self.compensation += (self.sum - t) + v;
        } else {
            self.compensation += (v - t) + self.sum;
        }
        self.sum = t;
    }

    pub fn sum(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// Draws values for `ids`, records them in the model and returns them as one batch; the first
/// row is copied into `first`.
fn rows_batch(
    rng: &mut SplitMix64,
    schema: &SchemaRef,
    ids: &[i64],
    model: &mut Model,
    mut first: Option<&mut ExpectedRow>,
) -> Result<RecordBatch> {
    let n = ids.len();
    let mut names = StringBuilder::with_capacity(n, n * NAME_CHARS);
    let mut ages = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut scores = Vec::with_capacity(n);
    let mut tss = Vec::with_capacity(n);
    let mut name = [0u8; NAME_CHARS];
    for (k, &id) in ids.iter().enumerate() {
        for c in name.iter_mut() {
            *c = ALPHABET[rng.below(ALPHABET.len() as u64) as usize];
        }
        // The alphabet is ASCII, so this never fails.
        let name = std::str::from_utf8(&name).unwrap_or_default();
        let (age, status) = (rng.below(100) as i32, rng.next_u64() & 1 == 1);
        let (score, ts_ns) = (
            rng.unit_f64() * 1000.0,
            TS_BASE_NS + rng.below(TS_SPAN_NS) as i64,
        );
        model.write(id, age, score);
        if k == 0
            && let Some(first) = first.as_deref_mut()
        {
            *first = ExpectedRow {
                id,
                name: name.to_string(),
                age,
                status,
                score,
                ts_ns,
            };
        }
        names.append_value(name);
        ages.push(age);
        statuses.push(status);
        scores.push(score);
        tss.push(ts_ns);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.to_vec())),
        Arc::new(names.finish()),
        Arc::new(Int32Array::from(ages)),
        Arc::new(BooleanArray::from(statuses)),
        Arc::new(Float64Array::from(scores)),
        Arc::new(TimestampNanosecondArray::from(tss).with_timezone(TIMESTAMP_TZ)),
    ];
    RecordBatch::try_new(schema.clone(), columns).context(ArrowSnafu {
        what: "building a batch of bench rows",
    })
}

impl Workload {
    /// Generates the whole workload of `size` (deterministic in `size`).
    pub fn generate(size: &WorkloadSize) -> Result<Workload> {
        size.validate()?;
        let table = table_schema()?;
        let schema = table.data_arrow_schema();
        let key_schema = Arc::new(Schema::new(vec![schema.field(0).clone()]));
        let mut rng = SplitMix64::new(size.seed);
        let total_ids = size.rows + u64::from(size.stream_commits) * u64::from(size.stream_new());
        let mut model = Model::with_capacity(total_ids as usize);
        let mut probe = ExpectedRow {
            id: 0,
            name: String::new(),
            age: 0,
            status: false,
            score: 0.0,
            ts_ns: 0,
        };
        let commits = u64::from(size.commits);
        let mut bulk = Vec::with_capacity(size.commits as usize);
        for c in 0..commits {
            let (start, end) = (size.rows * c / commits, size.rows * (c + 1) / commits);
            let ids: Vec<i64> = (start as i64..end as i64).collect();
            bulk.push(rows_batch(
                &mut rng,
                &schema,
                &ids,
                &mut model,
                Some(&mut probe),
            )?);
        }
        let mut deleted = None;
        let mut next_id = size.rows as i64;
        let mut stream = Vec::with_capacity(size.stream_commits as usize);
        for c in 1..=size.stream_commits {
            let updates = size.stream_updates() as usize;
            let dels = size.stream_deletes as usize;
            let picked = model.pick_live(&mut rng, updates + dels, c);
            let (updated, removed) = picked.split_at(updates);
            let new = size.stream_new() as i64;
            let ids: Vec<i64> = updated
                .iter()
                .copied()
                .chain(next_id..next_id + new)
                .collect();
            next_id += new;
            let probe_slot = if ids.is_empty() {
                None
            } else {
                Some(&mut probe)
            };
            let upserts = rows_batch(&mut rng, &schema, &ids, &mut model, probe_slot)?;
            for id in removed {
                model.delete(*id);
            }
            deleted = removed.first().copied();
            let deletes = RecordBatch::try_new(
                key_schema.clone(),
                vec![Arc::new(Int64Array::from(removed.to_vec()))],
            )
            .context(ArrowSnafu {
                what: "building a batch of bench deletes",
            })?;
            stream.push(StreamCommit { upserts, deletes });
        }
        let expected = model.expected(probe, deleted);
        Ok(Workload {
            size: size.clone(),
            bulk,
            stream,
            expected,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, Int32Type, Int64Type};

    use super::*;

    fn tiny() -> WorkloadSize {
        WorkloadSize {
            rows: 1_000,
            commits: 4,
            stream_commits: 5,
            stream_upserts: 100,
            stream_deletes: 10,
            buckets: 2,
            seed: 7,
        }
    }

    #[test]
    fn same_seed_generates_the_same_workload() {
        let a = Workload::generate(&tiny()).unwrap();
        let b = Workload::generate(&tiny()).unwrap();
        assert_eq!(a.bulk, b.bulk);
        assert_eq!(a.expected, b.expected);
        let c = Workload::generate(&WorkloadSize { seed: 8, ..tiny() }).unwrap();
        assert_ne!(a.expected, c.expected);
    }

    #[test]
    fn stream_commit_ids_are_unique_and_live() {
        let w = Workload::generate(&tiny()).unwrap();
        let mut live: HashSet<i64> = (0..1_000).collect();
        for c in &w.stream {
            let up = c.upserts.column(0).as_primitive::<Int64Type>().values();
            let del = c.deletes.column(0).as_primitive::<Int64Type>().values();
            assert_eq!(up.len(), 100);
            assert_eq!(del.len(), 10);
            let all: HashSet<i64> = up.iter().chain(del.iter()).copied().collect();
            assert_eq!(all.len(), 110, "ids unique within a commit");
            assert_eq!(up.iter().filter(|id| live.contains(id)).count(), 80);
            assert!(del.iter().all(|id| live.contains(id)));
            live.extend(up.iter().copied());
            for id in del {
                live.remove(id);
            }
        }
        assert_eq!(w.expected.count, live.len() as u64);
        assert!(!live.contains(&w.expected.deleted.unwrap()));
    }

    /// Replays the batches into a `BTreeMap` and compares with the model's answers.
    #[test]
    fn expected_answers_match_a_replay_of_the_batches() {
        let w = Workload::generate(&tiny()).unwrap();
        let mut table: BTreeMap<i64, (i32, f64)> = BTreeMap::new();
        let upsert = |table: &mut BTreeMap<i64, (i32, f64)>, b: &RecordBatch| {
            let id = b.column(0).as_primitive::<Int64Type>();
            let age = b.column(2).as_primitive::<Int32Type>();
            let score = b.column(4).as_primitive::<Float64Type>();
            for i in 0..b.num_rows() {
                table.insert(id.value(i), (age.value(i), score.value(i)));
            }
        };
        for b in &w.bulk {
            upsert(&mut table, b);
        }
        for c in &w.stream {
            upsert(&mut table, &c.upserts);
            for id in c.deletes.column(0).as_primitive::<Int64Type>().values() {
                table.remove(id);
            }
        }
        let e = &w.expected;
        assert_eq!(e.count, table.len() as u64);
        assert_eq!(e.sum_id, table.keys().map(|k| i128::from(*k)).sum::<i128>());
        assert_eq!(
            e.sum_age,
            table.values().map(|v| i128::from(v.0)).sum::<i128>()
        );
        let avg = table.values().map(|v| v.1).sum::<f64>() / table.len() as f64;
        assert!((e.avg_score - avg).abs() <= 1e-9 * avg.abs());
        let last = w.stream.last().unwrap();
        assert_eq!(
            last.upserts.column(0).as_primitive::<Int64Type>().value(0),
            e.probe.id
        );
        assert_eq!(table[&e.probe.id], (e.probe.age, e.probe.score));
        assert_eq!(e.probe.name.len(), NAME_CHARS);
    }

    #[test]
    fn sizes_that_cannot_be_generated_are_refused() {
        let bad = WorkloadSize { rows: 50, ..tiny() };
        assert!(bad.validate().is_err());
        assert!(
            WorkloadSize {
                commits: 0,
                ..tiny()
            }
            .validate()
            .is_err()
        );
        assert!(WorkloadSize::DEFAULT.validate().is_ok());
        assert!(WorkloadSize::QUICK.validate().is_ok());
    }
}
