//! Snapshots, manifests and data-file metadata: the persisted state of a table (DESIGN §3).
//!
//! - A [`Snapshot`] is immutable and created with put-if-absent at `snapshot/<id>`: the only
//!   atomic step of a commit. Its live file set is the fold, in order, of the entries of its
//!   [`ManifestRef`]s (add, then remove by path).
//! - A [`Manifest`] is an immutable list of [`ManifestEntry`]s (file added or removed).
//! - Sequence numbers are global per table: a commit takes the range `[parent.next_seq, next_seq)`.
//!   A file's `_seq` column holds sequence numbers relative to its `seq_offset`.
//!
//! All three are JSON with a `format_version`; decoders accept every version up to the current
//! one. Golden fixtures of every released version live in `testdata/v<N>/` and must decode forever.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use snafu::ResultExt;

use crate::error::{DecodeSnafu, EncodeSnafu, Result, UnsupportedVersionSnafu};
use crate::key::KeyValue;
use crate::partition::PartitionSpec;

/// Version of snapshots and manifests written by this build.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;

pub(crate) fn encode_json<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).context(EncodeSnafu { what })
}

pub(crate) fn decode_json<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).context(DecodeSnafu { what })
}

pub(crate) fn check_version(what: &str, version: u32, supported: u32) -> Result<()> {
    if version > supported || version == 0 {
        return UnsupportedVersionSnafu {
            what,
            version,
            supported,
        }
        .fail();
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotKind {
    /// A session's (or statement's) rows were added.
    Append,
    /// Files were rewritten by compaction; the logical content is unchanged.
    Compact,
    /// `INSERT OVERWRITE`: files replaced.
    Overwrite,
    /// Retention removed history.
    Expire,
}

/// Who made a commit, for idempotence: a retried commit with the same id is recognised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CommitId {
    /// The writer: `session` for Tunnel sessions, a connector's writer id, …
    pub writer: String,
    /// The commit within that writer: a session id, a checkpoint id, …
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRef {
    /// File name under `manifest/`.
    pub name: String,
    pub added_files: u64,
    pub removed_files: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSummary {
    /// Upsert (or inserted) rows this snapshot added.
    pub rows_added: u64,
    /// Delete rows this snapshot added.
    pub rows_deleted: u64,
    pub files_added: u64,
    pub files_removed: u64,
    pub bytes_added: u64,
    /// Totals over the live file set after this snapshot.
    pub total_files: u64,
    pub total_bytes: u64,
    /// Rows stored in live files (before merging: updates and deletes count too).
    pub total_stored_rows: u64,
    /// Compact snapshots: a major compaction (base files: newest row per key, no deletes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub major: bool,
    /// Expire snapshots: how many older snapshots this expiry removed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub expired_snapshots: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format_version: u32,
    pub id: u64,
    pub parent: Option<u64>,
    pub commit_time_ms: i64,
    pub schema_id: u32,
    pub kind: SnapshotKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitId>,
    pub manifests: Vec<ManifestRef>,
    /// First sequence number not yet used; the next commit starts here.
    pub next_seq: u64,
    pub summary: SnapshotSummary,
}

impl Snapshot {
    pub fn encode(&self) -> Result<Vec<u8>> {
        encode_json("snapshot", self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let s: Snapshot = decode_json("snapshot", bytes)?;
        check_version("snapshot", s.format_version, SNAPSHOT_FORMAT_VERSION)?;
        Ok(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOp {
    Add,
    Remove,
}

/// Metadata of one immutable Parquet data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFileMeta {
    /// Path relative to the table directory (`data/…/bucket-<b>/<uuid>.parquet`).
    pub path: String,
    pub partition: PartitionSpec,
    pub bucket: u32,
    /// The table's bucket count when the file was written; a different count is refused.
    pub total_buckets: u32,
    /// LSM level: 0 for files published by sessions.
    pub level: u32,
    pub row_count: u64,
    /// Rows with `_op = delete` (Delta tables).
    #[serde(default)]
    pub delete_count: u64,
    /// Smallest and largest primary key (empty for standard tables).
    #[serde(default)]
    pub min_key: Vec<KeyValue>,
    #[serde(default)]
    pub max_key: Vec<KeyValue>,
    /// Global sequence of a row = `seq_offset + _seq`.
    #[serde(default)]
    pub seq_offset: u64,
    /// Global sequence range of the file's rows.
    #[serde(default)]
    pub min_seq: u64,
    #[serde(default)]
    pub max_seq: u64,
    pub size_bytes: u64,
    pub schema_id: u32,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub op: FileOp,
    pub file: DataFileMeta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub entries: Vec<ManifestEntry>,
}

impl Manifest {
    pub fn new(entries: Vec<ManifestEntry>) -> Self {
        Manifest {
            format_version: SNAPSHOT_FORMAT_VERSION,
            entries,
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        encode_json("manifest", self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let m: Manifest = decode_json("manifest", bytes)?;
        check_version("manifest", m.format_version, SNAPSHOT_FORMAT_VERSION)?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::properties::TableProperties;
    use crate::schema::{Column, TableMetadata, TableSchema};
    use crate::types::DataType;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    fn sample_file() -> DataFileMeta {
        DataFileMeta {
            path: "data/dd=01/hh=01/bucket-3/0b5a7c3e-3f1d-4e0a-9c57-2d1e8f6a9b10.parquet".into(),
            partition: PartitionSpec(vec![("dd".into(), "01".into()), ("hh".into(), "01".into())]),
            bucket: 3,
            total_buckets: 64,
            level: 0,
            row_count: 10,
            delete_count: 2,
            min_key: vec![KeyValue::Int(1)],
            max_key: vec![KeyValue::Int(42)],
            seq_offset: 100,
            min_seq: 100,
            max_seq: 109,
            size_bytes: 1234,
            schema_id: 0,
            created_ms: 1_795_000_000_000,
        }
    }

    fn sample_snapshot() -> Snapshot {
        Snapshot {
            format_version: 1,
            id: 2,
            parent: Some(1),
            commit_time_ms: 1_795_000_000_000,
            schema_id: 0,
            kind: SnapshotKind::Append,
            commit: Some(CommitId {
                writer: "session".into(),
                commit: "0b5a7c3e-3f1d-4e0a-9c57-2d1e8f6a9b10".into(),
            }),
            manifests: vec![ManifestRef {
                name: "c7a1e1f2-1111-4222-8333-944455556666".into(),
                added_files: 1,
                removed_files: 0,
            }],
            next_seq: 110,
            summary: SnapshotSummary {
                rows_added: 8,
                rows_deleted: 2,
                files_added: 1,
                files_removed: 0,
                bytes_added: 1234,
                total_files: 1,
                total_bytes: 1234,
                total_stored_rows: 10,
                ..Default::default()
            },
        }
    }

    fn sample_table() -> TableMetadata {
        let schema = TableSchema::new(
            vec![
                Column::new("id", DataType::BigInt).not_null(),
                Column::new("name", DataType::Varchar(16)),
                Column::new(
                    "price",
                    DataType::Decimal {
                        precision: 10,
                        scale: 2,
                    },
                ),
                Column::new("tags", "MAP<STRING,ARRAY<INT>>".parse().unwrap()),
            ],
            vec!["id".into()],
            vec![
                Column::new("dd", DataType::String),
                Column::new("hh", DataType::String),
            ],
        )
        .unwrap();
        TableMetadata::new(
            "5f0c2b1e-aaaa-4bbb-8ccc-ddddeeeeffff".into(),
            schema,
            TableProperties {
                transactional: true,
                bucket_num: 64,
                retain_hours: 12,
                ..Default::default()
            },
            1_795_000_000_000,
        )
        .unwrap()
    }

    /// Regenerate with `UPDATE_GOLDEN=1 cargo test -p tidewater-format golden` — only when adding
    /// a NEW format version directory; released fixtures never change.
    #[test]
    fn golden_v1_fixtures_decode() {
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            let dir = format!("{}/testdata/v1", env!("CARGO_MANIFEST_DIR"));
            std::fs::create_dir_all(&dir).unwrap();
            let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap();
            let write = |name: &str, bytes: Vec<u8>| {
                let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                std::fs::write(format!("{dir}/{name}"), pretty(&v) + "\n").unwrap();
            };
            write("snapshot.json", sample_snapshot().encode().unwrap());
            write(
                "manifest.json",
                Manifest::new(vec![ManifestEntry {
                    op: FileOp::Add,
                    file: sample_file(),
                }])
                .encode()
                .unwrap(),
            );
            write("table.json", sample_table().encode().unwrap());
        }
        assert_eq!(
            Snapshot::decode(&fixture("v1/snapshot.json")).unwrap(),
            sample_snapshot()
        );
        let m = Manifest::decode(&fixture("v1/manifest.json")).unwrap();
        assert_eq!(m.entries.len(), 1);
        assert_eq!(m.entries[0].file, sample_file());
        assert_eq!(
            TableMetadata::decode(&fixture("v1/table.json")).unwrap(),
            sample_table()
        );
    }

    #[test]
    fn newer_versions_and_garbage_are_corrupted_errors() {
        let mut s = sample_snapshot();
        s.format_version = 99;
        let err = Snapshot::decode(&s.encode().unwrap()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Corrupted);
        assert!(err.to_string().contains("format version 99"), "{err}");
        for bad in [&b""[..], b"{", b"\xff\xfe", b"{\"format_version\":1}"] {
            let err = Snapshot::decode(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Corrupted);
            assert!(Manifest::decode(bad).is_err());
        }
    }

    #[test]
    fn unknown_fields_from_newer_minor_writers_are_ignored() {
        let mut v: serde_json::Value =
            serde_json::from_slice(&sample_snapshot().encode().unwrap()).unwrap();
        v["some_future_field"] = serde_json::json!({"x": 1});
        let s = Snapshot::decode(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(s, sample_snapshot());
    }
}
