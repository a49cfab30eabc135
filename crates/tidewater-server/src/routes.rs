//! The HTTP API (`docs/API.md`): the route table and the guard every request passes.
//!
//! The guard, in order: `/health` passes; at most `max_concurrent_requests` requests at once
//! (429); a body no larger than its limit (413) and room for it in the `max_buffered_bytes`
//! budget (waits up to `buffer_wait_ms`, then 429); then the signature over method, path, sorted
//! query, date and body hash (401). Handlers receive the caller's [`crate::auth::Identity`] and
//! check its grants (403).

mod control;
mod sessions;
mod sql;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};
use crate::metrics::StatusLabel;
use crate::server::AppState;

const SESSION: &str = "/v1/projects/{project}/tables/{table}/sessions/{session}";

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route(
            "/v1/projects",
            get(control::list_projects).post(control::create_project),
        )
        .route(
            "/v1/projects/{project}",
            axum::routing::delete(control::drop_project),
        )
        .route(
            "/v1/projects/{project}/tables",
            get(control::list_tables).post(control::create_table),
        )
        .route(
            "/v1/projects/{project}/tables/{table}",
            get(control::describe_table).delete(control::drop_table),
        )
        .route("/v1/sql", post(sql::run))
        .route(
            "/v1/projects/{project}/tables/{table}/sessions",
            post(sessions::create),
        )
        .route(SESSION, get(sessions::status))
        .route(
            &format!("{SESSION}/buckets/{{bucket}}/blocks/{{block}}"),
            put(sessions::put_block),
        )
        .route(&format!("{SESSION}/commit"), post(sessions::commit))
        .route(&format!("{SESSION}/abort"), post(sessions::abort))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        // The guard enforces the body limits.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    state
        .metrics
        .open_sessions
        .set(state.sessions.open_count().await as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no API route {} {} (see docs/API.md)",
        req.method(),
        req.uri().path()
    ))
}

/// Parses a JSON request body, naming what was wrong.
pub(crate) fn json_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("the JSON request body is invalid: {e}")))
}

async fn guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let response = match admit(&state, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        state
            .metrics
            .errors
            .get_or_create(&StatusLabel {
                status: status.as_u16(),
            })
            .inc();
    }
    response
}

async fn admit(state: &AppState, req: Request, next: Next) -> ApiResult<Response> {
    let path = req.uri().path().to_string();
    if path == "/health" {
        return Ok(next.run(req).await);
    }
    let _slot = state.requests.try_acquire().map_err(|_| {
        ApiError::busy(
            format!(
                "the server is processing its limit of {} requests; retry shortly",
                state.config.limits.max_concurrent_requests
            ),
            1,
        )
    })?;
    let limits = &state.config.limits;
    let is_block = path.contains("/blocks/");
    let limit = if is_block {
        limits.max_block_bytes
    } else {
        limits.max_request_bytes
    };
    let too_large = |size: String| {
        ApiError::too_large(format!(
            "the body ({size}) exceeds the limit of {limit} bytes for {}",
            if is_block {
                "a block: send smaller blocks (the session's max_block_bytes)"
            } else {
                "this request"
            }
        ))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared
        && n > limit
    {
        return Err(too_large(format!("{n} bytes")));
    }
    let budget = u32::try_from(
        declared
            .unwrap_or(limit)
            .clamp(1, limits.max_buffered_bytes),
    )
    .unwrap_or(u32::MAX);
    let _room = tokio::time::timeout(
        Duration::from_millis(limits.buffer_wait_ms),
        state.buffer.acquire_many(budget),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .ok_or_else(|| {
        ApiError::busy(
            format!(
                "the server's request buffers ({} bytes) are full; retry shortly",
                limits.max_buffered_bytes
            ),
            1,
        )
    })?;
    let (mut parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|e| {
            let e = e.into_inner();
            if e.is::<http_body_util::LengthLimitError>() {
                too_large("more bytes than declared".into())
            } else {
                ApiError::invalid(format!("could not read the request body: {e}"))
            }
        })?;
    let public = path == "/metrics" && state.config.public_metrics;
    if !public {
        let identity = state
            .auth
            .authenticate(
                parts.method.as_str(),
                &path,
                parts.uri.query().unwrap_or(""),
                &parts.headers,
                &bytes,
            )
            .await?;
        parts.extensions.insert(identity);
    }
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

/// Parses a path number, naming the parameter.
pub(crate) fn number<T: std::str::FromStr>(what: &str, text: &str) -> ApiResult<T> {
    text.parse().map_err(|_| {
        ApiError::invalid(format!(
            "path parameter {what} '{text}' is not a non-negative integer"
        ))
    })
}

pub(crate) fn created<T: serde::Serialize>(body: T) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}
