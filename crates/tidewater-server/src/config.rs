//! Server configuration: where the warehouse is, where to listen, and the limits that keep the
//! server's memory bounded. Read from a TOML file (every key optional) and overridden by flags
//! and `TIDEWATER_*` environment variables in `tidewater serve`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8470";
pub const DEFAULT_WAREHOUSE: &str = "./warehouse";

/// Limits and back-pressure. Memory held for requests is at most `max_buffered_bytes` (bodies
/// being received or processed) plus the encoding of at most `max_concurrent_requests` blocks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest block body (413 above it).
    pub max_block_bytes: u64,
    /// Largest body of any other request.
    pub max_request_bytes: u64,
    /// Open sessions at once (429 above it).
    pub max_sessions: usize,
    /// Requests processed at once (429 above it).
    pub max_concurrent_requests: usize,
    /// Request bodies held in memory at once; a request waits up to `buffer_wait_ms` for room,
    /// then gets 429.
    pub max_buffered_bytes: u64,
    pub buffer_wait_ms: u64,
    /// Largest SQL result answered as JSON (rows); Arrow answers stream without a limit.
    pub max_json_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_block_bytes: 64 << 20,
            max_request_bytes: 1 << 20,
            max_sessions: 1024,
            max_concurrent_requests: 256,
            max_buffered_bytes: 512 << 20,
            buffer_wait_ms: 2000,
            max_json_rows: 100_000,
        }
    }
}

/// Everything `tidewater serve` needs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// A directory or URL (`file://`, `memory://`, `s3://`).
    pub warehouse: String,
    pub listen: String,
    /// Largest difference between a request's `x-tw-date` and the server clock.
    pub max_clock_skew_secs: u64,
    /// Serve `/metrics` without credentials (for a Prometheus scraper on a trusted network).
    pub public_metrics: bool,
    /// How often expired sessions are looked for.
    pub session_sweep_secs: u64,
    pub limits: Limits,
    pub maintenance: MaintenanceConfig,
}

/// The background compaction, expiry and vacuum service (`[maintenance]` in the file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaintenanceConfig {
    pub enabled: bool,
    /// Tables compacted at once.
    pub compaction_concurrency: usize,
    /// Threads of the maintenance runtime (compaction, expiry, vacuum).
    pub compaction_threads: usize,
    /// Nice value of those threads (Linux, 0–19): 0 = the writers' priority, 19 = idle CPU only.
    pub compaction_nice: i32,
    /// Longest a block write waits for compaction when a bucket is at the stop trigger.
    pub max_stall_ms: u64,
    /// How often snapshots are expired and tables vacuumed.
    pub retention_interval_secs: u64,
    /// Unreferenced files younger than this are never deleted.
    pub orphan_safety_secs: u64,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            enabled: true,
            compaction_concurrency: 1,
            compaction_threads: 2,
            compaction_nice: 10,
            max_stall_ms: 10_000,
            retention_interval_secs: 600,
            orphan_safety_secs: 24 * 3600,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            warehouse: DEFAULT_WAREHOUSE.to_string(),
            listen: DEFAULT_LISTEN.to_string(),
            max_clock_skew_secs: 900,
            public_metrics: false,
            session_sweep_secs: 60,
            limits: Limits::default(),
            maintenance: MaintenanceConfig::default(),
        }
    }
}

impl ServerConfig {
    /// Parses a TOML configuration file's text; unknown keys are errors naming the key.
    pub fn from_toml(text: &str) -> Result<ServerConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen
            .parse()
            .map_err(|e| format!("--listen '{}': {e} (expected HOST:PORT)", self.listen))
    }

    pub fn max_clock_skew(&self) -> Duration {
        Duration::from_secs(self.max_clock_skew_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_defaults_and_rejects_unknown_keys() {
        let c = ServerConfig::from_toml("warehouse = \"/data/wh\"\n[limits]\nmax_sessions = 10\n")
            .unwrap();
        assert_eq!(c.warehouse, "/data/wh");
        assert_eq!(c.limits.max_sessions, 10);
        assert_eq!(c.listen, DEFAULT_LISTEN);
        let err = ServerConfig::from_toml("listne = \"x\"").unwrap_err();
        assert!(err.contains("listne"), "{err}");
    }
}
