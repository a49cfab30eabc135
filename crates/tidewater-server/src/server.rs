//! Starting and stopping the server: the shared state, the listener, the session sweeper and
//! graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tidewater_engine::Warehouse;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::auth::{Authenticator, GeneratedRoot};
use crate::config::ServerConfig;
use crate::maintenance::Maintenance;
use crate::metrics::Metrics;
use crate::sessions::SessionRegistry;

/// What every request handler shares.
pub struct AppState {
    pub warehouse: Warehouse,
    pub auth: Authenticator,
    pub sessions: SessionRegistry,
    pub metrics: Metrics,
    pub config: ServerConfig,
    /// Bytes of request bodies held at once.
    pub buffer: Semaphore,
    /// Requests processed at once.
    pub requests: Semaphore,
    pub maintenance: Arc<Maintenance>,
}

/// A running server.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Root credentials generated on this start (first start of a warehouse without
    /// `TIDEWATER_ACCESS_ID`/`TIDEWATER_ACCESS_KEY`); print them once.
    pub generated_root: Option<GeneratedRoot>,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// `http://ADDR`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets requests in flight finish, and returns.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        self.wait().await
    }

    /// Runs until the server stops (after [`RunningServer::shutdown`] or a failure).
    pub async fn wait(self) -> std::io::Result<()> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// A handle that triggers a graceful shutdown (for signal handlers).
    pub fn shutdown_trigger(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Opens the warehouse, loads credentials (`root` overrides the stored root) and starts
/// serving on `config.listen` (port 0 picks a free port).
pub async fn start(
    config: ServerConfig,
    root: Option<(String, String)>,
) -> Result<RunningServer, String> {
    let addr = config.listen_addr()?;
    let warehouse = Warehouse::open(&config.warehouse)
        .await
        .map_err(|e| format!("cannot open the warehouse '{}': {e}", config.warehouse))?;
    let (auth, generated_root) =
        Authenticator::start(warehouse.storage().clone(), root, config.max_clock_skew()).await?;
    let limits = &config.limits;
    let state = Arc::new(AppState {
        sessions: SessionRegistry::new(limits.max_sessions),
        metrics: Metrics::new(),
        buffer: Semaphore::new(
            usize::try_from(limits.max_buffered_bytes)
                .unwrap_or(usize::MAX)
                .min(Semaphore::MAX_PERMITS),
        ),
        requests: Semaphore::new(limits.max_concurrent_requests.max(1)),
        warehouse,
        auth,
        config,
        maintenance: Arc::new(Maintenance::default()),
    });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let (shutdown, mut stopped) = watch::channel(false);
    let sweeper = spawn_sweeper(state.clone(), shutdown.subscribe());
    let maintenance = crate::maintenance::spawn(
        state.warehouse.clone(),
        state.maintenance.clone(),
        state.config.maintenance.clone(),
        shutdown.subscribe(),
    );
    let app = crate::routes::router(state.clone());
    // Answers streamed in several writes must not wait for delayed ACKs (Nagle).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let task = tokio::spawn(async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
        sweeper.abort();
        maintenance.abort();
        r
    });
    tracing::info!(%addr, warehouse = %state.warehouse.location(), "tidewater serving");
    Ok(RunningServer {
        addr,
        generated_root,
        state,
        shutdown,
        task,
    })
}

fn spawn_sweeper(state: Arc<AppState>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let every = Duration::from_secs(state.config.session_sweep_secs.max(1));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            state.sessions.sweep(tidewater_engine::now_ms()).await;
        }
    })
}
