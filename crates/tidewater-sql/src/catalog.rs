//! The DataFusion catalog over a warehouse: one catalog ([`CATALOG`]) whose schemas are the
//! warehouse's projects, plus the per-statement schema of pinned tables (time travel).
//!
//! Resolving a table opens it and pins its latest snapshot ([`SnapshotTable`]), so a statement
//! reads one snapshot per table however often it names it. Names are looked up lower-cased.
//! `table_names` (synchronous in DataFusion) is not used by our statements and lists only the
//! pinned tables; `SHOW TABLES` asks the warehouse.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use tidewater_engine::Warehouse;

use crate::access::{self, Access, AccessCheck};
use crate::error::to_df;
use crate::provider::SnapshotTable;
use crate::timetravel::PINNED_SCHEMA;

/// Name of the DataFusion catalog.
pub const CATALOG: &str = "tidewater";

type Pinned = Arc<Mutex<HashMap<String, Arc<dyn TableProvider>>>>;

/// The warehouse as a DataFusion catalog.
pub struct WarehouseCatalog {
    warehouse: Warehouse,
    pinned: Pinned,
    functions: Arc<Vec<String>>,
    access: Option<AccessCheck>,
}

impl std::fmt::Debug for WarehouseCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarehouseCatalog")
            .field("warehouse", &self.warehouse.location())
            .field("access_checked", &self.access.is_some())
            .finish()
    }
}

impl WarehouseCatalog {
    /// `table_functions`: names that are not tables when no table has them.
    pub fn new(warehouse: Warehouse, table_functions: Vec<String>) -> Self {
        WarehouseCatalog {
            warehouse,
            pinned: Arc::default(),
            functions: Arc::new(table_functions),
            access: None,
        }
    }

    /// Tables are read only where `access` allows [`Access::Read`].
    pub fn with_access(mut self, access: AccessCheck) -> Self {
        self.access = Some(access);
        self
    }

    /// Registers a temporary table for the statement being planned.
    pub(crate) fn pin(&self, name: &str, table: Arc<dyn TableProvider>) {
        lock(&self.pinned).insert(name.to_string(), table);
    }

    /// Forgets temporary tables once their statement is planned.
    pub(crate) fn unpin(&self, name: &str) {
        lock(&self.pinned).remove(name);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl CatalogProvider for WarehouseCatalog {
    fn schema_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == PINNED_SCHEMA {
            return Some(Arc::new(PinnedSchema {
                tables: self.pinned.clone(),
            }));
        }
        Some(Arc::new(ProjectSchema {
            warehouse: self.warehouse.clone(),
            project: name.to_ascii_lowercase(),
            functions: self.functions.clone(),
            access: self.access.clone(),
        }))
    }
}

/// One project.
struct ProjectSchema {
    warehouse: Warehouse,
    project: String,
    /// Names of the table functions (`range`, `generate_series`, …).
    functions: Arc<Vec<String>>,
    access: Option<AccessCheck>,
}

impl std::fmt::Debug for ProjectSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectSchema")
            .field("project", &self.project)
            .finish()
    }
}

#[async_trait]
impl SchemaProvider for ProjectSchema {
    fn table_names(&self) -> Vec<String> {
        Vec::new()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Err(e) = access::check(&self.access, &self.project, Access::Read) {
            // `FROM range(10)` needs no grant: DataFusion asks for table functions' names too.
            if self.functions.iter().any(|f| f.eq_ignore_ascii_case(name)) {
                return Ok(None);
            }
            return Err(DataFusionError::External(Box::new(e)));
        }
        let table = match self
            .warehouse
            .table(&self.project, &name.to_ascii_lowercase())
            .await
        {
            Ok(t) => t,
            // `FROM range(10)`: DataFusion asks for table functions' names too.
            Err(tidewater_engine::Error::TableNotFound { .. })
                if self.functions.iter().any(|f| f.eq_ignore_ascii_case(name)) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(to_df(e)),
        };
        let snapshot = table.latest_snapshot().await.map_err(to_df)?;
        Ok(Some(Arc::new(SnapshotTable::new(table, snapshot))))
    }

    fn table_exist(&self, _name: &str) -> bool {
        false
    }
}

/// The temporary tables of the statement being planned.
#[derive(Debug)]
struct PinnedSchema {
    tables: Pinned,
}

#[async_trait]
impl SchemaProvider for PinnedSchema {
    fn table_names(&self) -> Vec<String> {
        lock(&self.tables).keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(lock(&self.tables).get(name).cloned())
    }

    fn table_exist(&self, name: &str) -> bool {
        lock(&self.tables).contains_key(name)
    }
}
