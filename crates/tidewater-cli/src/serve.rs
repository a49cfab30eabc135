//! `tidewater serve`: the Tunnel server on a warehouse.
//!
//! ```text
//! tidewater serve                                   ./warehouse on 127.0.0.1:8470
//! tidewater serve --warehouse /data/wh --listen 0.0.0.0:8470 --config tidewater.toml
//! ```
//!
//! Settings come from, in order of precedence: flags, `TIDEWATER_*` environment variables, the
//! TOML file of `--config`, defaults. Root credentials come from `TIDEWATER_ACCESS_ID` and
//! `TIDEWATER_ACCESS_KEY`, or are generated on the first start of a warehouse and printed once.
//! The first line on standard output is `listening on http://ADDR`. Ctrl-C or SIGTERM stops the
//! server gracefully (requests in flight finish).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use tidewater_server::ServerConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The warehouse: a directory, or a URL (file://, memory://, s3://). Default ./warehouse.
    #[arg(long, env = "TIDEWATER_WAREHOUSE")]
    pub warehouse: Option<String>,

    /// HOST:PORT to listen on (port 0 picks a free port). Default 127.0.0.1:8470.
    #[arg(long, env = "TIDEWATER_LISTEN")]
    pub listen: Option<String>,

    /// A TOML file with any of the settings (see README, "Configuration").
    #[arg(long, env = "TIDEWATER_CONFIG")]
    pub config: Option<PathBuf>,

    /// Largest block body in bytes.
    #[arg(long, env = "TIDEWATER_MAX_BLOCK_BYTES")]
    pub max_block_bytes: Option<u64>,

    /// Open sessions at once.
    #[arg(long, env = "TIDEWATER_MAX_SESSIONS")]
    pub max_sessions: Option<usize>,

    /// Requests processed at once.
    #[arg(long, env = "TIDEWATER_MAX_CONCURRENT_REQUESTS")]
    pub max_concurrent_requests: Option<usize>,

    /// Request bodies held in memory at once, in bytes.
    #[arg(long, env = "TIDEWATER_MAX_BUFFERED_BYTES")]
    pub max_buffered_bytes: Option<u64>,

    /// Largest allowed difference between a request's date and the server clock, in seconds.
    #[arg(long, env = "TIDEWATER_MAX_CLOCK_SKEW_SECS")]
    pub max_clock_skew_secs: Option<u64>,

    /// Serve /metrics without credentials.
    #[arg(long, env = "TIDEWATER_PUBLIC_METRICS")]
    pub public_metrics: bool,

    /// Run without the background compaction, expiry and vacuum service (`[maintenance]
    /// enabled = false`), e.g. when another process maintains the warehouse.
    #[arg(long, env = "TIDEWATER_NO_MAINTENANCE")]
    pub no_maintenance: bool,

    /// Log filter (tracing EnvFilter syntax, e.g. `info` or `tidewater_server=debug`).
    #[arg(long, env = "TIDEWATER_LOG", default_value = "info")]
    pub log: String,

    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl ServeArgs {
    /// The configuration: file (if any), then flags and environment on top.
    pub fn config(&self) -> Result<ServerConfig, String> {
        let mut c = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read --config '{}': {e}", path.display()))?;
                ServerConfig::from_toml(&text)
                    .map_err(|e| format!("--config '{}': {e}", path.display()))?
            }
            None => ServerConfig::default(),
        };
        if let Some(v) = &self.warehouse {
            c.warehouse = v.clone();
        }
        if let Some(v) = &self.listen {
            c.listen = v.clone();
        }
        if let Some(v) = self.max_block_bytes {
            c.limits.max_block_bytes = v;
        }
        if let Some(v) = self.max_sessions {
            c.limits.max_sessions = v;
        }
        if let Some(v) = self.max_concurrent_requests {
            c.limits.max_concurrent_requests = v;
        }
        if let Some(v) = self.max_buffered_bytes {
            c.limits.max_buffered_bytes = v;
        }
        if let Some(v) = self.max_clock_skew_secs {
            c.max_clock_skew_secs = v;
        }
        if self.public_metrics {
            c.public_metrics = true;
        }
        if self.no_maintenance {
            c.maintenance.enabled = false;
        }
        c.listen_addr()?;
        Ok(c)
    }
}

/// Root credentials from `TIDEWATER_ACCESS_ID` / `TIDEWATER_ACCESS_KEY` (both or neither).
pub fn root_from_env() -> Result<Option<(String, String)>, String> {
    let id = std::env::var("TIDEWATER_ACCESS_ID")
        .ok()
        .filter(|v| !v.is_empty());
    let key = std::env::var("TIDEWATER_ACCESS_KEY")
        .ok()
        .filter(|v| !v.is_empty());
    match (id, key) {
        (Some(i), Some(k)) => Ok(Some((i, k))),
        (None, None) => Ok(None),
        _ => Err("set both TIDEWATER_ACCESS_ID and TIDEWATER_ACCESS_KEY, or neither".into()),
    }
}

fn init_logs(args: &ServeArgs) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .map_err(|e| format!("--log '{}': {e}", args.log))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let r = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    r.map_err(|e| format!("cannot start logging: {e}"))
}

pub fn run_blocking(args: ServeArgs) -> ExitCode {
    let result = (|| {
        init_logs(&args)?;
        let config = args.config()?;
        let root = root_from_env()?;
        let rt = tokio::runtime::Runtime::new()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        rt.block_on(serve(config, root))
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tidewater serve: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: ServerConfig, root: Option<(String, String)>) -> Result<(), String> {
    let server = tidewater_server::start(config, root).await?;
    println!("listening on {}", server.endpoint());
    if let Some(r) = &server.generated_root {
        println!("generated root credentials (shown once; they are stored in the warehouse):");
        println!("  export TIDEWATER_ACCESS_ID={}", r.access_id);
        println!("  export TIDEWATER_ACCESS_KEY={}", r.access_key);
    }
    let trigger = server.shutdown_trigger();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = trigger.send(true);
    });
    server
        .wait()
        .await
        .map_err(|e| format!("the server failed: {e}"))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
