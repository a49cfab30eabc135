//! Versioned table metadata: `ALTER TABLE … SET|UNSET TBLPROPERTIES`.
//!
//! `<table>/schema/<n>` holds version `n` of the table's [`TableMetadata`]
//! (`schema_id == n`). Versions are immutable and each is created with put-if-absent:
//!
//! - `CREATE TABLE` writes version 0. It decides whether the table exists and its `table_id`.
//! - [`crate::Warehouse::alter_table_properties`] reads the newest version `n`, applies the
//!   change with [`tidewater_format::TableProperties::altered`] (the validation of `CREATE
//!   TABLE`, plus the frozen properties `transactional` and `write.bucket.num`) and creates
//!   `schema/<n+1>`: the same `table_id`, columns, key, partitioning and `created_ms`, new
//!   properties. Of two concurrent alters exactly one creates `n+1`; the other re-reads and
//!   re-applies its own change on top of the winner's (validated again, so it may now fail with
//!   an error naming the property). No change is lost and none is applied to a version it did
//!   not see. Only after [`MAX_ALTER_ATTEMPTS`] lost races does an alter give up
//!   (`TooManyConflicts`). An alter that changes nothing writes nothing.
//! - `DROP TABLE` deletes the versions newest first and `schema/0` last. An alter racing a drop
//!   may still create a version of the dropped incarnation after that; lookups skip versions
//!   whose `table_id` is not the one of `schema/0`, and the next alter of a re-created table
//!   takes the next free id after them.
//!
//! The newest version is found like the newest snapshot: list `schema/` once (the contiguous
//! ids from 0, read newest first), then probe `schema/<last+1>` forward until a miss.
//!
//! **Who sees a change, when.** A [`Table`] handle keeps the version it was opened with, so one
//! operation (a session, a compaction, a scan) sees one set of properties throughout.
//! [`crate::Warehouse::table`] looks for a newer version on every call — one more small read
//! (`schema/<n+1>`, normally a miss) issued together with the read of `schema/0` it does anyway —
//! so the next fetch of the table in any process sees an alter as soon as it is stored (the
//! stores we support read their own and others' writes at once); in the altering process the
//! cached handle is replaced at once. A handle held from before (an open session) keeps its
//! version until the table is fetched again or [`Table::refresh`] is called. Handles on
//! different versions share caches and snapshot pins.
//!
//! **Data is unaffected.** Only properties change, never columns, and the properties data files
//! depend on (`transactional`, `write.bucket.num`) are frozen, so files and snapshots written
//! under any version read exactly as before; time travel is unaffected. A snapshot's and a
//! file's `schema_id` is the version its writer held: it is informational and not monotonic
//! across snapshots (a session opened before an alter may commit after it). Readers never
//! compare it with the table's current version. When columns may one day change, readers must
//! start mapping files by their `schema_id`.

use std::collections::BTreeSet;

use tidewater_format::path::TablePaths;
use tidewater_format::schema::TableMetadata;

use crate::error::{CorruptedSnafu, Result};
use crate::store::Storage;
use crate::table::Table;

/// Lost races after which an alter gives up. Every lost race means another alter succeeded.
pub const MAX_ALTER_ATTEMPTS: u32 = 100;

/// Version `id` of the metadata, if it exists.
pub(crate) async fn read_version(
    storage: &Storage,
    paths: &TablePaths,
    id: u32,
) -> Result<Option<TableMetadata>> {
    let path = paths.schema(id);
    let Some(bytes) = storage.get_opt(&path).await? else {
        return Ok(None);
    };
    let meta = TableMetadata::decode(&bytes)?;
    if meta.schema_id != id {
        return CorruptedSnafu {
            path,
            reason: format!("it holds metadata version {}", meta.schema_id),
        }
        .fail();
    }
    Ok(Some(meta))
}

/// The newest version of a table and the last id of its contiguous chain of versions (the next
/// version is `last + 1`).
#[derive(Debug, Clone)]
pub(crate) struct Latest {
    pub meta: TableMetadata,
    pub last: u32,
}

/// Versions after `from.last`, probed forward until a miss; versions of another incarnation
/// (a different `table_id`) are stepped over.
pub(crate) async fn probe_forward(
    storage: &Storage,
    paths: &TablePaths,
    from: Latest,
) -> Result<Latest> {
    let Latest { mut meta, mut last } = from;
    while let Some(next) = last.checked_add(1) {
        match read_version(storage, paths, next).await? {
            None => break,
            Some(m) => {
                if m.table_id == meta.table_id {
                    meta = m;
                }
                last = next;
            }
        }
    }
    Ok(Latest { meta, last })
}

/// The newest version of the table whose version 0 is `base`.
pub(crate) async fn latest(
    storage: &Storage,
    paths: &TablePaths,
    base: TableMetadata,
) -> Result<Latest> {
    let (_, files) = storage.list_dir(&paths.schema_dir()).await?;
    let ids: BTreeSet<u32> = files.iter().filter_map(|f| f.parse().ok()).collect();
    let mut last = 0;
    while ids.contains(&(last + 1)) {
        last += 1;
    }
    let mut meta = base;
    for id in (1..=last).rev() {
        if let Some(m) = read_version(storage, paths, id).await?
            && m.table_id == meta.table_id
        {
            meta = m;
            break;
        }
    }
    probe_forward(storage, paths, Latest { meta, last }).await
}

impl Table {
    /// A handle on the newest metadata version of this table (this handle when there is none
    /// newer). It shares this handle's caches; it does not check that the table still exists.
    pub async fn refresh(&self) -> Result<Table> {
        let from = Latest {
            meta: self.metadata().clone(),
            last: self.metadata().schema_id,
        };
        let latest = probe_forward(self.storage(), self.paths(), from).await?;
        Ok(if latest.meta.schema_id == self.metadata().schema_id {
            self.clone()
        } else {
            self.with_metadata(latest.meta)
        })
    }
}
