//! `TestEnv`: a temporary warehouse with table builders and reopen.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType as ArrowType, Field, Schema};
use tidewater_engine::{Table, Warehouse};
use tidewater_format::{Column, DataType, TableProperties, TableSchema};

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub warehouse: Warehouse,
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
        TestEnv { dir, warehouse }
    }

    /// A fresh handle on the same directory, as another process would open it.
    pub async fn reopen(&self) -> Warehouse {
        Warehouse::open(self.dir.path().to_str().unwrap()).await.unwrap()
    }

    /// `id BIGINT NOT NULL PRIMARY KEY, name STRING, age INT, status BOOLEAN`, Delta, `buckets`.
    pub async fn people(&self, name: &str, buckets: u32, partitioned: bool) -> Table {
        let parts = if partitioned {
            vec![Column::new("dd", DataType::String), Column::new("hh", DataType::String)]
        } else {
            vec![]
        };
        let schema = TableSchema::new(people_columns(), vec!["id".into()], parts).unwrap();
        let props = TableProperties::from_map(&BTreeMap::from([
            ("transactional".to_string(), "true".to_string()),
            ("write.bucket.num".to_string(), buckets.to_string()),
        ]))
        .unwrap();
        self.warehouse
            .create_table("default", name, schema, props, false)
            .await
            .unwrap()
    }
}

pub fn people_columns() -> Vec<Column> {
    vec![
        Column::new("id", DataType::BigInt).not_null(),
        Column::new("name", DataType::String),
        Column::new("age", DataType::Int),
        Column::new("status", DataType::Boolean),
    ]
}

/// Rows `(id, name, age, status)` as an Arrow batch.
pub fn people(rows: &[(i64, &str, i32, bool)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", ArrowType::Int64, false),
        Field::new("name", ArrowType::Utf8, true),
        Field::new("age", ArrowType::Int32, true),
        Field::new("status", ArrowType::Boolean, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.3)))),
        ],
    )
    .unwrap()
}

/// Key-only batch for deletes.
pub fn ids(ids: &[i64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", ArrowType::Int64, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(ids.to_vec()))]).unwrap()
}

/// All rows of the batches as `(id, name, age)` sorted by id.
pub fn rows_of(batches: &[RecordBatch]) -> Vec<(i64, String, i32)> {
    let mut out = Vec::new();
    for b in batches {
        let id = b.column_by_name("id").unwrap().as_any().downcast_ref::<Int64Array>().unwrap();
        let name = b.column_by_name("name").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        let age = b.column_by_name("age").unwrap().as_any().downcast_ref::<Int32Array>().unwrap();
        for i in 0..b.num_rows() {
            out.push((
                id.value(i),
                if name.is_null(i) { String::new() } else { name.value(i).to_string() },
                age.value(i),
            ));
        }
    }
    out.sort();
    out
}
