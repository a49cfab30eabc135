//! The administrative statements: tables, projects, and what `SHOW` and `DESC` print.
//!
//! | statement | result |
//! |---|---|
//! | `CREATE TABLE [IF NOT EXISTS] t (…, PRIMARY KEY (…)) [PARTITIONED BY (…)] [TBLPROPERTIES (…)]` | — |
//! | `DROP TABLE [IF EXISTS] t` | — |
//! | `CREATE PROJECT\|SCHEMA [IF NOT EXISTS] p`, `DROP PROJECT\|SCHEMA [IF EXISTS] p`, `USE p` | — |
//! | `SHOW TABLES [IN p]` | `table_name` |
//! | `SHOW PROJECTS` (`SCHEMAS`) | `project` |
//! | `SHOW PARTITIONS t` | `partition` (`dd=01/hh=01`), sorted |
//! | `SHOW SNAPSHOTS t` | `snapshot_id, commit_time, kind, rows_added, rows_deleted, files_added, files_removed, total_files, total_bytes` |
//! | `DESC t` | `col_name, data_type, key, comment` (`key`: `primary key` / `partition`) |
//! | `DESC EXTENDED t` | the same rows, then `# detail` rows: table kind, keys, buckets, properties, snapshots, files, size, rows |
//! | `ALTER TABLE t [PARTITION (…)] COMPACT MAJOR\|MINOR` | — (needs write access) |
//! | `ALTER TABLE t SET TBLPROPERTIES ('k'='v', …)`, `ALTER TABLE t UNSET TBLPROPERTIES ('k', …)` | — (needs write access; `transactional` and `write.bucket.num` are frozen) |
//!
//! Times are printed in UTC.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType as ArrowType, Field, Schema, TimeUnit};
use tidewater_engine::CompactMode;
use tidewater_format::schema::TableKind;
use tidewater_format::{PartitionSpec, SnapshotKind, TableProperties, TableSchema};

use crate::access::Access;
use crate::engine::{SqlEngine, StatementOutput, format_utc};
use crate::error::{Error, Result};
use crate::parse::{AdminStatement, CreateTable, ObjectRef};

pub(crate) async fn run(engine: &SqlEngine, stmt: AdminStatement) -> Result<StatementOutput> {
    let wh = engine.warehouse();
    match stmt {
        AdminStatement::CreateTable(c) => create_table(engine, c).await,
        AdminStatement::DropTable { if_exists, name } => {
            let project = project_of(engine, &name);
            engine.authorize(&project, Access::Admin)?;
            wh.drop_table(&project, &name.name, if_exists).await?;
            Ok(StatementOutput::done(
                format!("dropped table {project}.{}", name.name),
                0,
            ))
        }
        AdminStatement::CreateProject {
            if_not_exists,
            name,
        } => {
            engine.authorize(&name, Access::Admin)?;
            wh.create_project(&name, if_not_exists).await?;
            Ok(StatementOutput::done(format!("created project {name}"), 0))
        }
        AdminStatement::DropProject { if_exists, name } => {
            engine.authorize(&name, Access::Admin)?;
            wh.drop_project(&name, if_exists).await?;
            if engine.current_project() == name {
                engine.set_project(tidewater_engine::DEFAULT_PROJECT);
            }
            Ok(StatementOutput::done(format!("dropped project {name}"), 0))
        }
        AdminStatement::Use { project } => {
            engine.authorize(&project, Access::Read)?;
            if !wh.project_exists(&project).await? {
                return Err(tidewater_engine::Error::ProjectNotFound { project }.into());
            }
            engine.set_project(&project);
            Ok(StatementOutput::done(format!("using project {project}"), 0))
        }
        AdminStatement::ShowTables { project } => {
            let project = project.unwrap_or_else(|| engine.current_project());
            engine.authorize(&project, Access::Read)?;
            let tables = wh.list_tables(&project).await?;
            Ok(strings("table_name", tables))
        }
        AdminStatement::ShowProjects => {
            let mut projects = wh.list_projects().await?;
            projects.retain(|p| engine.authorize(p, Access::Read).is_ok());
            Ok(strings("project", projects))
        }
        AdminStatement::ShowPartitions { name } => {
            let table = engine.open_table(&name).await?;
            if table.schema().partition_columns.is_empty() {
                return Err(Error::invalid(format!(
                    "table '{}' is not partitioned",
                    table.full_name()
                )));
            }
            let mut parts = BTreeSet::new();
            if let Some(s) = table.latest_snapshot().await? {
                for f in table.files(&s).await? {
                    parts.insert(f.partition.to_string());
                }
            }
            Ok(strings("partition", parts.into_iter().collect()))
        }
        AdminStatement::ShowSnapshots { name } => show_snapshots(engine, &name).await,
        AdminStatement::Describe { name, extended } => describe(engine, &name, extended).await,
        AdminStatement::Compact {
            name,
            partition,
            major,
        } => compact(engine, &name, partition, major).await,
        AdminStatement::AlterProperties { name, set, unset } => {
            alter_properties(engine, &name, set, unset).await
        }
        AdminStatement::SetIgnored { text } => Ok(StatementOutput::done(
            format!("ignored: {text} (MaxCompute session flags have no effect here)"),
            0,
        )),
    }
}

fn project_of(engine: &SqlEngine, name: &ObjectRef) -> String {
    name.project
        .clone()
        .unwrap_or_else(|| engine.current_project())
}

fn strings(column: &str, values: Vec<String>) -> StatementOutput {
    let schema = Arc::new(Schema::new(vec![Field::new(
        column,
        ArrowType::Utf8,
        false,
    )]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(values)) as ArrayRef],
    );
    match batch {
        Ok(b) => StatementOutput::rows(schema, vec![b]),
        // One non-null string column always matches its schema.
        Err(_) => StatementOutput::rows(schema, Vec::new()),
    }
}

async fn create_table(engine: &SqlEngine, c: CreateTable) -> Result<StatementOutput> {
    let project = project_of(engine, &c.name);
    engine.authorize(&project, Access::Admin)?;
    let schema = TableSchema::new(c.columns, c.primary_key, c.partition_columns)?;
    let properties = TableProperties::from_map(&c.properties)?;
    let existed = c.if_not_exists
        && engine
            .warehouse()
            .table_exists(&project, &c.name.name)
            .await?;
    let table = engine
        .warehouse()
        .create_table(&project, &c.name.name, schema, properties, c.if_not_exists)
        .await?;
    let message = if existed {
        format!("table {} already exists", table.full_name())
    } else {
        let kind = match table.kind() {
            TableKind::Delta => format!("Delta table, {} buckets", table.bucket_num()),
            TableKind::Standard => "standard table".to_string(),
        };
        format!("created table {} ({kind})", table.full_name())
    };
    Ok(StatementOutput::done(message, 0))
}

async fn show_snapshots(engine: &SqlEngine, name: &ObjectRef) -> Result<StatementOutput> {
    let table = engine.open_table(name).await?;
    let mut ids = Vec::new();
    let mut times = Vec::new();
    let mut kinds = Vec::new();
    let mut cols: [Vec<i64>; 6] = Default::default();
    for id in table.snapshot_ids().await? {
        let s = match table.snapshot(id).await {
            Ok(s) => s,
            // Expired while we listed.
            Err(
                tidewater_engine::Error::SnapshotNotFound { .. }
                | tidewater_engine::Error::SnapshotExpired { .. },
            ) => continue,
            Err(e) => return Err(e.into()),
        };
        ids.push(s.id as i64);
        times.push(s.commit_time_ms);
        kinds.push(match s.kind {
            SnapshotKind::Compact if s.summary.major => "compact major".to_string(),
            SnapshotKind::Expire => format!("expire ({} snapshots)", s.summary.expired_snapshots),
            k => kind_name(k).to_string(),
        });
        let sum = &s.summary;
        for (v, x) in cols.iter_mut().zip([
            sum.rows_added,
            sum.rows_deleted,
            sum.files_added,
            sum.files_removed,
            sum.total_files,
            sum.total_bytes,
        ]) {
            v.push(x as i64);
        }
    }
    let names = [
        "rows_added",
        "rows_deleted",
        "files_added",
        "files_removed",
        "total_files",
        "total_bytes",
    ];
    let mut fields = vec![
        Field::new("snapshot_id", ArrowType::Int64, false),
        Field::new(
            "commit_time",
            ArrowType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("kind", ArrowType::Utf8, false),
    ];
    fields.extend(
        names
            .iter()
            .map(|n| Field::new(*n, ArrowType::Int64, false)),
    );
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(TimestampMillisecondArray::from(times).with_timezone("UTC")),
        Arc::new(StringArray::from(kinds)),
    ];
    columns.extend(
        cols.into_iter()
            .map(|v| Arc::new(Int64Array::from(v)) as ArrayRef),
    );
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::invalid(format!("SHOW SNAPSHOTS: {e}")))?;
    Ok(StatementOutput::rows(schema, vec![batch]))
}

async fn compact(
    engine: &SqlEngine,
    name: &ObjectRef,
    partition: Vec<(String, String)>,
    major: bool,
) -> Result<StatementOutput> {
    let project = name
        .project
        .clone()
        .unwrap_or_else(|| engine.current_project());
    engine.authorize(&project, Access::Write)?;
    let table = engine.warehouse().table(&project, &name.name).await?;
    for (column, _) in &partition {
        if table.schema().partition_index(column).is_none() {
            return Err(Error::Engine {
                source: tidewater_engine::Error::InvalidInput {
                    reason: format!(
                        "'{column}' is not a partition column of '{}'",
                        table.full_name()
                    ),
                },
            });
        }
    }
    let mode = if major {
        CompactMode::Major
    } else {
        CompactMode::Minor
    };
    let mut builder = table.compact(mode);
    if !partition.is_empty() {
        builder = builder.partition_filter(Arc::new(move |spec: &PartitionSpec| {
            partition.iter().all(|(c, v)| {
                spec.0
                    .iter()
                    .any(|(k, pv)| k.eq_ignore_ascii_case(c) && pv == v)
            })
        }));
    }
    let r = builder.run().await?;
    let message = match r.snapshot {
        Some(id) => format!(
            "compacted {} bucket(s) of {} into snapshot {id}: {} files ({} bytes) -> {} files ({} bytes)",
            r.buckets,
            table.full_name(),
            r.files_in,
            r.bytes_in,
            r.files_out,
            r.bytes_out
        ),
        None => format!("{} needs no compaction", table.full_name()),
    };
    Ok(StatementOutput::done(message, r.rows_out))
}

/// `ALTER TABLE t SET|UNSET TBLPROPERTIES`: the engine writes the next metadata version (see
/// `tidewater_engine::metadata`); the message shows the resulting value of every named property.
async fn alter_properties(
    engine: &SqlEngine,
    name: &ObjectRef,
    set: BTreeMap<String, String>,
    unset: Vec<String>,
) -> Result<StatementOutput> {
    let project = project_of(engine, name);
    engine.authorize(&project, Access::Write)?;
    let table = engine
        .warehouse()
        .alter_table_properties(&project, &name.name, &set, &unset)
        .await?;
    let now = table.metadata().properties.to_map();
    let values: Vec<String> = set
        .keys()
        .chain(&unset)
        .map(|k| format!("{k}={}", now.get(k).map(String::as_str).unwrap_or("")))
        .collect();
    Ok(StatementOutput::done(
        format!(
            "altered table {}: {} (metadata version {})",
            table.full_name(),
            values.join(", "),
            table.metadata().schema_id
        ),
        0,
    ))
}

fn kind_name(k: SnapshotKind) -> &'static str {
    match k {
        SnapshotKind::Append => "append",
        SnapshotKind::Compact => "compact",
        SnapshotKind::Overwrite => "overwrite",
        SnapshotKind::Expire => "expire",
    }
}

async fn describe(engine: &SqlEngine, name: &ObjectRef, extended: bool) -> Result<StatementOutput> {
    let table = engine.open_table(name).await?;
    let schema = table.schema();
    let mut rows: Vec<[String; 4]> = Vec::new();
    for (i, c) in schema.columns.iter().enumerate() {
        let ty = if c.nullable {
            c.data_type.to_string()
        } else {
            format!("{} NOT NULL", c.data_type)
        };
        let key = if schema.is_key_column(i) {
            "primary key"
        } else {
            ""
        };
        rows.push([
            c.name.clone(),
            ty,
            key.to_string(),
            c.comment.clone().unwrap_or_default(),
        ]);
    }
    for c in &schema.partition_columns {
        rows.push([
            c.name.clone(),
            c.data_type.to_string(),
            "partition".to_string(),
            c.comment.clone().unwrap_or_default(),
        ]);
    }
    if extended {
        let meta = table.metadata();
        let mut detail = |k: &str, v: String| {
            rows.push([format!("# {k}"), v, String::new(), String::new()]);
        };
        detail("table", table.full_name());
        detail(
            "type",
            match table.kind() {
                TableKind::Delta => "delta".to_string(),
                TableKind::Standard => "standard".to_string(),
            },
        );
        detail("primary key", schema.primary_key.join(", "));
        detail("partition columns", schema.partition_names().join(", "));
        if table.kind() == TableKind::Delta {
            detail("buckets", table.bucket_num().to_string());
        }
        detail(
            "properties",
            meta.properties
                .to_map()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        detail("created", format_utc(meta.created_ms));
        let ids = table.snapshot_ids().await?;
        detail("snapshots", ids.len().to_string());
        match table.latest_snapshot().await? {
            Some(s) => {
                let parts: BTreeSet<String> = table
                    .files(&s)
                    .await?
                    .into_iter()
                    .map(|f| f.partition.to_string())
                    .collect();
                detail("latest snapshot", s.id.to_string());
                detail("last commit", format_utc(s.commit_time_ms));
                if !schema.partition_columns.is_empty() {
                    detail("partitions", parts.len().to_string());
                }
                detail("files", s.summary.total_files.to_string());
                detail("size bytes", s.summary.total_bytes.to_string());
                detail("stored rows", s.summary.total_stored_rows.to_string());
            }
            None => {
                detail("latest snapshot", "none".to_string());
                detail("files", "0".to_string());
                detail("size bytes", "0".to_string());
                detail("stored rows", "0".to_string());
            }
        }
    }
    let names = ["col_name", "data_type", "key", "comment"];
    let out_schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, ArrowType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let columns: Vec<ArrayRef> = (0..4)
        .map(|i| {
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r[i].as_str()),
            )) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(out_schema.clone(), columns)
        .map_err(|e| Error::invalid(format!("DESC: {e}")))?;
    Ok(StatementOutput::rows(out_schema, vec![batch]))
}
