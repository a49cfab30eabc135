//! `TestEnv`: a temporary warehouse with table builders and reopen, plus row builders and
//! readers shared by the test modules.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType as ArrowType, Field, Schema};
use object_store::ObjectStore;
use tidewater_engine::store::local::DurableLocalStore;
use tidewater_engine::{ScanBuilder, Table, Warehouse};
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

    /// The warehouse directory.
    pub fn location(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    /// A fresh handle on the same directory, as another process would open it.
    pub async fn reopen(&self) -> Warehouse {
        Warehouse::open(self.location()).await.unwrap()
    }

    /// A durable local store on the warehouse directory (to wrap with faults).
    pub fn local_store(&self) -> Arc<dyn ObjectStore> {
        Arc::new(DurableLocalStore::new(self.location()).unwrap())
    }

    /// `id BIGINT NOT NULL PRIMARY KEY, name STRING, age INT, status BOOLEAN`, Delta, `buckets`,
    /// partitioned by `(dd STRING, hh STRING)` when `partitioned`.
    pub async fn people(&self, name: &str, buckets: u32, partitioned: bool) -> Table {
        people_table(&self.warehouse, name, buckets, partitioned).await
    }

    /// The same columns as [`TestEnv::people`], as a standard (append-only, keyless) table.
    pub async fn standard_people(&self, name: &str, partitioned: bool) -> Table {
        let schema = TableSchema::new(people_columns(), vec![], partitions(partitioned)).unwrap();
        self.warehouse
            .create_table("default", name, schema, TableProperties::default(), false)
            .await
            .unwrap()
    }
}

fn partitions(partitioned: bool) -> Vec<Column> {
    if partitioned {
        vec![
            Column::new("dd", DataType::String),
            Column::new("hh", DataType::String),
        ]
    } else {
        vec![]
    }
}

/// Properties of a Delta table with `buckets` buckets.
pub fn delta_props(buckets: u32) -> TableProperties {
    TableProperties::from_map(&BTreeMap::from([
        ("transactional".to_string(), "true".to_string()),
        ("write.bucket.num".to_string(), buckets.to_string()),
    ]))
    .unwrap()
}

/// Creates the people table of [`TestEnv::people`] in any warehouse handle.
pub async fn people_table(w: &Warehouse, name: &str, buckets: u32, partitioned: bool) -> Table {
    let schema =
        TableSchema::new(people_columns(), vec!["id".into()], partitions(partitioned)).unwrap();
    w.create_table("default", name, schema, delta_props(buckets), false)
        .await
        .unwrap()
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
    let persons: Vec<Person> = rows
        .iter()
        .map(|r| Person::new(r.0, Some(r.1), Some(r.2), Some(r.3)))
        .collect();
    persons_batch(&persons)
}

/// Key-only batch for deletes.
pub fn ids(ids: &[i64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", ArrowType::Int64, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(ids.to_vec()))]).unwrap()
}

/// All rows of the batches as `(id, name, age)` sorted by id.
pub fn rows_of(batches: &[RecordBatch]) -> Vec<(i64, String, i32)> {
    let mut out: Vec<(i64, String, i32)> = scanned(batches)
        .into_iter()
        .map(|r| {
            (
                r.person.id,
                r.person.name.unwrap_or_default(),
                r.person.age.unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// One row of the people tables, every non-key value nullable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Person {
    pub id: i64,
    pub name: Option<String>,
    pub age: Option<i32>,
    pub status: Option<bool>,
}

impl Person {
    pub fn new(id: i64, name: Option<&str>, age: Option<i32>, status: Option<bool>) -> Person {
        Person {
            id,
            name: name.map(str::to_string),
            age,
            status,
        }
    }
}

/// `(id, name, age, status)` columns of `rows`.
fn person_columns(rows: &[Person]) -> (Vec<Field>, Vec<ArrayRef>) {
    let fields = vec![
        Field::new("id", ArrowType::Int64, false),
        Field::new("name", ArrowType::Utf8, true),
        Field::new("age", ArrowType::Int32, true),
        Field::new("status", ArrowType::Boolean, true),
    ];
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.name.clone()))),
        Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.age))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.status))),
    ];
    (fields, columns)
}

/// The people rows as an Arrow batch (data columns only).
pub fn persons_batch(rows: &[Person]) -> RecordBatch {
    let (fields, columns) = person_columns(rows);
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// Appends `dd` and `hh` partition columns (one value per row) to a batch.
pub fn with_partitions(batch: &RecordBatch, parts: &[(&str, &str)]) -> RecordBatch {
    assert_eq!(batch.num_rows(), parts.len());
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("dd", ArrowType::Utf8, true));
    fields.push(Field::new("hh", ArrowType::Utf8, true));
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(StringArray::from_iter_values(
        parts.iter().map(|p| p.0),
    )));
    columns.push(Arc::new(StringArray::from_iter_values(
        parts.iter().map(|p| p.1),
    )));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// A scanned row of a people table: partition values (empty when unpartitioned or not
/// projected) and the person.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Row {
    pub dd: String,
    pub hh: String,
    pub person: Person,
}

fn str_col(b: &RecordBatch, name: &str) -> Option<StringArray> {
    b.column_by_name(name)
        .map(|c| c.as_any().downcast_ref::<StringArray>().unwrap().clone())
}

/// Every row of the batches, sorted. Missing columns read as NULL (`id` as 0).
pub fn scanned(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let id = b
            .column_by_name("id")
            .map(|c| c.as_any().downcast_ref::<Int64Array>().unwrap().clone());
        let name = str_col(b, "name");
        let age = b
            .column_by_name("age")
            .map(|c| c.as_any().downcast_ref::<Int32Array>().unwrap().clone());
        let status = b
            .column_by_name("status")
            .map(|c| c.as_any().downcast_ref::<BooleanArray>().unwrap().clone());
        let (dd, hh) = (str_col(b, "dd"), str_col(b, "hh"));
        let opt_str = |a: &Option<StringArray>, i: usize| {
            a.as_ref()
                .filter(|a| !a.is_null(i))
                .map(|a| a.value(i).to_string())
        };
        for i in 0..b.num_rows() {
            out.push(Row {
                dd: opt_str(&dd, i).unwrap_or_default(),
                hh: opt_str(&hh, i).unwrap_or_default(),
                person: Person {
                    id: id.as_ref().map_or(0, |a| a.value(i)),
                    name: opt_str(&name, i),
                    age: age.as_ref().filter(|a| !a.is_null(i)).map(|a| a.value(i)),
                    status: status
                        .as_ref()
                        .filter(|a| !a.is_null(i))
                        .map(|a| a.value(i)),
                },
            });
        }
    }
    out.sort();
    out
}

/// Runs a scan and returns its rows, sorted.
pub async fn scan_rows(scan: ScanBuilder) -> Vec<Row> {
    scanned(&scan.collect().await.unwrap())
}

/// Total rows of the batches.
pub fn num_rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}
