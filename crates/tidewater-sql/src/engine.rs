//! [`SqlEngine`]: one SQL connection to a warehouse — a DataFusion `SessionContext` with the
//! warehouse catalog, the current project, and the statement dispatcher.
//!
//! ```text
//! statement text
//!   → tokens (sqlparser tokenizer)
//!   → administrative statement?  (parse::parse_admin)  → ddl::*
//!   → time-travel rewrite        (timetravel::rewrite) → pinned temporary tables
//!   → sqlparser AST → SELECT / EXPLAIN: DataFusion plan → stream of batches
//!                   → INSERT / DELETE / UPDATE: dml::*  (DataFusion query → one engine session
//!                                                        → one commit)
//! ```
//!
//! A statement is atomic: a write statement commits once at its end, and an error before that
//! discards everything it wrote. A statement reads one snapshot per table (pinned when its names
//! are resolved).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::TokenWithSpan;
use futures::TryStreamExt;
use tidewater_engine::{DEFAULT_PROJECT, Table, Warehouse};

use crate::access::{Access, AccessCheck};
use crate::catalog::{CATALOG, WarehouseCatalog};
use crate::error::{Error, Result};
use crate::parse::{self, ObjectRef};
use crate::provider::{ChangesTable, SnapshotTable};
use crate::timetravel::{self, Clause, PointKind, Travel};
use crate::{ddl, dml};

/// What a statement produced.
pub enum StatementOutput {
    /// A result set, streamed.
    Rows(SendableRecordBatchStream),
    /// A statement without a result set; `message` says what it did, `rows` how many rows it
    /// wrote (0 for DDL).
    Done { message: String, rows: u64 },
}

impl std::fmt::Debug for StatementOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatementOutput::Rows(s) => write!(f, "Rows({:?})", s.schema()),
            StatementOutput::Done { message, rows } => {
                write!(f, "Done({message:?}, rows={rows})")
            }
        }
    }
}

impl StatementOutput {
    /// A result set of batches already in memory.
    pub fn rows(schema: SchemaRef, batches: Vec<RecordBatch>) -> StatementOutput {
        let stream = futures::stream::iter(batches.into_iter().map(Ok));
        StatementOutput::Rows(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    pub(crate) fn done(message: impl Into<String>, rows: u64) -> StatementOutput {
        StatementOutput::Done {
            message: message.into(),
            rows,
        }
    }

    /// A result set's schema and batches, or `Err(self)` for a statement without one.
    pub fn into_batches(
        self,
    ) -> std::result::Result<
        (
            SchemaRef,
            futures::stream::BoxStream<'static, Result<RecordBatch>>,
        ),
        StatementOutput,
    > {
        match self {
            StatementOutput::Rows(s) => {
                let schema = s.schema();
                Ok((
                    schema,
                    futures::StreamExt::boxed(futures::StreamExt::map(s, |b| {
                        b.map_err(Error::from)
                    })),
                ))
            }
            done => Err(done),
        }
    }

    /// Collects a result set (empty for statements without one).
    pub async fn collect(self) -> Result<Vec<RecordBatch>> {
        match self {
            StatementOutput::Rows(s) => Ok(s.try_collect().await?),
            StatementOutput::Done { .. } => Ok(Vec::new()),
        }
    }
}

/// A SQL connection to a warehouse. Statements run one at a time per engine; open one engine
/// per client.
pub struct SqlEngine {
    warehouse: Warehouse,
    ctx: SessionContext,
    catalog: Arc<WarehouseCatalog>,
    project: Mutex<String>,
    pins: AtomicU64,
    access: Option<AccessCheck>,
    /// What the running statement needs on the tables it opens by name (DML targets).
    needed: Mutex<Access>,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEngine")
            .field("warehouse", &self.warehouse.location())
            .field("project", &self.current_project())
            .finish()
    }
}

/// Unpins a statement's temporary tables when it ends.
struct PinGuard<'a> {
    catalog: &'a WarehouseCatalog,
    names: Vec<String>,
}

impl Drop for PinGuard<'_> {
    fn drop(&mut self) {
        for n in &self.names {
            self.catalog.unpin(n);
        }
    }
}

impl SqlEngine {
    /// A connection in the `default` project.
    pub fn new(warehouse: Warehouse) -> SqlEngine {
        Self::build(warehouse, None)
    }

    /// A connection that asks `access` before it touches a project (see [`crate::access`]).
    pub fn with_access(warehouse: Warehouse, access: AccessCheck) -> SqlEngine {
        Self::build(warehouse, Some(access))
    }

    fn build(warehouse: Warehouse, access: Option<AccessCheck>) -> SqlEngine {
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, DEFAULT_PROJECT)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false);
        let ctx = SessionContext::new_with_config(config);
        let functions = ctx.state().table_functions().keys().cloned().collect();
        let mut catalog = WarehouseCatalog::new(warehouse.clone(), functions);
        if let Some(a) = &access {
            catalog = catalog.with_access(a.clone());
        }
        let catalog = Arc::new(catalog);
        ctx.register_catalog(CATALOG, catalog.clone());
        SqlEngine {
            warehouse,
            ctx,
            catalog,
            project: Mutex::new(DEFAULT_PROJECT.to_string()),
            pins: AtomicU64::new(0),
            access,
            needed: Mutex::new(Access::Read),
        }
    }

    /// Checks that the caller may do `what` on `project`.
    pub(crate) fn authorize(&self, project: &str, what: Access) -> Result<()> {
        crate::access::check(&self.access, project, what)
    }

    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// The DataFusion context (for registering functions or inspecting plans).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The project unqualified table names refer to.
    pub fn current_project(&self) -> String {
        self.project
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_project(&self, project: &str) {
        *self.project.lock().unwrap_or_else(|e| e.into_inner()) = project.to_string();
        self.ctx
            .state_ref()
            .write()
            .config_mut()
            .options_mut()
            .catalog
            .default_schema = project.to_string();
    }

    /// Runs every statement of a script in order and returns the result set of the last one
    /// (empty when it has none). Stops at the first error.
    pub async fn execute(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let mut last = Vec::new();
        for statement in parse::split_statements(sql)? {
            last = self.run(&statement).await?.collect().await?;
        }
        Ok(last)
    }

    /// Runs one statement (without its `;`).
    pub async fn run(&self, statement: &str) -> Result<StatementOutput> {
        *self.needed.lock().unwrap_or_else(|e| e.into_inner()) = Access::Read;
        let tokens = parse::tokenize(statement)?;
        if let Some(admin) = parse::parse_admin(&tokens, statement)? {
            return ddl::run(self, admin).await;
        }
        let (tokens, travels) = timetravel::rewrite(tokens, || {
            format!("$t{}", self.pins.fetch_add(1, Ordering::Relaxed))
        })?;
        let (first, head) = leading_words(&tokens);
        let mut statements = match parse_tokens(tokens) {
            Ok(s) => s,
            Err(e) => {
                // Only report syntax for statements we run; others are simply unsupported.
                let known = [
                    "SELECT", "WITH", "VALUES", "INSERT", "UPDATE", "DELETE", "EXPLAIN",
                ];
                return match first {
                    Some(w) if !known.contains(&w.to_ascii_uppercase().as_str()) => {
                        Err(Error::unsupported(format!("{head} … ({SUPPORTED})")))
                    }
                    _ => Err(e),
                };
            }
        };
        let statement = match statements.len() {
            1 => statements.remove(0),
            0 => return Ok(StatementOutput::done("", 0)),
            _ => return Err(Error::syntax("expected one statement")),
        };
        let mut guard = PinGuard {
            catalog: &self.catalog,
            names: Vec::new(),
        };
        for t in &travels {
            let provider = self.travel_provider(t).await?;
            self.catalog.pin(&t.placeholder, provider);
            guard.names.push(t.placeholder.clone());
        }
        let needed = match &statement {
            Statement::Insert(_) | Statement::Delete(_) | Statement::Update(_) => Access::Write,
            _ => Access::Read,
        };
        *self.needed.lock().unwrap_or_else(|e| e.into_inner()) = needed;
        match statement {
            Statement::Query(_) | Statement::Explain { .. } => {
                let plan = self.plan(statement).await?;
                drop(guard);
                self.query(plan).await
            }
            Statement::Insert(insert) => dml::insert(self, insert).await,
            Statement::Delete(delete) => dml::delete(self, delete).await,
            Statement::Update(update) => dml::update(self, update).await,
            other => Err(Error::unsupported(describe_unsupported(&other))),
        }
    }

    /// Plans a query statement.
    pub(crate) async fn plan(&self, statement: Statement) -> Result<LogicalPlan> {
        let state = self.ctx.state();
        Ok(state
            .statement_to_plan(DfStatement::Statement(Box::new(statement)))
            .await?)
    }

    /// Plans the query text (already rewritten: no time-travel clauses).
    pub(crate) async fn plan_sql(&self, sql: &str) -> Result<LogicalPlan> {
        let statement = parse_sql(sql)?;
        self.plan(statement).await
    }

    pub(crate) async fn query(&self, plan: LogicalPlan) -> Result<StatementOutput> {
        let df = self.ctx.execute_logical_plan(plan).await?;
        Ok(StatementOutput::Rows(df.execute_stream().await?))
    }

    /// Opens a table named in a statement.
    pub(crate) async fn open_table(&self, name: &ObjectRef) -> Result<Table> {
        let project = name
            .project
            .clone()
            .unwrap_or_else(|| self.current_project());
        let needed = *self.needed.lock().unwrap_or_else(|e| e.into_inner());
        self.authorize(&project, needed)?;
        Ok(self.warehouse.table(&project, &name.name).await?)
    }

    async fn travel_provider(&self, t: &Travel) -> Result<Arc<dyn TableProvider>> {
        let table = self.open_table(&t.table).await?;
        match (&t.clause, t.kind) {
            (Clause::AsOf(e), PointKind::Version) => {
                let id = self.eval_version(e).await?;
                let snapshot = table.snapshot(id).await?;
                Ok(Arc::new(SnapshotTable::new(table, Some(snapshot))))
            }
            (Clause::AsOf(e), PointKind::Timestamp) => {
                let ms = self.eval_timestamp_ms(e).await?;
                let snapshot = match table.snapshot_at(ms).await {
                    Ok(s) => s,
                    Err(tidewater_engine::Error::NoSnapshotAt { .. }) => {
                        let oldest = match table.snapshot_ids().await?.first() {
                            Some(id) => {
                                let s = table.snapshot(*id).await?;
                                format!(
                                    "the oldest kept is snapshot {id}, committed {} UTC",
                                    format_utc(s.commit_time_ms)
                                )
                            }
                            None => "nothing was committed to it yet".to_string(),
                        };
                        return Err(Error::invalid(format!(
                            "table '{}' has no snapshot at or before {} UTC ({oldest})",
                            table.full_name(),
                            format_utc(ms)
                        )));
                    }
                    Err(e) => return Err(e.into()),
                };
                Ok(Arc::new(SnapshotTable::new(table, Some(snapshot))))
            }
            (Clause::Between(a, b), kind) => {
                let (from, to) = match kind {
                    PointKind::Version => {
                        (self.eval_version(a).await?, self.eval_version(b).await?)
                    }
                    PointKind::Timestamp => {
                        let (a, b) = (
                            self.eval_timestamp_ms(a).await?,
                            self.eval_timestamp_ms(b).await?,
                        );
                        if a > b {
                            return Err(Error::invalid(format!(
                                "TIMESTAMP BETWEEN a AND b on '{}': a is after b",
                                table.full_name()
                            )));
                        }
                        (version_at(&table, a).await?, version_at(&table, b).await?)
                    }
                };
                Ok(Arc::new(ChangesTable::new(table, from, to).await?))
            }
        }
    }

    /// Evaluates a constant expression (`SELECT <e>`) to one value.
    async fn eval(&self, e: &SqlExpr) -> Result<ScalarValue> {
        let plan = self.plan_sql(&format!("SELECT {e}")).await?;
        let batches: Vec<RecordBatch> = self.query(plan).await?.collect().await?;
        let batch = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .ok_or_else(|| Error::invalid(format!("'{e}' has no value")))?;
        if batch.num_columns() != 1 || batch.num_rows() != 1 {
            return Err(Error::invalid(format!("'{e}' must be a single value")));
        }
        Ok(ScalarValue::try_from_array(batch.column(0), 0)?)
    }

    async fn eval_version(&self, e: &SqlExpr) -> Result<u64> {
        let v = self.eval(e).await?;
        let n: Option<i128> = match &v {
            ScalarValue::Int8(Some(x)) => Some((*x).into()),
            ScalarValue::Int16(Some(x)) => Some((*x).into()),
            ScalarValue::Int32(Some(x)) => Some((*x).into()),
            ScalarValue::Int64(Some(x)) => Some((*x).into()),
            ScalarValue::UInt8(Some(x)) => Some((*x).into()),
            ScalarValue::UInt16(Some(x)) => Some((*x).into()),
            ScalarValue::UInt32(Some(x)) => Some((*x).into()),
            ScalarValue::UInt64(Some(x)) => Some((*x).into()),
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => {
                s.trim().parse::<i128>().ok()
            }
            _ => None,
        };
        match n.and_then(|n| u64::try_from(n).ok()) {
            Some(n) => Ok(n),
            None => Err(Error::invalid(format!(
                "VERSION takes a snapshot id (a whole number ≥ 0), not {e} = {v}; use TIMESTAMP for a point in time"
            ))),
        }
    }

    async fn eval_timestamp_ms(&self, e: &SqlExpr) -> Result<i64> {
        let v = self.eval(e).await?;
        let ms = match &v {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => parse_instant_ms(s),
            ScalarValue::TimestampSecond(Some(x), _) => x.checked_mul(1000),
            ScalarValue::TimestampMillisecond(Some(x), _) => Some(*x),
            ScalarValue::TimestampMicrosecond(Some(x), _) => Some(x.div_euclid(1000)),
            ScalarValue::TimestampNanosecond(Some(x), _) => Some(x.div_euclid(1_000_000)),
            ScalarValue::Date32(Some(d)) => Some(i64::from(*d) * 86_400_000),
            ScalarValue::Date64(Some(ms)) => Some(*ms),
            _ => None,
        };
        ms.ok_or_else(|| {
            Error::invalid(format!(
                "TIMESTAMP takes a point in time such as '2026-11-21 10:00:00' (UTC), not {e} = {v}; use VERSION for snapshot ids"
            ))
        })
    }
}

// Parsers are neither `Send` nor `Sync`: parse in plain functions, never across an await.
fn parse_tokens(tokens: Vec<TokenWithSpan>) -> Result<Vec<Statement>> {
    Ok(Parser::new(&GenericDialect {})
        .with_tokens_with_locations(tokens)
        .parse_statements()?)
}

fn parse_sql(sql: &str) -> Result<Statement> {
    Ok(Parser::new(&GenericDialect {})
        .try_with_sql(sql)?
        .parse_statement()?)
}

/// The newest snapshot at or before `ms`; 0 when the instant is before the first commit.
async fn version_at(table: &Table, ms: i64) -> Result<u64> {
    match table.snapshot_at(ms).await {
        Ok(s) => Ok(s.id),
        Err(tidewater_engine::Error::NoSnapshotAt { .. })
            if table
                .snapshot_ids()
                .await?
                .first()
                .is_none_or(|id| *id == 1) =>
        {
            Ok(0)
        }
        Err(e) => Err(e.into()),
    }
}

/// `YYYY-MM-DD HH:MM:SS.fff` in UTC.
pub(crate) fn format_utc(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| format!("{ms} ms since the epoch"))
}

/// Parses an instant: RFC 3339 with an offset, or a wall-clock time in UTC
/// (`YYYY-MM-DD[ HH:MM[:SS[.fff]]]`, `T` accepted as separator).
pub(crate) fn parse_instant_ms(text: &str) -> Option<i64> {
    let s = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

const SUPPORTED: &str = "supported: SELECT, EXPLAIN, INSERT INTO/OVERWRITE, UPDATE, DELETE, CREATE/DROP TABLE, CREATE/DROP PROJECT, USE, SHOW TABLES/PROJECTS/PARTITIONS/SNAPSHOTS, DESC [EXTENDED], ALTER TABLE … COMPACT / SET|UNSET TBLPROPERTIES";

fn describe_unsupported(s: &Statement) -> String {
    let text = s.to_string();
    let head: String = text
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    format!("{head} … ({SUPPORTED})")
}

/// The first word of a statement (if it starts with one), and its first two words.
fn leading_words(tokens: &[TokenWithSpan]) -> (Option<String>, String) {
    use datafusion::sql::sqlparser::tokenizer::Token;
    let words: Vec<String> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .take(2)
        .map_while(|t| match &t.token {
            Token::Word(w) => Some(w.value.to_ascii_uppercase()),
            _ => None,
        })
        .collect();
    (words.first().cloned(), words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[tokio::test]
    async fn statements_run_as_send_futures() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
        let engine = SqlEngine::new(wh);
        let fut = engine.run("SELECT 1");
        assert_send(&fut);
        assert_eq!(fut.await.unwrap().collect().await.unwrap()[0].num_rows(), 1);
    }

    #[test]
    fn instants_are_utc_unless_they_carry_an_offset() {
        assert_eq!(parse_instant_ms("1970-01-01 00:00:01"), Some(1000));
        assert_eq!(parse_instant_ms("1970-01-01T00:00:01.5"), Some(1500));
        assert_eq!(parse_instant_ms("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_instant_ms("1970-01-01T08:00:00+08:00"), Some(0));
        assert_eq!(parse_instant_ms("yesterday"), None);
    }
}
