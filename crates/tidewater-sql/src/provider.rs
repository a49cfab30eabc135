//! Table providers: a table pinned to one snapshot ([`SnapshotTable`]) and the changes between
//! two snapshots ([`ChangesTable`]).
//!
//! A provider is created when a statement resolves its table names, and pins the snapshot then:
//! every scan of that table in the statement (self-joins, subqueries) reads the same snapshot.
//!
//! Pushed down into the engine scan:
//! - the projection;
//! - filters on partition columns (`=`, `<>`, `<`, `<=`, `>`, `>=`, `IN`, `BETWEEN`, `IS [NOT]
//!   NULL`, `AND`, `OR`, `NOT` between partition columns and string literals) as a partition
//!   predicate: partitions it rejects are never listed or read;
//! - primary-key equality (`id = 5`, every key column given) as a key lookup: only the key's
//!   bucket and the files whose key range holds it are read.
//!
//! Both are `Inexact`: DataFusion still applies the filters to what the scan returns, so pruning
//! only has to be conservative (never drop a partition that could match).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType as ArrowType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown, expr::InList,
};
use datafusion::physical_plan::ExecutionPlan;
use tidewater_engine::Table;
use tidewater_engine::scan::PartitionFilter;
use tidewater_format::{DataType, KeyValue, PartitionSpec, Snapshot, TableSchema};

use crate::error::to_df;
use crate::exec::SplitScanExec;

/// A table as of one snapshot (`None`: the table had no snapshot yet; the scan is empty).
pub struct SnapshotTable {
    table: Table,
    snapshot: Option<Arc<Snapshot>>,
    schema: SchemaRef,
}

impl fmt::Debug for SnapshotTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotTable")
            .field("table", &self.table.full_name())
            .field("snapshot", &self.snapshot.as_ref().map(|s| s.id))
            .finish()
    }
}

impl SnapshotTable {
    pub fn new(table: Table, snapshot: Option<Arc<Snapshot>>) -> Self {
        let schema = table.schema().arrow_schema();
        SnapshotTable {
            table,
            snapshot,
            schema,
        }
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn snapshot(&self) -> Option<&Arc<Snapshot>> {
        self.snapshot.as_ref()
    }
}

fn projected_names(schema: &SchemaRef, projection: Option<&Vec<usize>>) -> Vec<String> {
    match projection {
        Some(p) => p.iter().map(|i| schema.field(*i).name().clone()).collect(),
        None => schema.fields().iter().map(|f| f.name().clone()).collect(),
    }
}

fn projected_schema(schema: &SchemaRef, projection: Option<&Vec<usize>>) -> DfResult<SchemaRef> {
    Ok(match projection {
        Some(p) => Arc::new(schema.project(p)?),
        None => schema.clone(),
    })
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        let schema = self.table.schema();
        Ok(filters
            .iter()
            .map(|f| {
                if PartitionPredicate::compile(f, schema).is_some()
                    || key_equality(f, schema).is_some()
                {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let names = projected_names(&self.schema, projection);
        let schema = projected_schema(&self.schema, projection)?;
        let table_schema = self.table.schema();
        let mut builder = self
            .table
            .scan()
            .project(&names)
            .batch_size(state.config().batch_size());
        match &self.snapshot {
            Some(s) => builder = builder.snapshot(s.clone()),
            None => {
                return Ok(Arc::new(SplitScanExec::new(
                    Arc::new(NoSplits),
                    schema,
                    format!("table={}, no snapshot", self.table.full_name()),
                )));
            }
        }
        if let Some(p) = partition_filter(filters, table_schema) {
            builder = builder.partition_filter(p);
        }
        let mut lookup = false;
        if let Some(key) = key_lookup(filters, table_schema) {
            builder = builder.key_eq(key);
            lookup = true;
        }
        let plan = builder.plan().await.map_err(to_df)?;
        let description = format!(
            "table={}, snapshot={}{}",
            self.table.full_name(),
            self.snapshot.as_ref().map_or(0, |s| s.id),
            if lookup { ", key lookup" } else { "" }
        );
        Ok(Arc::new(SplitScanExec::new(
            Arc::new(plan),
            schema,
            description,
        )))
    }
}

/// An empty split source, for tables without a snapshot.
struct NoSplits;

impl crate::exec::SplitSource for NoSplits {
    fn split_count(&self) -> usize {
        0
    }
    fn run_split(&self, _i: usize) -> tidewater_engine::RecordBatchStream {
        use futures::StreamExt;
        futures::stream::empty().boxed()
    }
}

/// The changes of a Delta table in `(from, to]` (snapshot ids; 0 = before the first commit), with
/// the operation column `_op`.
pub struct ChangesTable {
    table: Table,
    from: u64,
    to: u64,
    schema: SchemaRef,
}

impl fmt::Debug for ChangesTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangesTable")
            .field("table", &self.table.full_name())
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

impl ChangesTable {
    /// Plans nothing yet, but checks the range (Delta table, `from <= to`, snapshots exist).
    pub async fn new(table: Table, from: u64, to: u64) -> crate::Result<Self> {
        let plan = table.changes(from, to).plan().await?;
        Ok(ChangesTable {
            schema: plan.schema.clone(),
            table,
            from,
            to,
        })
    }
}

#[async_trait]
impl TableProvider for ChangesTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        let schema = self.table.schema();
        Ok(filters
            .iter()
            .map(|f| match PartitionPredicate::compile(f, schema) {
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let names = projected_names(&self.schema, projection);
        let schema = projected_schema(&self.schema, projection)?;
        let mut builder = self
            .table
            .changes(self.from, self.to)
            .project(&names)
            .batch_size(state.config().batch_size());
        if let Some(p) = partition_filter(filters, self.table.schema()) {
            builder = builder.partition_filter(p);
        }
        let plan = builder.plan().await.map_err(to_df)?;
        let description = format!(
            "changes of {} in ({}, {}]",
            self.table.full_name(),
            self.from,
            self.to
        );
        Ok(Arc::new(SplitScanExec::new(
            Arc::new(plan),
            schema,
            description,
        )))
    }
}

/// A predicate over partition values, compiled from a DataFusion filter.
#[derive(Debug, Clone)]
enum PartitionPredicate {
    Cmp(usize, Operator, String),
    In(usize, Vec<String>, bool),
    /// `IS NULL` (`true`) / `IS NOT NULL` (`false`): partition values are never NULL.
    IsNull(bool),
    And(Box<PartitionPredicate>, Box<PartitionPredicate>),
    Or(Box<PartitionPredicate>, Box<PartitionPredicate>),
    Not(Box<PartitionPredicate>),
}

fn string_literal(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Some(s.clone()),
        _ => None,
    }
}

fn partition_column(e: &Expr, schema: &TableSchema) -> Option<usize> {
    match e {
        Expr::Column(c) => schema.partition_index(&c.name),
        _ => None,
    }
}

fn flip(op: Operator) -> Option<Operator> {
    Some(match op {
        Operator::Eq => Operator::Eq,
        Operator::NotEq => Operator::NotEq,
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        _ => return None,
    })
}

impl PartitionPredicate {
    fn compile(e: &Expr, schema: &TableSchema) -> Option<PartitionPredicate> {
        use PartitionPredicate as P;
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
                Operator::And => Some(P::And(
                    Box::new(Self::compile(left, schema)?),
                    Box::new(Self::compile(right, schema)?),
                )),
                Operator::Or => Some(P::Or(
                    Box::new(Self::compile(left, schema)?),
                    Box::new(Self::compile(right, schema)?),
                )),
                _ => {
                    flip(*op)?;
                    if let (Some(c), Some(v)) =
                        (partition_column(left, schema), string_literal(right))
                    {
                        Some(P::Cmp(c, *op, v))
                    } else if let (Some(v), Some(c)) =
                        (string_literal(left), partition_column(right, schema))
                    {
                        Some(P::Cmp(c, flip(*op)?, v))
                    } else {
                        None
                    }
                }
            },
            Expr::InList(InList {
                expr,
                list,
                negated,
            }) => {
                let c = partition_column(expr, schema)?;
                let values: Option<Vec<String>> = list.iter().map(string_literal).collect();
                Some(P::In(c, values?, *negated))
            }
            Expr::Between(Between {
                expr,
                negated,
                low,
                high,
            }) => {
                let c = partition_column(expr, schema)?;
                let range = P::And(
                    Box::new(P::Cmp(c, Operator::GtEq, string_literal(low)?)),
                    Box::new(P::Cmp(c, Operator::LtEq, string_literal(high)?)),
                );
                Some(if *negated {
                    P::Not(Box::new(range))
                } else {
                    range
                })
            }
            Expr::IsNull(inner) => partition_column(inner, schema).map(|_| P::IsNull(true)),
            Expr::IsNotNull(inner) => partition_column(inner, schema).map(|_| P::IsNull(false)),
            Expr::Not(inner) => Some(P::Not(Box::new(Self::compile(inner, schema)?))),
            _ => None,
        }
    }

    fn eval(&self, values: &[&str]) -> bool {
        use PartitionPredicate as P;
        match self {
            P::Cmp(c, op, v) => {
                let Some(x) = values.get(*c) else { return true };
                let x = *x;
                match op {
                    Operator::Eq => x == v,
                    Operator::NotEq => x != v,
                    Operator::Lt => x < v.as_str(),
                    Operator::LtEq => x <= v.as_str(),
                    Operator::Gt => x > v.as_str(),
                    Operator::GtEq => x >= v.as_str(),
                    _ => true,
                }
            }
            P::In(c, list, negated) => {
                let Some(x) = values.get(*c) else { return true };
                list.iter().any(|v| v == x) != *negated
            }
            P::IsNull(is_null) => !*is_null,
            P::And(a, b) => a.eval(values) && b.eval(values),
            P::Or(a, b) => a.eval(values) || b.eval(values),
            P::Not(a) => !a.eval(values),
        }
    }
}

/// The conjunction of the filters that are partition predicates, as an engine partition filter.
fn partition_filter(filters: &[Expr], schema: &TableSchema) -> Option<PartitionFilter> {
    let preds: Vec<PartitionPredicate> = filters
        .iter()
        .filter_map(|f| PartitionPredicate::compile(f, schema))
        .collect();
    if preds.is_empty() {
        return None;
    }
    let cache: std::sync::Mutex<HashMap<PartitionSpec, bool>> = Default::default();
    Some(Arc::new(move |spec: &PartitionSpec| {
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = cache.get(spec) {
            return *v;
        }
        let values: Vec<&str> = spec.values().collect();
        let v = preds.iter().all(|p| p.eval(&values));
        cache.insert(spec.clone(), v);
        v
    }))
}

/// `key_column = literal` (either side) → (key column position in the key, value).
fn key_equality(e: &Expr, schema: &TableSchema) -> Option<(usize, KeyValue)> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = e
    else {
        return None;
    };
    let (col, lit) = match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), Expr::Literal(v, _)) | (Expr::Literal(v, _), Expr::Column(c)) => (c, v),
        _ => return None,
    };
    let index = schema.column_index(&col.name)?;
    let pos = schema
        .primary_key
        .iter()
        .position(|k| k.eq_ignore_ascii_case(&col.name))?;
    let value = key_value(&schema.columns[index].data_type, lit)?;
    Some((pos, value))
}

/// A literal as a key value of a column type; only types whose literal maps exactly.
fn key_value(t: &DataType, v: &ScalarValue) -> Option<KeyValue> {
    let int = match v {
        ScalarValue::Int8(Some(x)) => Some(i64::from(*x)),
        ScalarValue::Int16(Some(x)) => Some(i64::from(*x)),
        ScalarValue::Int32(Some(x)) => Some(i64::from(*x)),
        ScalarValue::Int64(Some(x)) => Some(*x),
        ScalarValue::UInt8(Some(x)) => Some(i64::from(*x)),
        ScalarValue::UInt16(Some(x)) => Some(i64::from(*x)),
        ScalarValue::UInt32(Some(x)) => Some(i64::from(*x)),
        _ => None,
    };
    match t {
        DataType::TinyInt | DataType::SmallInt | DataType::Int | DataType::BigInt => {
            let x = int?;
            let fits = match t.to_arrow() {
                ArrowType::Int8 => i8::try_from(x).is_ok(),
                ArrowType::Int16 => i16::try_from(x).is_ok(),
                ArrowType::Int32 => i32::try_from(x).is_ok(),
                _ => true,
            };
            fits.then_some(KeyValue::Int(x))
        }
        DataType::String | DataType::Varchar(_) | DataType::Char(_) => match v {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => Some(KeyValue::Str(s.clone())),
            _ => None,
        },
        DataType::Boolean => match v {
            ScalarValue::Boolean(Some(b)) => Some(KeyValue::Bool(*b)),
            _ => None,
        },
        _ => None,
    }
}

/// The whole primary key from equality filters, if every key column is pinned.
fn key_lookup(filters: &[Expr], schema: &TableSchema) -> Option<Vec<KeyValue>> {
    if schema.primary_key.is_empty() {
        return None;
    }
    let mut key: Vec<Option<KeyValue>> = vec![None; schema.primary_key.len()];
    for f in filters {
        if let Some((pos, v)) = key_equality(f, schema) {
            key[pos].get_or_insert(v);
        }
    }
    key.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{col, lit};
    use tidewater_format::Column;

    use super::*;

    fn schema() -> TableSchema {
        TableSchema::new(
            vec![
                Column::new("id", DataType::BigInt),
                Column::new("name", DataType::String),
            ],
            vec!["id".into()],
            vec![
                Column::new("dd", DataType::String),
                Column::new("hh", DataType::String),
            ],
        )
        .unwrap()
    }

    fn accepts(e: Expr, dd: &str, hh: &str) -> bool {
        let p = PartitionPredicate::compile(&e, &schema()).expect("compiles");
        p.eval(&[dd, hh])
    }

    #[test]
    fn partition_predicates_evaluate_on_partition_values() {
        assert!(accepts(col("dd").eq(lit("01")), "01", "02"));
        assert!(!accepts(col("dd").eq(lit("01")), "02", "02"));
        assert!(accepts(lit("01").lt(col("hh")), "01", "02"));
        assert!(accepts(
            col("dd").in_list(vec![lit("01"), lit("03")], false),
            "03",
            "x"
        ));
        assert!(!accepts(
            col("dd").in_list(vec![lit("01")], true),
            "01",
            "x"
        ));
        assert!(accepts(col("dd").between(lit("01"), lit("05")), "03", "x"));
        assert!(accepts(
            col("dd").eq(lit("01")).or(col("hh").eq(lit("09"))),
            "02",
            "09"
        ));
        assert!(!accepts(col("dd").is_null(), "02", "09"));
    }

    #[test]
    fn filters_on_data_columns_are_not_partition_predicates() {
        let s = schema();
        assert!(PartitionPredicate::compile(&col("name").eq(lit("x")), &s).is_none());
        assert!(PartitionPredicate::compile(&col("dd").eq(lit(1)), &s).is_none());
        assert!(
            PartitionPredicate::compile(&col("dd").eq(lit("1")).and(col("id").eq(lit(1))), &s)
                .is_none()
        );
    }

    #[test]
    fn key_lookups_need_every_key_column() {
        let s = schema();
        assert_eq!(
            key_lookup(&[col("id").eq(lit(5i64))], &s),
            Some(vec![KeyValue::Int(5)])
        );
        assert_eq!(key_lookup(&[col("name").eq(lit("x"))], &s), None);
        assert_eq!(key_lookup(&[col("id").gt(lit(5i64))], &s), None);
    }
}
