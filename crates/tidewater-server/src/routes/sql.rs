//! `POST /v1/sql`: statements run with the caller's grants; a result set answers as an Arrow
//! IPC stream (streamed batch by batch) when the client accepts it, as JSON otherwise.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tidewater_format::api::{ARROW_STREAM, SqlRequest, SqlResult};
use tidewater_sql::{AccessCheck, SqlEngine, StatementOutput, split_statements};

type BatchStream = futures::stream::BoxStream<'static, tidewater_sql::Result<RecordBatch>>;

use super::json_body;
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

pub async fn run(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let req: SqlRequest = json_body(&body)?;
    let who = Arc::new(who);
    let check: AccessCheck = {
        let who = who.clone();
        Arc::new(move |project: &str, access| {
            who.require(project, access.into()).map_err(|e| e.message)
        })
    };
    let engine = SqlEngine::with_access(state.warehouse.clone(), check);
    if let Some(p) = req.project.as_deref().filter(|p| !p.is_empty()) {
        engine.run(&format!("USE {p}")).await?;
    }
    let statements = split_statements(&req.sql)?;
    if statements.is_empty() {
        return Err(ApiError::invalid("the request holds no SQL statement"));
    }
    let mut last = None;
    for (i, statement) in statements.iter().enumerate() {
        state.metrics.sql_statements.inc();
        let output = engine.run(statement).await.map_err(|e| {
            let mut err = ApiError::from(e);
            if statements.len() > 1 {
                err.message = format!("statement {}: {}", i + 1, err.message);
            }
            err
        })?;
        if i + 1 < statements.len() {
            output.collect().await?;
        } else {
            last = Some(output);
        }
    }
    let Some(output) = last else {
        return Err(ApiError::invalid("the request holds no SQL statement"));
    };
    let wants_arrow = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(ARROW_STREAM));
    let (schema, mut stream) = match output.into_batches() {
        Ok(rows) => rows,
        Err(done) => {
            let (message, rows) = match done {
                StatementOutput::Done { message, rows } => (message, rows),
                StatementOutput::Rows(_) => (String::new(), 0),
            };
            return Ok(axum::Json(SqlResult {
                message,
                rows,
                columns: Vec::new(),
                data: Vec::new(),
            })
            .into_response());
        }
    };
    if wants_arrow {
        return Ok(arrow_response(schema, stream));
    }
    let limit = state.config.limits.max_json_rows;
    let mut buf = Vec::new();
    let mut rows = 0u64;
    {
        let mut writer = arrow::json::ArrayWriter::new(&mut buf);
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            rows += batch.num_rows() as u64;
            if rows > limit as u64 {
                return Err(ApiError::too_large(format!(
                    "the result has more than {limit} rows, the limit of JSON answers: ask for Arrow ({ARROW_STREAM}) or add a LIMIT"
                )));
            }
            writer
                .write(&batch)
                .map_err(|e| ApiError::internal(format!("encoding JSON: {e}")))?;
        }
        writer
            .finish()
            .map_err(|e| ApiError::internal(format!("encoding JSON: {e}")))?;
    }
    let data = if buf.is_empty() {
        Vec::new()
    } else {
        serde_json::from_slice(&buf)
            .map_err(|e| ApiError::internal(format!("encoding JSON: {e}")))?
    };
    Ok(axum::Json(SqlResult {
        message: String::new(),
        rows,
        columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
        data,
    })
    .into_response())
}

/// Streams a result set as an Arrow IPC stream, one chunk per batch. An error after the first
/// bytes were sent ends the body early, so the client sees a truncated (invalid) stream.
fn arrow_response(schema: SchemaRef, mut stream: BatchStream) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let mut writer = match arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &schema) {
            Ok(w) => w,
            Err(e) => {
                let _ = tx.send(Err(std::io::Error::other(e))).await;
                return;
            }
        };
        while let Some(batch) = stream.next().await {
            let chunk = batch
                .map_err(std::io::Error::other)
                .and_then(|b| writer.write(&b).map_err(std::io::Error::other))
                .map(|_| Bytes::from(std::mem::take(writer.get_mut())));
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                return;
            }
        }
        let end = writer
            .finish()
            .map_err(std::io::Error::other)
            .map(|_| Bytes::from(std::mem::take(writer.get_mut())));
        let _ = tx.send(end).await;
    });
    let body = Body::from_stream(tokio_stream_from(rx));
    ([(header::CONTENT_TYPE, ARROW_STREAM)], body).into_response()
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
