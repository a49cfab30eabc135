//! A durable local-directory object store.
//!
//! object_store 0.13's `LocalFileSystem` does not fsync. This wrapper implements `put` itself:
//! the bytes go to a temporary file under `<root>/.tmp/`, which is fsynced, then moved into place
//! (`rename` to overwrite, `hard_link` for put-if-absent, which fails if the target exists), and
//! the target directory — plus every directory created for it — is fsynced before the put
//! returns. Every other operation is delegated to `LocalFileSystem`.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use crate::error::{InvalidLocationSnafu, Result};

const TMP_DIR: &str = ".tmp";

#[derive(Debug)]
pub struct DurableLocalStore {
    inner: Arc<LocalFileSystem>,
    root: PathBuf,
}

impl std::fmt::Display for DurableLocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DurableLocalStore({})", self.root.display())
    }
}

impl DurableLocalStore {
    /// Opens (creating if needed) a warehouse directory.
    pub fn new(dir: &str) -> Result<Self> {
        let bad = |reason: String| InvalidLocationSnafu {
            location: dir,
            reason,
        };
        fs::create_dir_all(dir).map_err(|e| bad(e.to_string()).build())?;
        let root = fs::canonicalize(dir).map_err(|e| bad(e.to_string()).build())?;
        fs::create_dir_all(root.join(TMP_DIR)).map_err(|e| bad(e.to_string()).build())?;
        let inner = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| bad(e.to_string()).build())?
            .with_automatic_cleanup(true);
        Ok(DurableLocalStore {
            inner: Arc::new(inner),
            root,
        })
    }

    pub fn root(&self) -> &FsPath {
        &self.root
    }
}

fn io_err(path: &FsPath, e: std::io::Error) -> object_store::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        object_store::Error::NotFound {
            path: path.display().to_string(),
            source: Box::new(e),
        }
    } else {
        object_store::Error::Generic {
            store: "DurableLocalStore",
            source: Box::new(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            )),
        }
    }
}

fn sync_dir(dir: &FsPath) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing ancestors, fsyncing the parent of each created directory.
fn create_dirs_durably(dir: &FsPath) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.exists() {
        missing.push(cur.to_path_buf());
        match cur.parent() {
            Some(p) => cur = p,
            None => break,
        }
    }
    for d in missing.iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        if let Some(parent) = d.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

fn put_blocking(
    root: &FsPath,
    target: &FsPath,
    payload: PutPayload,
    create: bool,
) -> object_store::Result<()> {
    let dir = target.parent().unwrap_or(root);
    create_dirs_durably(dir).map_err(|e| io_err(dir, e))?;
    let tmp = root.join(TMP_DIR).join(uuid::Uuid::new_v4().to_string());
    let write = || -> std::io::Result<()> {
        let mut f = File::create_new(&tmp)?;
        for chunk in payload.iter() {
            f.write_all(chunk)?;
        }
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp, e));
    }
    let placed = if create {
        let r = fs::hard_link(&tmp, target);
        let _ = fs::remove_file(&tmp);
        r
    } else {
        fs::rename(&tmp, target)
    };
    if let Err(e) = placed {
        let _ = fs::remove_file(&tmp);
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            return Err(object_store::Error::AlreadyExists {
                path: target.display().to_string(),
                source: Box::new(e),
            });
        }
        return Err(io_err(target, e));
    }
    sync_dir(dir).map_err(|e| io_err(dir, e))
}

#[async_trait]
impl ObjectStore for DurableLocalStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let create = match opts.mode {
            PutMode::Overwrite => false,
            PutMode::Create => true,
            PutMode::Update(_) => return self.inner.put_opts(location, payload, opts).await,
        };
        let target = self.inner.path_to_filesystem(location)?;
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || put_blocking(&root, &target, payload, create))
            .await
            .map_err(|e| object_store::Error::JoinError { source: e })??;
        Ok(PutResult {
            e_tag: None,
            version: None,
        })
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    #[tokio::test]
    async fn put_if_absent_refuses_to_replace_and_put_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let store = DurableLocalStore::new(dir.path().to_str().unwrap()).unwrap();
        let p = Path::from("a/b/c");
        let create = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        store
            .put_opts(&p, "one".into(), create.clone())
            .await
            .unwrap();
        let err = store.put_opts(&p, "two".into(), create).await.unwrap_err();
        assert!(
            matches!(err, object_store::Error::AlreadyExists { .. }),
            "{err}"
        );
        assert_eq!(store.get(&p).await.unwrap().bytes().await.unwrap(), "one");
        store.put(&p, "three".into()).await.unwrap();
        assert_eq!(store.get(&p).await.unwrap().bytes().await.unwrap(), "three");
        // No temporary files are left behind, and they never show up in listings.
        assert_eq!(fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(), 0);
    }
}
