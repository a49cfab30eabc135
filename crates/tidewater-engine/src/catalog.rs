//! The warehouse catalog: projects and tables.
//!
//! A project exists when `<project>/_project.json` exists; a table exists when
//! `<project>/<table>/schema/0` exists (created with put-if-absent, so two concurrent creates of
//! one table cannot both succeed). `ALTER TABLE … TBLPROPERTIES` writes later metadata versions
//! `schema/<n>` ([`crate::metadata`]). Dropping a table deletes everything below its directory
//! and its metadata last (newest version first, `schema/0` at the very end), so an interrupted
//! drop leaves a (partly emptied) table that a second `DROP` finishes, and creating a table
//! never deletes anything (a concurrent create cannot lose the other's data). The `default`
//! project always exists.
//!
//! [`Warehouse`] caches open [`Table`]s so their snapshot and manifest caches are shared; a cached
//! table is reused only while its `table_id` matches the one in storage, and every
//! [`Warehouse::table`] call checks for a newer metadata version (returning a handle on it).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use tidewater_format::path::{TablePaths, project_marker, validate_name};
use tidewater_format::schema::TableMetadata;
use tidewater_format::{TableProperties, TableSchema};

use crate::error::{
    InvalidInputSnafu, ProjectExistsSnafu, ProjectNotEmptySnafu, ProjectNotFoundSnafu, Result,
    TableExistsSnafu, TableNotFoundSnafu, TooManyConflictsSnafu,
};
use crate::metadata::{self, Latest, MAX_ALTER_ATTEMPTS};
use crate::store::{Storage, open_store};
use crate::table::{CommitListener, CommitListenerSlot, Table};
use crate::util::now_ms;

pub const DEFAULT_PROJECT: &str = "default";

#[derive(Debug, Serialize, Deserialize)]
struct ProjectMarker {
    format_version: u32,
    name: String,
    created_ms: i64,
}

/// A handle on one warehouse. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Warehouse {
    inner: Arc<WarehouseInner>,
}

#[derive(Debug)]
struct WarehouseInner {
    location: String,
    storage: Storage,
    tables: Mutex<HashMap<(String, String), Table>>,
    listener: Arc<CommitListenerSlot>,
}

impl Warehouse {
    /// Opens the warehouse at a directory or URL (`file://`, `memory://`, `s3://`).
    pub async fn open(location: &str) -> Result<Self> {
        Self::with_store(location, open_store(location)?).await
    }

    /// Opens a warehouse on an existing object store (tests wrap stores to inject faults).
    pub async fn with_store(location: &str, store: Arc<dyn ObjectStore>) -> Result<Self> {
        let w = Warehouse {
            inner: Arc::new(WarehouseInner {
                location: location.to_string(),
                storage: Storage::new(store),
                tables: Mutex::new(HashMap::new()),
                listener: Default::default(),
            }),
        };
        w.write_project_marker(DEFAULT_PROJECT).await?;
        Ok(w)
    }

    /// Calls `listener` after every ingest commit (appends and overwrites, not compactions or
    /// expiries) to any table of this warehouse, through any handle: the server's maintenance
    /// service learns of SQL DML as of Tunnel commits. Runs on the committing task, so it must
    /// return quickly. One listener per warehouse: `false` (and nothing changes) when one is set.
    pub fn on_commit(&self, listener: CommitListener) -> bool {
        self.inner.listener.set(listener)
    }

    pub fn location(&self) -> &str {
        &self.inner.location
    }

    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    async fn write_project_marker(&self, name: &str) -> Result<bool> {
        let marker = ProjectMarker {
            format_version: 1,
            name: name.to_string(),
            created_ms: now_ms(),
        };
        let bytes = serde_json::to_vec(&marker).unwrap_or_default();
        self.inner
            .storage
            .put_if_absent(&project_marker(name)?, bytes)
            .await
    }

    pub async fn create_project(&self, name: &str, if_not_exists: bool) -> Result<()> {
        validate_name("project", name)?;
        if !self.write_project_marker(name).await? && !if_not_exists {
            return ProjectExistsSnafu { project: name }.fail();
        }
        Ok(())
    }

    pub async fn project_exists(&self, name: &str) -> Result<bool> {
        self.inner.storage.exists(&project_marker(name)?).await
    }

    pub async fn list_projects(&self) -> Result<Vec<String>> {
        let (dirs, _) = self.inner.storage.list_dir("").await?;
        let mut out = Vec::new();
        for d in dirs {
            if validate_name("project", &d).is_ok() && self.project_exists(&d).await? {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Drops an empty project (never `default`).
    pub async fn drop_project(&self, name: &str, if_exists: bool) -> Result<()> {
        if !self.project_exists(name).await? {
            return if if_exists {
                Ok(())
            } else {
                ProjectNotFoundSnafu { project: name }.fail()
            };
        }
        let tables = self.list_tables(name).await?;
        if !tables.is_empty() || name == DEFAULT_PROJECT {
            return ProjectNotEmptySnafu {
                project: name,
                tables: if tables.is_empty() {
                    "the default project is permanent".to_string()
                } else {
                    tables.join(", ")
                },
            }
            .fail();
        }
        self.inner.storage.delete_prefix(name).await
    }

    async fn require_project(&self, project: &str) -> Result<()> {
        if self.project_exists(project).await? {
            Ok(())
        } else {
            ProjectNotFoundSnafu { project }.fail()
        }
    }

    /// Creates a table. `if_not_exists` returns the existing table instead of an error.
    pub async fn create_table(
        &self,
        project: &str,
        name: &str,
        schema: TableSchema,
        properties: TableProperties,
        if_not_exists: bool,
    ) -> Result<Table> {
        let paths = TablePaths::new(project, name)?;
        self.require_project(project).await?;
        let meta = TableMetadata::new(
            uuid::Uuid::new_v4().to_string(),
            schema,
            properties,
            now_ms(),
        )?;
        let storage = &self.inner.storage;
        if !storage
            .put_if_absent(&paths.schema(0), meta.encode()?)
            .await?
        {
            if if_not_exists {
                return self.table(project, name).await;
            }
            return TableExistsSnafu {
                project,
                table: name,
            }
            .fail();
        }
        self.table(project, name).await
    }

    /// Opens a table (cached) on its newest metadata version.
    pub async fn table(&self, project: &str, name: &str) -> Result<Table> {
        let paths = TablePaths::new(project, name)?;
        let storage = &self.inner.storage;
        let cached = self.cached(project, name);
        // With a cached handle on version n, read `schema/0` (the table may have been dropped
        // and re-created) and probe `schema/<n+1>` (a newer version) at the same time.
        let (base, probe) = match &cached {
            Some(t) => {
                let next = t.metadata().schema_id.saturating_add(1);
                let (base, probe) = futures::future::join(
                    storage.get_opt(&paths.schema(0)),
                    metadata::read_version(storage, &paths, next),
                )
                .await;
                (base?, Some((next, probe)))
            }
            None => (storage.get_opt(&paths.schema(0)).await?, None),
        };
        let Some(bytes) = base else {
            return self.missing_table(project, name).await;
        };
        let base = TableMetadata::decode(&bytes)?;
        if let (Some(t), Some((next, probe))) = (cached, probe)
            && t.metadata().table_id == base.table_id
        {
            let Some(found) = probe? else {
                return Ok(t);
            };
            let meta = if found.table_id == base.table_id {
                found
            } else {
                t.metadata().clone()
            };
            let latest =
                metadata::probe_forward(storage, &paths, Latest { meta, last: next }).await?;
            return Ok(self.remember(project, name, paths, latest.meta));
        }
        let latest = metadata::latest(storage, &paths, base).await?;
        Ok(self.remember(project, name, paths, latest.meta))
    }

    /// `TableNotFound`, or `ProjectNotFound` when the project is missing too.
    async fn missing_table<T>(&self, project: &str, name: &str) -> Result<T> {
        self.require_project(project).await?;
        TableNotFoundSnafu {
            project,
            table: name,
        }
        .fail()
    }

    fn cached(&self, project: &str, name: &str) -> Option<Table> {
        let tables = self.inner.tables.lock().unwrap_or_else(|e| e.into_inner());
        tables
            .get(&(project.to_string(), name.to_string()))
            .cloned()
    }

    /// The cached handle on `meta`'s table: the cached one if it is on `meta`'s version or a
    /// newer one; else a handle on `meta` sharing the cached handle's caches and pins (a new
    /// one when nothing of this table incarnation is cached), which replaces it in the cache.
    fn remember(&self, project: &str, name: &str, paths: TablePaths, meta: TableMetadata) -> Table {
        let mut tables = self.inner.tables.lock().unwrap_or_else(|e| e.into_inner());
        let key = (project.to_string(), name.to_string());
        let t = match tables.get(&key) {
            Some(old) if old.metadata().table_id == meta.table_id => {
                if old.metadata().schema_id >= meta.schema_id {
                    return old.clone();
                }
                old.with_metadata(meta)
            }
            _ => Table::new(
                project,
                name,
                paths,
                self.inner.storage.clone(),
                meta,
                self.inner.listener.clone(),
            ),
        };
        tables.insert(key, t.clone());
        t
    }

    /// `ALTER TABLE … SET TBLPROPERTIES (set)` / `UNSET TBLPROPERTIES (unset)`: writes the next
    /// metadata version (see [`crate::metadata`]) and returns a handle on it. Property names are
    /// case-insensitive; values are validated as at `CREATE TABLE`; `transactional` and
    /// `write.bucket.num` cannot change. Changing nothing writes nothing.
    pub async fn alter_table_properties(
        &self,
        project: &str,
        name: &str,
        set: &BTreeMap<String, String>,
        unset: &[String],
    ) -> Result<Table> {
        let paths = TablePaths::new(project, name)?;
        let storage = &self.inner.storage;
        for _ in 0..MAX_ALTER_ATTEMPTS {
            let Some(bytes) = storage.get_opt(&paths.schema(0)).await? else {
                return self.missing_table(project, name).await;
            };
            let base = TableMetadata::decode(&bytes)?;
            let Latest { meta, last } = metadata::latest(storage, &paths, base).await?;
            let properties = meta.properties.altered(set, unset)?;
            if properties == meta.properties {
                return self.table(project, name).await;
            }
            let Some(schema_id) = last.checked_add(1) else {
                return InvalidInputSnafu {
                    reason: format!("table '{project}.{name}' has no metadata versions left"),
                }
                .fail();
            };
            let next = TableMetadata {
                schema_id,
                properties,
                ..meta
            };
            if storage
                .put_if_absent(&paths.schema(schema_id), next.encode()?)
                .await?
            {
                return Ok(self.remember(project, name, paths, next));
            }
            // Another alter created this version first: apply ours on top of it.
        }
        TooManyConflictsSnafu {
            what: format!("ALTER TABLE {project}.{name} … TBLPROPERTIES"),
            attempts: MAX_ALTER_ATTEMPTS,
        }
        .fail()
    }

    pub async fn table_exists(&self, project: &str, name: &str) -> Result<bool> {
        let paths = TablePaths::new(project, name)?;
        self.inner.storage.exists(&paths.schema(0)).await
    }

    pub async fn list_tables(&self, project: &str) -> Result<Vec<String>> {
        self.require_project(project).await?;
        let (dirs, _) = self.inner.storage.list_dir(project).await?;
        let mut out = Vec::new();
        for d in dirs {
            if validate_name("table", &d).is_ok() && self.table_exists(project, &d).await? {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    pub async fn drop_table(&self, project: &str, name: &str, if_exists: bool) -> Result<()> {
        let paths = TablePaths::new(project, name)?;
        if !self.table_exists(project, name).await? {
            if if_exists {
                return Ok(());
            }
            return self.missing_table(project, name).await;
        }
        self.inner
            .tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(project.to_string(), name.to_string()));
        let storage = &self.inner.storage;
        let (dirs, _) = storage.list_dir(paths.root()).await?;
        for d in dirs.iter().filter(|d| d.as_str() != "schema") {
            storage
                .delete_prefix(&format!("{}/{d}", paths.root()))
                .await?;
        }
        // Metadata versions newest first, `schema/0` (the table's existence) last.
        let (_, files) = storage.list_dir(&paths.schema_dir()).await?;
        let mut versions: Vec<u32> = files.iter().filter_map(|f| f.parse().ok()).collect();
        versions.sort_unstable_by(|a, b| b.cmp(a));
        for v in versions.into_iter().filter(|v| *v != 0) {
            storage.delete(&paths.schema(v)).await?;
        }
        storage.delete(&paths.schema(0)).await
    }
}
