//! Tunnel sessions over HTTP: create, status, blocks, commit, abort.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use tidewater_engine::{SessionKind, TunnelSession, TunnelState};
use tidewater_format::api::{
    self, ARROW_STREAM, BlockAck, CommitAck, CreateSession, DEFAULT_LIFECYCLE_HOURS, HASH_NAME,
    HashSpec, NDJSON, SessionInfo, SessionState, Slot,
};
use tidewater_format::schema::TableKind;

use super::{created, json_body, number};
use crate::auth::{Identity, Role};
use crate::decode;
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

type SessionPath = Path<(String, String, String)>;

const MAX_LIFECYCLE_HOURS: u32 = 168;

pub(crate) async fn session_info(state: &AppState, s: &TunnelSession) -> SessionInfo {
    let table = s.table();
    let status = s.status().await;
    let key_columns = match table.kind() {
        TableKind::Delta => table.schema().primary_key.clone(),
        TableKind::Standard => Vec::new(),
    };
    let bucket_num = s.bucket_num();
    SessionInfo {
        session_id: s.id().to_string(),
        project: table.project().to_string(),
        table: table.name().to_string(),
        kind: match s.kind() {
            SessionKind::Upsert => api::SessionKind::Upsert,
            SessionKind::Insert => api::SessionKind::Insert,
        },
        state: match status.state {
            TunnelState::Open => SessionState::Open,
            TunnelState::Committed(_) => SessionState::Committed,
            TunnelState::Aborted => SessionState::Aborted,
            TunnelState::Expired => SessionState::Expired,
        },
        partition: s.partition(),
        dynamic_partitions: s.dynamic_partitions() && !table.schema().partition_columns.is_empty(),
        schema: table.schema().clone(),
        bucket_num,
        hash: HashSpec {
            name: HASH_NAME.into(),
            key_columns,
            bucket_num,
        },
        slots: vec![Slot {
            slot_id: 0,
            buckets: (0..bucket_num).collect(),
            endpoint: String::new(),
        }],
        created_ms: s.created_ms(),
        expires_ms: s.expires_ms(),
        blocks: status.blocks,
        rows: status.rows,
        snapshot_id: match status.state {
            TunnelState::Committed(id) => Some(id),
            _ => None,
        },
        max_block_bytes: state.config.limits.max_block_bytes,
    }
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path((project, table)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    who.require(&project, Role::Write)?;
    let req: CreateSession = json_body(&body)?;
    let hours = req.lifecycle_hours.unwrap_or(DEFAULT_LIFECYCLE_HOURS);
    if !(1..=MAX_LIFECYCLE_HOURS).contains(&hours) {
        return Err(ApiError::invalid(format!(
            "lifecycle_hours {hours} is out of range (1..={MAX_LIFECYCLE_HOURS})"
        )));
    }
    state.sessions.admit().await?;
    let table = state.warehouse.table(&project, &table).await?;
    let kind = match req.kind {
        api::SessionKind::Upsert => SessionKind::Upsert,
        api::SessionKind::Insert => SessionKind::Insert,
    };
    let session = table
        .create_tunnel_session(
            kind,
            req.partition.as_deref(),
            req.dynamic_partitions,
            i64::from(hours) * 3_600_000,
        )
        .await?;
    let session = state.sessions.insert(session).await;
    tracing::debug!(session = session.id(), table = %session.table().full_name(), "session created");
    Ok(created(session_info(&state, &session).await))
}

async fn find(
    state: &AppState,
    who: &Identity,
    (project, table, id): (String, String, String),
    role: Role,
) -> ApiResult<Arc<TunnelSession>> {
    who.require(&project, role)?;
    let table = state.warehouse.table(&project, &table).await?;
    state.sessions.get(&table, &id).await
}

pub async fn status(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(path): SessionPath,
) -> ApiResult<axum::Json<SessionInfo>> {
    let s = find(&state, &who, path, Role::Read).await?;
    Ok(axum::Json(session_info(&state, &s).await))
}

pub async fn put_block(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path((project, table, id, bucket, block)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<BlockAck>> {
    let bucket: u32 = number("bucket", &bucket)?;
    let block: u64 = number("block", &block)?;
    let s = find(&state, &who, (project, table, id), Role::Write).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let size = body.len() as u64;
    let batch = match content_type.as_str() {
        ARROW_STREAM => tokio::task::spawn_blocking(move || decode::arrow_stream(&body)).await,
        NDJSON | "application/json" => {
            let schema = decode::json_schema(s.table().schema(), s.dynamic_partitions());
            tokio::task::spawn_blocking(move || decode::ndjson(&schema, &body)).await
        }
        other => {
            return Err(ApiError::invalid(format!(
                "unsupported Content-Type '{other}' for a block: send {ARROW_STREAM} or {NDJSON}"
            )));
        }
    }
    .map_err(|e| ApiError::internal(format!("decoding the block failed: {e}")))??;
    state
        .maintenance
        .wait_for_room(
            s.table(),
            Duration::from_millis(state.config.maintenance.max_stall_ms),
        )
        .await;
    let written = s.write_block(bucket, block, &batch).await?;
    state.metrics.rows_written.inc_by(written.rows);
    state.metrics.bytes_received.inc_by(size);
    state.metrics.blocks_written.inc();
    Ok(axum::Json(BlockAck {
        bucket,
        block,
        rows: written.rows,
        replaced: written.replaced,
    }))
}

pub async fn commit(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(path): SessionPath,
) -> ApiResult<axum::Json<CommitAck>> {
    let s = find(&state, &who, path, Role::Write).await?;
    let was_open = s.status().await.state == TunnelState::Open;
    let started = Instant::now();
    let snapshot = s.commit().await?;
    if was_open {
        state.metrics.commits.inc();
        state
            .metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(axum::Json(CommitAck {
        session_id: s.id().to_string(),
        snapshot_id: snapshot.id,
        rows: s.status().await.rows,
    }))
}

pub async fn abort(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(path): SessionPath,
) -> ApiResult<axum::Json<SessionInfo>> {
    let s = find(&state, &who, path, Role::Write).await?;
    s.abort().await?;
    Ok(axum::Json(session_info(&state, &s).await))
}
