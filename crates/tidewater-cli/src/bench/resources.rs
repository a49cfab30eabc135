//! What a run costs besides time: memory of this process (Linux `/proc/self`) and of a server
//! process it started (`/proc/<pid>`), bytes and files on disk.

use std::path::Path;

use snafu::ResultExt;

use crate::error::{IoSnafu, Result};

/// A field of `/proc/self/status` in MiB (`VmHWM`: peak resident set, `VmRSS`: current), or
/// `None` where `/proc` is not there (not Linux).
pub fn proc_status_mb(field: &str) -> Option<f64> {
    status_mb("/proc/self/status", field)
}

/// The same field of another process of ours (a server the run started), by its id.
pub fn process_status_mb(pid: u32, field: &str) -> Option<f64> {
    status_mb(&format!("/proc/{pid}/status"), field)
}

fn status_mb(path: &str, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line
        .trim_start_matches(field)
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Resets the peak resident set to the current one (Linux ≥ 4.0), so the peak measures the
/// timed phases, not the generation of their data. `false` when the kernel refused.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Bytes and files below a directory.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    pub bytes: u64,
    pub files: u64,
    /// `*.parquet` files: the data files.
    pub parquet_files: u64,
    pub parquet_bytes: u64,
}

/// Walks `dir` recursively (symlinks are not followed).
pub fn disk_usage(dir: &Path) -> Result<DiskUsage> {
    let mut usage = DiskUsage::default();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d).context(IoSnafu {
            op: "listing",
            path: &d,
        })?;
        for entry in entries {
            let entry = entry.context(IoSnafu {
                op: "listing",
                path: &d,
            })?;
            let path = entry.path();
            let meta = entry.metadata().context(IoSnafu {
                op: "reading metadata of",
                path: &path,
            })?;
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file() {
                usage.bytes += meta.len();
                usage.files += 1;
                if path.extension().is_some_and(|e| e == "parquet") {
                    usage.parquet_files += 1;
                    usage.parquet_bytes += meta.len();
                }
            }
        }
    }
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_usage_counts_nested_files_and_parquet_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/x.parquet"), [0u8; 10]).unwrap();
        std::fs::write(dir.path().join("a/y.json"), [0u8; 5]).unwrap();
        let u = disk_usage(dir.path()).unwrap();
        assert_eq!(
            u,
            DiskUsage {
                bytes: 15,
                files: 2,
                parquet_files: 1,
                parquet_bytes: 10
            }
        );
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            // The current size first: other test threads may grow it before the peak is read.
            let now = proc_status_mb("VmRSS").unwrap();
            let peak = proc_status_mb("VmHWM").unwrap();
            assert!(peak >= now && now > 0.0);
        }
    }
}
