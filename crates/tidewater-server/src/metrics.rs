//! Prometheus metrics (`GET /metrics`): rows, bytes and blocks written, commits and their
//! latency, open sessions, and failed requests by status.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: u16,
}

pub struct Metrics {
    registry: Registry,
    pub rows_written: Counter,
    pub bytes_received: Counter,
    pub blocks_written: Counter,
    pub commits: Counter,
    pub commit_seconds: Histogram,
    /// Derived from the session registry when `/metrics` is read.
    pub open_sessions: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub errors: Family<StatusLabel, Counter>,
    pub sql_statements: Counter<u64, AtomicU64>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tidewater");
        let m = Metrics {
            rows_written: Counter::default(),
            bytes_received: Counter::default(),
            blocks_written: Counter::default(),
            commits: Counter::default(),
            commit_seconds: Histogram::new([
                0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
            ]),
            open_sessions: Gauge::default(),
            errors: Family::default(),
            sql_statements: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "rows_written",
            "Rows acknowledged in blocks",
            m.rows_written.clone(),
        );
        registry.register(
            "bytes_received",
            "Bytes of block bodies received",
            m.bytes_received.clone(),
        );
        registry.register(
            "blocks_written",
            "Blocks acknowledged",
            m.blocks_written.clone(),
        );
        registry.register("commits", "Sessions committed", m.commits.clone());
        registry.register(
            "commit_duration_seconds",
            "Latency of session commits",
            m.commit_seconds.clone(),
        );
        registry.register(
            "open_sessions",
            "Sessions open in this server",
            m.open_sessions.clone(),
        );
        registry.register(
            "request_errors",
            "Failed requests by HTTP status",
            m.errors.clone(),
        );
        registry.register(
            "sql_statements",
            "SQL statements run",
            m.sql_statements.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
