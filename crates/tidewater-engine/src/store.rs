//! The warehouse's object store and the few operations the engine needs on it.
//!
//! A warehouse location is a local directory (default), `file://…`, `memory://` or `s3://…`.
//! Local directories use [`local::DurableLocalStore`], which fsyncs every written file and its
//! directory before a put returns, so an acknowledged write survives a power loss.
//!
//! Invariant: the only atomic step the engine relies on is [`Storage::put_if_absent`]
//! (object_store `PutMode::Create`).

pub mod local;

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use snafu::ResultExt;

use crate::error::{InvalidLocationSnafu, Result, StoreSnafu};

/// Opens the object store of a warehouse location.
pub fn open_store(location: &str) -> Result<Arc<dyn ObjectStore>> {
    let bad = |reason: String| InvalidLocationSnafu { location, reason }.fail();
    if location == "memory://" || location == "memory:" {
        return Ok(Arc::new(InMemory::new()));
    }
    if let Some(rest) = location.strip_prefix("file://") {
        return Ok(Arc::new(local::DurableLocalStore::new(rest)?));
    }
    if location.starts_with("s3://") {
        let url = match url::Url::parse(location) {
            Ok(u) => u,
            Err(e) => return bad(e.to_string()),
        };
        let s3 = object_store::aws::AmazonS3Builder::from_env()
            .with_url(url.as_str())
            .build()
            .map_err(|e| {
                InvalidLocationSnafu {
                    location,
                    reason: e.to_string(),
                }
                .build()
            })?;
        return Ok(Arc::new(s3));
    }
    if location.contains("://") {
        return bad("unsupported scheme (use a directory, file://, memory:// or s3://)".into());
    }
    Ok(Arc::new(local::DurableLocalStore::new(location)?))
}

/// Thin wrapper over the store with the engine's error context.
#[derive(Debug, Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
}

impl Storage {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Storage { store }
    }

    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Reads a whole object; `Ok(None)` if it does not exist.
    pub async fn get_opt(&self, path: &str) -> Result<Option<Bytes>> {
        let p = Path::from(path);
        match self.store.get(&p).await {
            Ok(r) => Ok(Some(
                r.bytes().await.context(StoreSnafu { op: "read", path })?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(source).context(StoreSnafu { op: "read", path }),
        }
    }

    pub async fn get(&self, path: &str) -> Result<Bytes> {
        let p = Path::from(path);
        let r = self
            .store
            .get(&p)
            .await
            .context(StoreSnafu { op: "read", path })?;
        r.bytes().await.context(StoreSnafu { op: "read", path })
    }

    pub async fn exists(&self, path: &str) -> Result<bool> {
        match self.store.head(&Path::from(path)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(source).context(StoreSnafu { op: "head", path }),
        }
    }

    /// Writes (or replaces) an object durably.
    pub async fn put(&self, path: &str, bytes: impl Into<Bytes>) -> Result<()> {
        self.store
            .put(&Path::from(path), PutPayload::from_bytes(bytes.into()))
            .await
            .context(StoreSnafu { op: "write", path })?;
        Ok(())
    }

    /// Creates an object only if none exists at `path`: `Ok(false)` when one already does.
    pub async fn put_if_absent(&self, path: &str, bytes: impl Into<Bytes>) -> Result<bool> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(
                &Path::from(path),
                PutPayload::from_bytes(bytes.into()),
                opts,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(source) => Err(source).context(StoreSnafu { op: "create", path }),
        }
    }

    /// Deletes an object; a missing object is not an error.
    pub async fn delete(&self, path: &str) -> Result<()> {
        match self.store.delete(&Path::from(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(source).context(StoreSnafu { op: "delete", path }),
        }
    }

    /// Every object below `prefix` (recursively), as paths.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let p = Path::from(prefix);
        self.store
            .list(Some(&p))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .context(StoreSnafu {
                op: "list",
                path: prefix,
            })
    }

    /// Every object below `prefix` with its last-modified time (ms since the epoch).
    pub async fn list_modified(&self, prefix: &str) -> Result<Vec<(String, i64)>> {
        let p = Path::from(prefix);
        self.store
            .list(Some(&p))
            .map_ok(|m| (m.location.to_string(), m.last_modified.timestamp_millis()))
            .try_collect()
            .await
            .context(StoreSnafu {
                op: "list",
                path: prefix,
            })
    }

    /// The immediate children of `prefix`: (directories, objects), as last path segments.
    pub async fn list_dir(&self, prefix: &str) -> Result<(Vec<String>, Vec<String>)> {
        let p = Path::from(prefix);
        let r = self
            .store
            .list_with_delimiter(if prefix.is_empty() { None } else { Some(&p) })
            .await
            .context(StoreSnafu {
                op: "list",
                path: prefix,
            })?;
        let last = |p: &Path| p.filename().unwrap_or_default().to_string();
        Ok((
            r.common_prefixes.iter().map(last).collect(),
            r.objects.iter().map(|m| last(&m.location)).collect(),
        ))
    }

    /// Deletes every object below `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let paths = self.list(prefix).await?;
        futures::stream::iter(paths)
            .map(|p| async move { self.delete(&p).await })
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}
