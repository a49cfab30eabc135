//! Control plane: projects and tables.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use tidewater_engine::Table;
use tidewater_format::TableProperties;
use tidewater_format::api::{CreateProject, CreateTable, ProjectList, TableInfo, TableList};
use tidewater_format::schema::TableKind;

use super::{created, json_body};
use crate::auth::{Identity, Role};
use crate::error::ApiResult;
use crate::server::AppState;

pub async fn list_projects(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
) -> ApiResult<axum::Json<ProjectList>> {
    let mut projects = state.warehouse.list_projects().await?;
    projects.retain(|p| who.allows(p, Role::Read));
    Ok(axum::Json(ProjectList { projects }))
}

pub async fn create_project(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: CreateProject = json_body(&body)?;
    who.require(&req.name, Role::Admin)?;
    state
        .warehouse
        .create_project(&req.name, req.if_not_exists)
        .await?;
    Ok(created(serde_json::json!({ "project": req.name })))
}

pub async fn drop_project(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(project): Path<String>,
) -> ApiResult<Response> {
    who.require(&project, Role::Admin)?;
    state.warehouse.drop_project(&project, false).await?;
    Ok(axum::Json(serde_json::json!({ "dropped": project })).into_response())
}

pub async fn list_tables(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(project): Path<String>,
) -> ApiResult<axum::Json<TableList>> {
    who.require(&project, Role::Read)?;
    let tables = state.warehouse.list_tables(&project).await?;
    Ok(axum::Json(TableList { tables }))
}

pub(crate) async fn table_info(table: &Table) -> ApiResult<TableInfo> {
    let meta = table.metadata();
    Ok(TableInfo {
        project: table.project().to_string(),
        name: table.name().to_string(),
        kind: match table.kind() {
            TableKind::Delta => "delta".into(),
            TableKind::Standard => "standard".into(),
        },
        schema: table.schema().clone(),
        properties: meta.properties.to_map(),
        bucket_num: table.bucket_num(),
        latest_snapshot: table.latest_snapshot().await?.map(|s| s.id),
    })
}

pub async fn create_table(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(project): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    who.require(&project, Role::Admin)?;
    let req: CreateTable = json_body(&body)?;
    let schema = tidewater_format::TableSchema::new(
        req.schema.columns,
        req.schema.primary_key,
        req.schema.partition_columns,
    )?;
    let properties = TableProperties::from_map(&req.properties)?;
    let table = state
        .warehouse
        .create_table(&project, &req.name, schema, properties, req.if_not_exists)
        .await?;
    Ok(created(table_info(&table).await?))
}

pub async fn describe_table(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path((project, table)): Path<(String, String)>,
) -> ApiResult<axum::Json<TableInfo>> {
    who.require(&project, Role::Read)?;
    let table = state.warehouse.table(&project, &table).await?;
    Ok(axum::Json(table_info(&table).await?))
}

pub async fn drop_table(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path((project, table)): Path<(String, String)>,
) -> ApiResult<Response> {
    who.require(&project, Role::Admin)?;
    state.warehouse.drop_table(&project, &table, false).await?;
    Ok(axum::Json(serde_json::json!({ "dropped": format!("{project}.{table}") })).into_response())
}
