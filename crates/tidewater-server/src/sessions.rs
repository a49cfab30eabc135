//! The server's open Tunnel sessions: found by id (loaded from the warehouse when this process
//! has not seen them, e.g. after a restart or when another server created them), counted against
//! `max_sessions`, and swept for expiry.
//!
//! Invariant: one [`TunnelSession`] object per session id in this process, so its state lock
//! orders every block write, commit and abort the process serves for it.

use std::collections::HashMap;
use std::sync::Arc;

use tidewater_engine::{Table, TunnelSession, TunnelState};
use tokio::sync::Mutex;

use crate::error::{ApiError, ApiResult};

pub struct SessionRegistry {
    sessions: Mutex<HashMap<String, Arc<TunnelSession>>>,
    max_sessions: usize,
}

impl SessionRegistry {
    pub fn new(max_sessions: usize) -> Self {
        SessionRegistry {
            sessions: Mutex::new(HashMap::new()),
            max_sessions,
        }
    }

    /// Fails with 429 when `max_sessions` sessions are open.
    pub async fn admit(&self) -> ApiResult<()> {
        let open = self.open_count().await;
        if open >= self.max_sessions {
            return Err(ApiError::busy(
                format!(
                    "{open} sessions are open, the server's limit is {}: commit or abort sessions, or retry later",
                    self.max_sessions
                ),
                5,
            ));
        }
        Ok(())
    }

    pub async fn insert(&self, session: TunnelSession) -> Arc<TunnelSession> {
        let s = Arc::new(session);
        self.sessions
            .lock()
            .await
            .insert(s.id().to_string(), s.clone());
        s
    }

    /// The session `id` of `table`.
    pub async fn get(&self, table: &Table, id: &str) -> ApiResult<Arc<TunnelSession>> {
        let mut map = self.sessions.lock().await;
        if let Some(s) = map.get(id) {
            if s.table().metadata().table_id != table.metadata().table_id {
                return Err(ApiError::not_found(format!(
                    "session '{id}' does not belong to table '{}'",
                    table.full_name()
                )));
            }
            return Ok(s.clone());
        }
        // Loading holds the map lock so two requests never load two objects for one session.
        let s = Arc::new(table.load_tunnel_session(id).await?);
        map.insert(id.to_string(), s.clone());
        Ok(s)
    }

    pub async fn open_count(&self) -> usize {
        let sessions: Vec<Arc<TunnelSession>> =
            self.sessions.lock().await.values().cloned().collect();
        let mut n = 0;
        for s in sessions {
            if s.status().await.state == TunnelState::Open {
                n += 1;
            }
        }
        n
    }

    /// Expires sessions whose lifecycle ended and forgets finished ones (a later request for
    /// them reloads their outcome from the warehouse). Returns how many expired.
    pub async fn sweep(&self, now_ms: i64) -> usize {
        let sessions: Vec<Arc<TunnelSession>> =
            self.sessions.lock().await.values().cloned().collect();
        let mut expired = 0;
        let mut finished = Vec::new();
        for s in sessions {
            match s.expire_if_due(now_ms).await {
                Ok(true) => {
                    tracing::info!(session = s.id(), table = %s.table().full_name(), "session expired; its blocks were deleted");
                    expired += 1;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(session = s.id(), error = %e, "could not expire a session")
                }
            }
            if s.status().await.state != TunnelState::Open {
                finished.push(s.id().to_string());
            }
        }
        let mut map = self.sessions.lock().await;
        for id in finished {
            map.remove(&id);
        }
        expired
    }
}
