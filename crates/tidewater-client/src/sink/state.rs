//! The sink's state file: which checkpoint was committed last (with the source position it
//! covers), which one is prepared but maybe not committed, and which sessions are open.
//!
//! Invariants: the file is replaced atomically (write `<file>.tmp`, fsync, rename, fsync the
//! directory), so after a crash it holds either the old or the new state, never a mix; one
//! process at a time owns it (an exclusive lock on `<file>.lock`, released by the OS when the
//! process dies, `kill -9` included); a session id moves `open → pending → last` and only a
//! pending session is ever committed.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use snafu::ResultExt;

use crate::sink::error::{Result, StateIoSnafu, StateSnafu};

pub(crate) const FORMAT_VERSION: u32 = 1;

/// A checkpoint: the sessions that carry its rows and the source position after its last row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    pub checkpoint: u64,
    #[serde(default)]
    pub sessions: Vec<String>,
    /// Opaque to the sink: what the source needs to resume after this checkpoint.
    pub position: Value,
    /// The snapshot the commit created (committed checkpoints with rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<u64>,
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub committed_ms: Option<i64>,
}

/// What the state file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SinkState {
    pub format_version: u32,
    pub job_id: String,
    pub project: String,
    pub table: String,
    pub operation: String,
    /// The last committed checkpoint.
    #[serde(default)]
    pub last: Option<CheckpointRecord>,
    /// Flushed and recorded, commit requested or about to be: resolved on restart.
    #[serde(default)]
    pub pending: Option<CheckpointRecord>,
    /// Sessions of the running checkpoint: never committed; aborted on restart.
    #[serde(default)]
    pub open: Vec<String>,
}

/// The locked state file of one job.
#[derive(Debug)]
pub(crate) struct StateFile {
    pub path: PathBuf,
    /// Held for the life of the sink: the OS releases it when the process ends.
    _lock: File,
}

impl StateFile {
    /// Locks `<dir>/<job_id>.json` for this process and reads it (`None`: a new job).
    pub fn open(dir: &Path, job_id: &str) -> Result<(StateFile, Option<SinkState>)> {
        if job_id.is_empty()
            || !job_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            || job_id.starts_with('.')
        {
            return StateSnafu {
                path: dir.to_path_buf(),
                reason: format!(
                    "job id '{job_id}' may only hold letters, digits, '_', '-' and '.' (not first)"
                ),
            }
            .fail();
        }
        fs::create_dir_all(dir).context(StateIoSnafu {
            op: "creating the sink state directory",
            path: dir,
        })?;
        let path = dir.join(format!("{job_id}.json"));
        let lock_path = dir.join(format!("{job_id}.lock"));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .context(StateIoSnafu {
                op: "opening the lock file",
                path: &lock_path,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return StateSnafu {
                    path: lock_path,
                    reason: format!("job '{job_id}' is running in another process"),
                }
                .fail();
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(source).context(StateIoSnafu {
                    op: "locking",
                    path: lock_path,
                });
            }
        }
        let state = match fs::read(&path) {
            Ok(bytes) => {
                let state: SinkState = serde_json::from_slice(&bytes).map_err(|e| {
                    StateSnafu {
                        path: path.clone(),
                        reason: format!("cannot be decoded: {e}"),
                    }
                    .build()
                })?;
                if state.format_version > FORMAT_VERSION {
                    return StateSnafu {
                        path,
                        reason: format!(
                            "format version {} is newer than this program's {FORMAT_VERSION}",
                            state.format_version
                        ),
                    }
                    .fail();
                }
                Some(state)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(source).context(StateIoSnafu {
                    op: "reading",
                    path,
                });
            }
        };
        Ok((StateFile { path, _lock: lock }, state))
    }

    /// Replaces the file with `state`, durably.
    pub fn save(&self, state: &SinkState) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| {
            StateSnafu {
                path: self.path.clone(),
                reason: format!("cannot be encoded: {e}"),
            }
            .build()
        })?;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = File::create(&tmp).context(StateIoSnafu {
            op: "creating",
            path: &tmp,
        })?;
        file.write_all(&bytes).context(StateIoSnafu {
            op: "writing",
            path: &tmp,
        })?;
        file.sync_all().context(StateIoSnafu {
            op: "syncing",
            path: &tmp,
        })?;
        drop(file);
        fs::rename(&tmp, &self.path).context(StateIoSnafu {
            op: "renaming into",
            path: &self.path,
        })?;
        sync_dir(&self.path)
    }
}

/// Fsyncs the directory holding `path`, so a rename in it is durable.
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .context(StateIoSnafu {
                op: "syncing the directory",
                path: dir,
            })?;
    }
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SinkState {
        SinkState {
            format_version: FORMAT_VERSION,
            job_id: "j".into(),
            project: "default".into(),
            table: "t".into(),
            operation: "upsert".into(),
            last: None,
            pending: Some(CheckpointRecord {
                checkpoint: 3,
                sessions: vec!["s".into()],
                position: serde_json::json!({"offset": 10}),
                snapshot_id: None,
                rows: 0,
                committed_ms: None,
            }),
            open: vec![],
        }
    }

    #[test]
    fn saved_state_reads_back_and_the_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let (file, none) = StateFile::open(dir.path(), "j").unwrap();
        assert!(none.is_none());
        file.save(&state()).unwrap();
        // Same process, second handle: the lock is per open file description.
        let e = StateFile::open(dir.path(), "j").unwrap_err();
        assert!(e.to_string().contains("running in another process"), "{e}");
        drop(file);
        let (_file, read) = StateFile::open(dir.path(), "j").unwrap();
        assert_eq!(read, Some(state()));
    }

    #[test]
    fn job_ids_cannot_escape_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "../x", "a/b", ".hidden"] {
            assert!(StateFile::open(dir.path(), bad).is_err(), "{bad}");
        }
    }
}
