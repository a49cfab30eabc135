//! `INSERT`, `DELETE` and `UPDATE`: a DataFusion query over the pinned snapshot produces the
//! rows, one engine writer takes them, and one commit publishes them.
//!
//! | statement | Delta table | standard table |
//! |---|---|---|
//! | `INSERT INTO t [PARTITION (…)] [(cols)] VALUES … \| SELECT …` | upsert session (same key replaces) | insert session (append) |
//! | `INSERT OVERWRITE [TABLE] t [PARTITION (…)] …` | error | [`tidewater_engine::Overwrite`] |
//! | `DELETE FROM t [WHERE …]` | delete of the matching keys | error |
//! | `UPDATE t SET c = e, … [WHERE …]` | upsert of the changed rows | error |
//!
//! `INSERT` matches the query's columns to the table's by position: the data columns, then the
//! partition columns not fixed by `PARTITION (…)` (or the listed columns, in their order; missing
//! ones are NULL). A full `PARTITION (dd='01', hh='01')` writes one static partition; a partial or
//! absent one takes the remaining partition values from the rows (dynamic partitions). Values are
//! converted to the column types by [`crate::coerce`]. `UPDATE` may not change primary-key or
//! partition columns.
//!
//! Atomicity: rows stream into one session; any error (a bad value, a NULL key, a too-long
//! VARCHAR, a failed read) aborts the session, so nothing is written; otherwise the statement
//! ends with the session's single commit. A write that matched no row commits nothing (no empty
//! snapshot), except `INSERT OVERWRITE`, which replaces even with nothing.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, new_null_array};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{
    Assignment, AssignmentTarget, BinaryOperator, Delete, Expr as SqlExpr, FromTable, Insert,
    ObjectName, Statement, TableFactor, TableObject, TableWithJoins, Update, Value,
};
use futures::StreamExt;
use tidewater_engine::validate::RowOp;
use tidewater_engine::{Overwrite, Session, SessionKind, Table};
use tidewater_format::partition::validate_partition_value;
use tidewater_format::schema::TableKind;
use tidewater_format::{Column, Snapshot};

use crate::coerce::{check, coerce};
use crate::engine::{SqlEngine, StatementOutput};
use crate::error::{Error, Result};
use crate::parse::ObjectRef;
use crate::timetravel::PINNED_SCHEMA;

/// The one writer of a statement.
enum Writer {
    Session(Box<Session>, RowOp),
    Overwrite(Overwrite),
}

impl Writer {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Writer::Session(s, op) => Ok(s.write(batch, *op).await?),
            Writer::Overwrite(o) => Ok(o.write(batch).await?),
        }
    }

    async fn commit(self) -> Result<Arc<Snapshot>> {
        match self {
            Writer::Session(mut s, _) => Ok(s.commit().await?),
            Writer::Overwrite(o) => Ok(o.commit().await?),
        }
    }

    async fn abort(self) {
        // Best effort: an abort that fails leaves files no snapshot references.
        match self {
            Writer::Session(mut s, _) => {
                let _ = s.abort().await;
            }
            Writer::Overwrite(o) => {
                let _ = o.abort().await;
            }
        }
    }
}

/// Streams the query into the writer (each batch shaped by `shape`), then commits; aborts on any
/// error. Returns the rows written and the snapshot (`None` when nothing was written and
/// `commit_empty` is false).
async fn write_query(
    engine: &SqlEngine,
    plan: LogicalPlan,
    mut writer: Writer,
    commit_empty: bool,
    shape: impl Fn(&RecordBatch) -> Result<RecordBatch>,
) -> Result<(u64, Option<Arc<Snapshot>>)> {
    let mut rows = 0u64;
    let result: Result<()> = async {
        let StatementOutput::Rows(mut stream) = engine.query(plan).await? else {
            return Ok(());
        };
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            writer.write(&shape(&batch)?).await?;
            rows += batch.num_rows() as u64;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        writer.abort().await;
        return Err(e);
    }
    if rows == 0 && !commit_empty {
        writer.abort().await;
        return Ok((0, None));
    }
    let snapshot = writer.commit().await?;
    Ok((rows, Some(snapshot)))
}

fn object_ref(name: &ObjectName) -> Result<ObjectRef> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| {
            p.as_ident()
                .map(|i| i.value.clone())
                .ok_or_else(|| Error::unsupported(format!("table name {name}")))
        })
        .collect::<Result<_>>()?;
    if parts.first().is_some_and(|p| p == PINNED_SCHEMA) {
        return Err(Error::invalid(
            "time travel (AS OF / BETWEEN) reads history; writes go to the current table",
        ));
    }
    match parts.as_slice() {
        [t] => Ok(ObjectRef {
            project: None,
            name: t.to_ascii_lowercase(),
        }),
        [p, t] => Ok(ObjectRef {
            project: Some(p.to_ascii_lowercase()),
            name: t.to_ascii_lowercase(),
        }),
        _ => Err(Error::invalid(format!(
            "'{name}': name a table as table or project.table"
        ))),
    }
}

fn column_name(name: &ObjectName) -> Result<String> {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_ascii_lowercase())
        .ok_or_else(|| Error::invalid(format!("'{name}' is not a column name")))
}

fn not_delta(table: &Table, operation: &str) -> Error {
    tidewater_engine::Error::NotDeltaTable {
        table: table.full_name(),
        operation: operation.to_string(),
    }
    .into()
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A column of the batch sent to the engine, named and typed as the table's.
fn field_of(c: &Column) -> Field {
    Field::new(&c.name, c.data_type.to_arrow(), true)
}

fn batch(fields: Vec<Field>, columns: Vec<ArrayRef>, n: usize) -> Result<RecordBatch> {
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
    )
    .map_err(|e| Error::invalid(format!("assembling rows: {e}")))
}

/// A literal of a `PARTITION (…)` spec.
fn partition_value(e: &SqlExpr) -> Option<String> {
    match e {
        SqlExpr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.to_string()),
            _ => None,
        },
        SqlExpr::Identifier(i) if i.quote_style.is_some() => Some(i.value.clone()),
        _ => None,
    }
}

/// `PARTITION (dd='01', hh)` → `[(dd, Some(01)), (hh, None)]`, checked against the table.
fn partition_spec(table: &Table, exprs: &[SqlExpr]) -> Result<Vec<(String, Option<String>)>> {
    let schema = table.schema();
    let names = schema.partition_names().join(", ");
    if schema.partition_columns.is_empty() {
        return Err(Error::invalid(format!(
            "table '{}' is not partitioned: remove the PARTITION clause",
            table.full_name()
        )));
    }
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for e in exprs {
        let (col, value) = match e {
            SqlExpr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => {
                let SqlExpr::Identifier(id) = left.as_ref() else {
                    return Err(Error::invalid(format!(
                        "PARTITION ({e}): expected column = 'value'"
                    )));
                };
                let value = partition_value(right).ok_or_else(|| {
                    Error::invalid(format!(
                        "PARTITION ({e}): a partition value must be a string literal"
                    ))
                })?;
                (id.value.to_ascii_lowercase(), Some(value))
            }
            SqlExpr::Identifier(id) => (id.value.to_ascii_lowercase(), None),
            _ => {
                return Err(Error::invalid(format!(
                    "PARTITION ({e}): expected column = 'value'"
                )));
            }
        };
        let Some(i) = schema.partition_index(&col) else {
            return Err(Error::invalid(format!(
                "'{col}' is not a partition column of '{}' (partition columns: {names})",
                table.full_name()
            )));
        };
        let col = schema.partition_columns[i].name.clone();
        if out.iter().any(|(c, _)| *c == col) {
            return Err(Error::invalid(format!(
                "partition column '{col}' is given more than once"
            )));
        }
        if let Some(v) = &value {
            validate_partition_value(&col, v)?;
        }
        out.push((col, value));
    }
    Ok(out)
}

pub(crate) async fn insert(engine: &SqlEngine, ins: Insert) -> Result<StatementOutput> {
    if ins.on.is_some() || ins.returning.is_some() || !ins.assignments.is_empty() {
        return Err(Error::unsupported(
            "INSERT … ON CONFLICT / RETURNING / SET (INSERT INTO a Delta table already upserts by primary key)",
        ));
    }
    let TableObject::TableName(name) = &ins.table else {
        return Err(Error::unsupported("INSERT INTO a table function"));
    };
    let table = engine.open_table(&object_ref(name)?).await?;
    let schema = table.schema().clone();
    let Some(source) = ins.source else {
        return Err(Error::unsupported("INSERT without VALUES or SELECT"));
    };
    let spec = match &ins.partitioned {
        Some(exprs) => partition_spec(&table, exprs)?,
        None => Vec::new(),
    };
    let fixed = |c: &str| -> Option<String> {
        spec.iter()
            .find(|(k, _)| k == c)
            .and_then(|(_, v)| v.clone())
    };
    let static_partition = !schema.partition_columns.is_empty()
        && schema
            .partition_columns
            .iter()
            .all(|c| fixed(&c.name).is_some());
    // The columns the query fills, in order.
    let targets: Vec<String> = if ins.columns.is_empty() {
        schema
            .columns
            .iter()
            .map(|c| c.name.clone())
            .chain(
                schema
                    .partition_columns
                    .iter()
                    .filter(|c| fixed(&c.name).is_none())
                    .map(|c| c.name.clone()),
            )
            .collect()
    } else {
        let mut out: Vec<String> = Vec::new();
        for c in &ins.columns {
            let n = column_name(c)?;
            let name = if let Some(i) = schema.column_index(&n) {
                schema.columns[i].name.clone()
            } else if let Some(i) = schema.partition_index(&n) {
                let p = schema.partition_columns[i].name.clone();
                if fixed(&p).is_some() {
                    return Err(Error::invalid(format!(
                        "partition column '{p}' is given in PARTITION (…) and in the column list"
                    )));
                }
                p
            } else {
                return Err(tidewater_engine::Error::UnknownColumn {
                    table: table.full_name(),
                    column: n,
                }
                .into());
            };
            if out.contains(&name) {
                return Err(Error::invalid(format!(
                    "column '{name}' is listed more than once"
                )));
            }
            out.push(name);
        }
        out
    };
    let plan = engine.plan(Statement::Query(source)).await?;
    let given = plan.schema().fields().len();
    if given != targets.len() {
        return Err(Error::invalid(format!(
            "INSERT INTO {}: the query gives {given} column(s), but {} are expected ({})",
            table.full_name(),
            targets.len(),
            targets.join(", ")
        )));
    }
    for (field, target) in plan.schema().fields().iter().zip(&targets) {
        let column = schema
            .columns
            .iter()
            .chain(&schema.partition_columns)
            .find(|c| c.name == *target);
        if let Some(c) = column {
            check(c, field.data_type())?;
        }
    }
    let overwrite = ins.overwrite;
    let spec_text = || {
        schema
            .partition_columns
            .iter()
            .map(|c| format!("{}={}", c.name, fixed(&c.name).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("/")
    };
    let writer = if overwrite {
        if table.kind() == TableKind::Delta {
            return Err(Error::unsupported(format!(
                "INSERT OVERWRITE of Delta table '{}': write it with INSERT INTO (upsert), UPDATE or DELETE",
                table.full_name()
            )));
        }
        let spec = static_partition.then(spec_text);
        Writer::Overwrite(table.overwrite(spec.as_deref()).await?)
    } else {
        let (kind, op) = match table.kind() {
            TableKind::Delta => (SessionKind::Upsert, RowOp::Upsert),
            TableKind::Standard => (SessionKind::Insert, RowOp::Insert),
        };
        let mut b = table.session(kind);
        if static_partition {
            b = b.partition(spec_text());
        } else if !schema.partition_columns.is_empty() {
            b = b.dynamic_partitions();
        }
        Writer::Session(Box::new(b.open().await?), op)
    };
    let position = |c: &str| targets.iter().position(|t| t == c);
    let shape = |input: &RecordBatch| -> Result<RecordBatch> {
        let n = input.num_rows();
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for c in &schema.columns {
            fields.push(field_of(c));
            columns.push(match position(&c.name) {
                Some(j) => coerce(c, input.column(j))?,
                None => new_null_array(&c.data_type.to_arrow(), n),
            });
        }
        if !static_partition {
            for c in &schema.partition_columns {
                fields.push(field_of(c));
                columns.push(match (fixed(&c.name), position(&c.name)) {
                    (Some(v), _) => Arc::new(StringArray::from(vec![v; n])),
                    (None, Some(j)) => coerce(c, input.column(j))?,
                    (None, None) => new_null_array(&c.data_type.to_arrow(), n),
                });
            }
        }
        batch(fields, columns, n)
    };
    let (rows, snapshot) = write_query(engine, plan, writer, overwrite, shape).await?;
    let verb = match (overwrite, table.kind()) {
        (true, _) => "overwrote",
        (false, TableKind::Delta) => "upserted",
        (false, TableKind::Standard) => "inserted",
    };
    Ok(done(verb, rows, &table, snapshot))
}

fn done(verb: &str, rows: u64, table: &Table, snapshot: Option<Arc<Snapshot>>) -> StatementOutput {
    let message = match snapshot {
        Some(s) => format!(
            "{verb} {rows} row(s) in {} (snapshot {})",
            table.full_name(),
            s.id
        ),
        None => format!("{verb} 0 rows in {}: nothing committed", table.full_name()),
    };
    StatementOutput::done(message, rows)
}

/// The one table a DELETE or UPDATE writes.
fn single_table(tables: &[TableWithJoins], what: &str) -> Result<ObjectRef> {
    let [t] = tables else {
        return Err(Error::unsupported(format!("{what} of several tables")));
    };
    if !t.joins.is_empty() {
        return Err(Error::unsupported(format!("{what} with a JOIN")));
    }
    match &t.relation {
        TableFactor::Table { name, .. } => object_ref(name),
        other => Err(Error::unsupported(format!("{what} of '{other}'"))),
    }
}

pub(crate) async fn delete(engine: &SqlEngine, d: Delete) -> Result<StatementOutput> {
    if !d.tables.is_empty()
        || d.using.is_some()
        || d.returning.is_some()
        || !d.order_by.is_empty()
        || d.limit.is_some()
    {
        return Err(Error::unsupported(
            "DELETE with several tables, USING, RETURNING, ORDER BY or LIMIT",
        ));
    }
    let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &d.from;
    let table = engine.open_table(&single_table(from, "DELETE")?).await?;
    if table.kind() != TableKind::Delta {
        return Err(not_delta(&table, "DELETE"));
    }
    let schema = table.schema().clone();
    let keys: Vec<&Column> = schema
        .key_indices()
        .iter()
        .map(|i| &schema.columns[*i])
        .collect();
    let selected: Vec<&Column> = keys
        .iter()
        .copied()
        .chain(schema.partition_columns.iter())
        .collect();
    let list = selected
        .iter()
        .map(|c| quote(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let filter = d
        .selection
        .as_ref()
        .map(|w| format!(" WHERE {w}"))
        .unwrap_or_default();
    let plan = engine
        .plan_sql(&format!("SELECT {list} FROM {}{filter}", from[0]))
        .await?;
    let mut b = table.session(SessionKind::Upsert);
    if !schema.partition_columns.is_empty() {
        b = b.dynamic_partitions();
    }
    let writer = Writer::Session(Box::new(b.open().await?), RowOp::Delete);
    let shape = |input: &RecordBatch| -> Result<RecordBatch> {
        let fields = selected.iter().map(|c| field_of(c)).collect();
        batch(fields, input.columns().to_vec(), input.num_rows())
    };
    let (rows, snapshot) = write_query(engine, plan, writer, false, shape).await?;
    Ok(done("deleted", rows, &table, snapshot))
}

pub(crate) async fn update(engine: &SqlEngine, u: Update) -> Result<StatementOutput> {
    if u.from.is_some()
        || u.returning.is_some()
        || u.or.is_some()
        || !u.order_by.is_empty()
        || u.limit.is_some()
    {
        return Err(Error::unsupported(
            "UPDATE with FROM, RETURNING, OR …, ORDER BY or LIMIT",
        ));
    }
    let relation = std::slice::from_ref(&u.table);
    let table = engine
        .open_table(&single_table(relation, "UPDATE")?)
        .await?;
    if table.kind() != TableKind::Delta {
        return Err(not_delta(&table, "UPDATE"));
    }
    let schema = table.schema().clone();
    // Column index → expression.
    let mut set: Vec<(usize, &SqlExpr)> = Vec::new();
    for Assignment { target, value } in &u.assignments {
        let AssignmentTarget::ColumnName(name) = target else {
            return Err(Error::unsupported("UPDATE … SET (a, b) = (…)"));
        };
        let n = column_name(name)?;
        let Some(i) = schema.column_index(&n) else {
            if schema.partition_index(&n).is_some() {
                return Err(Error::invalid(format!(
                    "UPDATE cannot change partition column '{n}': insert the rows into the other partition and delete them here"
                )));
            }
            return Err(tidewater_engine::Error::UnknownColumn {
                table: table.full_name(),
                column: n,
            }
            .into());
        };
        if schema.is_key_column(i) {
            return Err(Error::invalid(format!(
                "UPDATE cannot change primary-key column '{}': delete the row and insert it with the new key",
                schema.columns[i].name
            )));
        }
        if set.iter().any(|(j, _)| *j == i) {
            return Err(Error::invalid(format!(
                "column '{}' is assigned more than once",
                schema.columns[i].name
            )));
        }
        set.push((i, value));
    }
    let mut list: Vec<String> = Vec::new();
    for (i, c) in schema.columns.iter().enumerate() {
        match set.iter().find(|(j, _)| *j == i) {
            Some((_, e)) => list.push(format!("({e}) AS {}", quote(&c.name))),
            None => list.push(quote(&c.name)),
        }
    }
    list.extend(schema.partition_columns.iter().map(|c| quote(&c.name)));
    let filter = u
        .selection
        .as_ref()
        .map(|w| format!(" WHERE {w}"))
        .unwrap_or_default();
    let plan = engine
        .plan_sql(&format!(
            "SELECT {} FROM {}{filter}",
            list.join(", "),
            u.table
        ))
        .await?;
    let all: Vec<&Column> = schema
        .columns
        .iter()
        .chain(schema.partition_columns.iter())
        .collect();
    for (field, c) in plan.schema().fields().iter().zip(&all) {
        check(c, field.data_type())?;
    }
    let mut b = table.session(SessionKind::Upsert);
    if !schema.partition_columns.is_empty() {
        b = b.dynamic_partitions();
    }
    let writer = Writer::Session(Box::new(b.open().await?), RowOp::Upsert);
    let shape = |input: &RecordBatch| -> Result<RecordBatch> {
        let mut columns = Vec::with_capacity(all.len());
        for (i, c) in all.iter().enumerate() {
            columns.push(coerce(c, input.column(i))?);
        }
        batch(
            all.iter().map(|c| field_of(c)).collect(),
            columns,
            input.num_rows(),
        )
    };
    let (rows, snapshot) = write_query(engine, plan, writer, false, shape).await?;
    Ok(done("updated", rows, &table, snapshot))
}
