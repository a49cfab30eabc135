//! The warehouse catalog: projects and tables.
//!
//! A project exists when `<project>/_project.json` exists; a table exists when
//! `<project>/<table>/schema/0` exists (created with put-if-absent, so two concurrent creates of
//! one table cannot both succeed). Dropping a table deletes everything below its directory and
//! its schema last, so an interrupted drop leaves a (partly emptied) table that a second `DROP`
//! finishes, and creating a table never deletes anything (a concurrent create cannot lose the
//! other's data). The `default` project always exists.
//!
//! [`Warehouse`] caches open [`Table`]s so their snapshot and manifest caches are shared; a cached
//! table is reused only while its `table_id` matches the one in storage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use tidewater_format::path::{TablePaths, project_marker, validate_name};
use tidewater_format::schema::TableMetadata;
use tidewater_format::{TableProperties, TableSchema};

use crate::error::{
    ProjectExistsSnafu, ProjectNotEmptySnafu, ProjectNotFoundSnafu, Result, TableExistsSnafu,
    TableNotFoundSnafu,
};
use crate::store::{Storage, open_store};
use crate::table::Table;
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
            }),
        };
        w.write_project_marker(DEFAULT_PROJECT).await?;
        Ok(w)
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

    /// Opens a table (cached).
    pub async fn table(&self, project: &str, name: &str) -> Result<Table> {
        let paths = TablePaths::new(project, name)?;
        let Some(bytes) = self.inner.storage.get_opt(&paths.schema(0)).await? else {
            self.require_project(project).await?;
            return TableNotFoundSnafu {
                project,
                table: name,
            }
            .fail();
        };
        let meta = TableMetadata::decode(&bytes)?;
        let key = (project.to_string(), name.to_string());
        let mut tables = self.inner.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = tables.get(&key)
            && t.metadata().table_id == meta.table_id
        {
            return Ok(t.clone());
        }
        let t = Table::new(project, name, paths, self.inner.storage.clone(), meta);
        tables.insert(key, t.clone());
        Ok(t)
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
            self.require_project(project).await?;
            return TableNotFoundSnafu {
                project,
                table: name,
            }
            .fail();
        }
        self.inner
            .tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(project.to_string(), name.to_string()));
        let storage = &self.inner.storage;
        let schema_dir = format!("{}/schema", paths.root());
        let (dirs, _) = storage.list_dir(paths.root()).await?;
        for d in dirs.iter().filter(|d| d.as_str() != "schema") {
            storage
                .delete_prefix(&format!("{}/{d}", paths.root()))
                .await?;
        }
        storage.delete_prefix(&schema_dir).await
    }
}
