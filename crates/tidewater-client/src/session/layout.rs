//! The block layout of a session: which columns a block carries, in which Arrow types, and how
//! an Arrow batch from the caller is checked and converted into it.
//!
//! A block holds the table's data columns in table order, then (dynamic partitions only) the
//! partition columns, then — upsert sessions only — the `_op` column (UInt8, 0 = upsert,
//! 1 = delete). Invariants of every batch [`Layout::conform`] returns: it has exactly the
//! block schema; key values are non-NULL; in upserted and inserted rows NOT NULL columns are
//! non-NULL and CHAR/VARCHAR values fit; partition values are valid; in deleted rows every
//! non-key, non-partition value is NULL (the server needs only the key).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::cast::AsArray;
use arrow::array::{Array, ArrayRef, RecordBatch, UInt8Array, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef, TimeUnit};
use snafu::ensure;
use tidewater_format::api::{OP_FIELD, SessionInfo, SessionKind};
use tidewater_format::partition::validate_partition_value;
use tidewater_format::schema::{OP_DELETE, OP_UPSERT};
use tidewater_format::{DataType, TableSchema};

use crate::error::{InvalidInputSnafu, InvalidValueSnafu, Result, RoutingSnafu};

/// What a row does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowOp {
    Upsert,
    Delete,
    Insert,
}

impl RowOp {
    /// The `_op` value of the row (inserts carry no `_op` column).
    pub fn code(self) -> u8 {
        match self {
            RowOp::Delete => OP_DELETE,
            RowOp::Upsert | RowOp::Insert => OP_UPSERT,
        }
    }
}

/// One column of a block (not `_op`).
#[derive(Debug, Clone)]
pub(crate) struct BlockColumn {
    pub name: String,
    pub data_type: DataType,
    pub arrow: ArrowType,
    /// Declared nullable (partition and key columns never are).
    pub nullable: bool,
    pub is_key: bool,
    pub is_partition: bool,
}

impl BlockColumn {
    /// Whether deleted rows carry this column's value.
    pub fn needed_by_deletes(&self) -> bool {
        self.is_key || self.is_partition
    }
}

#[derive(Debug)]
pub(crate) struct Layout {
    pub table: String,
    pub kind: SessionKind,
    pub columns: Vec<BlockColumn>,
    /// The block schema: `columns`, then `_op` for upsert sessions.
    pub schema: SchemaRef,
    /// Positions in `columns` of the hashed key columns, in hash order (empty: bucket 0).
    pub hash_positions: Vec<usize>,
    pub bucket_num: u32,
    /// Column position by exact name, then by lower-case name.
    by_name: HashMap<String, usize>,
    by_lower_name: HashMap<String, usize>,
    /// Partition columns of a static-partition session (present in the table, not in blocks).
    static_partition_columns: Vec<String>,
}

impl Layout {
    pub fn new(info: &SessionInfo) -> Result<Layout> {
        let schema: &TableSchema = &info.schema;
        let mut columns = Vec::new();
        let mut fields = Vec::new();
        for (i, c) in schema.columns.iter().enumerate() {
            let is_key = schema.is_key_column(i);
            // Deletes carry NULL in non-key columns: their block fields are nullable.
            let field_nullable = !is_key && (c.nullable || info.kind == SessionKind::Upsert);
            fields.push(c.arrow_field(field_nullable));
            columns.push(BlockColumn {
                name: c.name.clone(),
                data_type: c.data_type.clone(),
                arrow: c.data_type.to_arrow(),
                nullable: c.nullable && !is_key,
                is_key,
                is_partition: false,
            });
        }
        if info.dynamic_partitions {
            for c in &schema.partition_columns {
                fields.push(c.arrow_field(false));
                columns.push(BlockColumn {
                    name: c.name.clone(),
                    data_type: c.data_type.clone(),
                    arrow: c.data_type.to_arrow(),
                    nullable: false,
                    is_key: false,
                    is_partition: true,
                });
            }
        }
        if info.kind == SessionKind::Upsert {
            fields.push(Field::new(OP_FIELD, ArrowType::UInt8, false));
        }
        let mut by_name = HashMap::new();
        let mut by_lower_name = HashMap::new();
        for (i, c) in columns.iter().enumerate() {
            by_name.insert(c.name.clone(), i);
            by_lower_name.insert(c.name.to_ascii_lowercase(), i);
        }
        let mut hash_positions = Vec::new();
        for k in &info.hash.key_columns {
            let position = columns
                .iter()
                .position(|c| !c.is_partition && c.name.eq_ignore_ascii_case(k));
            let Some(position) = position else {
                return RoutingSnafu {
                    table: info.table.clone(),
                    reason: format!("hash key column '{k}' is not a data column of the table"),
                }
                .fail();
            };
            hash_positions.push(position);
        }
        ensure!(
            info.hash.bucket_num >= 1,
            RoutingSnafu {
                table: info.table.clone(),
                reason: "the session has 0 buckets".to_string(),
            }
        );
        let static_partition_columns = if info.dynamic_partitions {
            Vec::new()
        } else {
            schema
                .partition_columns
                .iter()
                .map(|c| c.name.clone())
                .collect()
        };
        Ok(Layout {
            table: info.table.clone(),
            kind: info.kind,
            columns,
            schema: Arc::new(Schema::new(fields)),
            hash_positions,
            bucket_num: info.hash.bucket_num,
            by_name,
            by_lower_name,
            static_partition_columns,
        })
    }

    pub fn has_op_column(&self) -> bool {
        self.kind == SessionKind::Upsert
    }

    /// The block column called `name` (exact match first, then case-insensitive).
    pub fn position(&self, name: &str) -> Option<usize> {
        self.by_name
            .get(name)
            .or_else(|| self.by_lower_name.get(&name.to_ascii_lowercase()))
            .copied()
    }

    /// Why `name` cannot be written in this session.
    pub fn unknown_column_reason(&self, name: &str) -> String {
        if name.eq_ignore_ascii_case(OP_FIELD) {
            return format!("'{OP_FIELD}' is set by the client: use the delete calls for deletes");
        }
        if self
            .static_partition_columns
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name))
        {
            return format!(
                "column '{name}' is a partition column; this session writes one static partition, so send only data columns (or open the session with dynamic partitions)"
            );
        }
        let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        format!(
            "unknown column '{name}'; the columns are {}",
            names.join(", ")
        )
    }

    /// Checks `batch` and converts it into the block schema, every row doing `op`.
    pub fn conform(&self, batch: &RecordBatch, op: RowOp) -> Result<RecordBatch> {
        let input = batch.schema_ref();
        let mut inputs: Vec<Option<&ArrayRef>> = vec![None; self.columns.len()];
        for (i, f) in input.fields().iter().enumerate() {
            let Some(p) = self.position(f.name()) else {
                return InvalidInputSnafu {
                    table: &self.table,
                    reason: self.unknown_column_reason(f.name()),
                }
                .fail();
            };
            ensure!(
                inputs[p].is_none(),
                InvalidInputSnafu {
                    table: &self.table,
                    reason: format!("column '{}' is given twice", self.columns[p].name),
                }
            );
            inputs[p] = Some(batch.column(i));
        }
        let rows = batch.num_rows();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (column, input) in self.columns.iter().zip(inputs) {
            if op == RowOp::Delete && !column.needed_by_deletes() {
                arrays.push(new_null_array(&column.arrow, rows));
                continue;
            }
            let Some(input) = input else {
                let what = if column.is_key {
                    "primary-key"
                } else if column.is_partition {
                    "partition (dynamic partitions)"
                } else {
                    "data"
                };
                return InvalidInputSnafu {
                    table: &self.table,
                    reason: format!("{what} column '{}' is missing", column.name),
                }
                .fail();
            };
            let array = conform_type(column, input)?;
            check_values(column, array.as_ref(), op)?;
            arrays.push(array);
        }
        if self.has_op_column() {
            arrays.push(Arc::new(UInt8Array::from(vec![op.code(); rows])));
        }
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| {
            InvalidInputSnafu {
                table: &self.table,
                reason: e.to_string(),
            }
            .build()
        })
    }
}

/// Accepts the column's own Arrow type and losslessly equivalent encodings of it (the same
/// rule as the server's).
fn conform_type(column: &BlockColumn, array: &ArrayRef) -> Result<ArrayRef> {
    let expected = &column.arrow;
    let actual = array.data_type();
    if actual == expected {
        return Ok(array.clone());
    }
    let equivalent = actual.equals_datatype(expected)
        || matches!(
            (actual, expected),
            (ArrowType::LargeUtf8 | ArrowType::Utf8View, ArrowType::Utf8)
                | (
                    ArrowType::LargeBinary | ArrowType::BinaryView,
                    ArrowType::Binary
                )
                | (
                    ArrowType::Timestamp(TimeUnit::Nanosecond, Some(_)),
                    ArrowType::Timestamp(TimeUnit::Nanosecond, Some(_))
                )
        );
    if equivalent && let Ok(converted) = cast(array, expected) {
        return Ok(converted);
    }
    let hint = match (&column.data_type, actual) {
        (DataType::Timestamp, ArrowType::Timestamp(_, None)) => {
            " (TIMESTAMP is an absolute instant: send Timestamp(Nanosecond, \"UTC\"))"
        }
        _ => "",
    };
    InvalidValueSnafu {
        row: 0usize,
        column: &column.name,
        reason: format!(
            "expected {} (Arrow {expected}), found Arrow {actual}{hint}",
            column.data_type
        ),
    }
    .fail()
}

/// NULLs, CHAR/VARCHAR lengths and partition values of a conformed column.
fn check_values(column: &BlockColumn, array: &dyn Array, op: RowOp) -> Result<()> {
    let fail = |row: usize, reason: String| {
        InvalidValueSnafu {
            row,
            column: &column.name,
            reason,
        }
        .fail()
    };
    let must_be_set = column.is_key || column.is_partition || !column.nullable;
    if must_be_set
        && array.null_count() > 0
        && let Some(row) = (0..array.len()).find(|i| array.is_null(*i))
    {
        let reason = if column.is_key {
            "NULL primary-key value"
        } else if column.is_partition {
            "NULL partition value"
        } else {
            "NULL in a NOT NULL column"
        };
        return fail(row, reason.to_string());
    }
    if column.is_partition {
        let strings = array.as_string::<i32>();
        for (row, value) in strings.iter().enumerate() {
            if let Some(v) = value
                && (row == 0 || strings.value(row - 1) != v)
                && let Err(e) = validate_partition_value(&column.name, v)
            {
                return fail(row, e.to_string());
            }
        }
    }
    if let Some(max) = column.data_type.max_chars()
        && (op != RowOp::Delete || column.is_key)
    {
        for (row, value) in array.as_string::<i32>().iter().enumerate() {
            if let Some(v) = value
                && v.len() > max as usize
                && v.chars().count() > max as usize
            {
                return fail(
                    row,
                    format!(
                        "{} characters do not fit {}",
                        v.chars().count(),
                        column.data_type
                    ),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array, LargeStringArray, StringArray};
    use tidewater_format::Column;
    use tidewater_format::api::{HASH_NAME, HashSpec, SessionState};

    /// A session on `t (id BIGINT key, name VARCHAR(5), age INT NOT NULL) PARTITIONED BY (dd)`.
    pub fn info(kind: SessionKind, dynamic: bool, buckets: u32) -> SessionInfo {
        let keyed = kind == SessionKind::Upsert;
        let schema = TableSchema::new(
            vec![
                Column::new("id", DataType::BigInt).not_null(),
                Column::new("name", DataType::Varchar(5)),
                Column::new("age", DataType::Int).not_null(),
            ],
            if keyed { vec!["id".into()] } else { vec![] },
            vec![Column::new("dd", DataType::String)],
        )
        .unwrap();
        SessionInfo {
            session_id: "s1".into(),
            project: "default".into(),
            table: "t".into(),
            kind,
            state: SessionState::Open,
            partition: (!dynamic).then(|| "dd=01".to_string()),
            dynamic_partitions: dynamic,
            schema,
            bucket_num: buckets,
            hash: HashSpec {
                name: HASH_NAME.into(),
                key_columns: if keyed { vec!["id".into()] } else { vec![] },
                bucket_num: buckets,
            },
            slots: vec![],
            created_ms: 0,
            expires_ms: 0,
            blocks: 0,
            rows: 0,
            snapshot_id: None,
            max_block_bytes: 1 << 20,
        }
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn upsert_blocks_have_data_columns_then_op() {
        let layout = Layout::new(&info(SessionKind::Upsert, false, 4)).unwrap();
        let names: Vec<_> = layout
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["id", "name", "age", "_op"]);
        let dynamic = Layout::new(&info(SessionKind::Upsert, true, 4)).unwrap();
        let names: Vec<_> = dynamic
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["id", "name", "age", "dd", "_op"]);
        let insert = Layout::new(&info(SessionKind::Insert, false, 1)).unwrap();
        assert!(!insert.has_op_column());
        assert!(insert.hash_positions.is_empty());
    }

    #[test]
    fn conform_matches_names_case_insensitively_and_converts_equivalent_types() {
        let layout = Layout::new(&info(SessionKind::Upsert, false, 4)).unwrap();
        let b = batch(vec![
            ("AGE", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
            ("id", Arc::new(Int64Array::from(vec![10, 11]))),
            ("name", Arc::new(LargeStringArray::from(vec!["a", "b"]))),
        ]);
        let out = layout.conform(&b, RowOp::Upsert).unwrap();
        assert_eq!(out.schema(), layout.schema);
        assert_eq!(out.column(1).as_string::<i32>().value(1), "b");
        let deletes = layout.conform(&b, RowOp::Delete).unwrap();
        assert_eq!(deletes.column(1).null_count(), 2);
        assert_eq!(
            deletes
                .column(3)
                .as_primitive::<arrow::datatypes::UInt8Type>()
                .value(0),
            1
        );
    }

    #[test]
    fn conform_errors_name_the_column_and_row() {
        let layout = Layout::new(&info(SessionKind::Upsert, false, 4)).unwrap();
        let cases: Vec<(RecordBatch, RowOp, &str)> = vec![
            (
                batch(vec![(
                    "id",
                    Arc::new(Int64Array::from(vec![1])) as ArrayRef,
                )]),
                RowOp::Upsert,
                "data column 'name' is missing",
            ),
            (
                batch(vec![(
                    "id",
                    Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
                )]),
                RowOp::Delete,
                "row 1: column 'id': NULL primary-key value",
            ),
            (
                batch(vec![(
                    "id",
                    Arc::new(Int32Array::from(vec![1])) as ArrayRef,
                )]),
                RowOp::Delete,
                "column 'id': expected BIGINT",
            ),
            (
                batch(vec![
                    ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
                    ("dd", Arc::new(StringArray::from(vec!["01"]))),
                ]),
                RowOp::Delete,
                "static partition",
            ),
            (
                batch(vec![
                    ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
                    ("name", Arc::new(StringArray::from(vec!["ok", "too long"]))),
                    ("age", Arc::new(Int32Array::from(vec![1, 2]))),
                ]),
                RowOp::Upsert,
                "row 1: column 'name': 8 characters do not fit VARCHAR(5)",
            ),
            (
                batch(vec![
                    ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
                    ("name", Arc::new(StringArray::from(vec!["a"]))),
                    ("age", Arc::new(Int32Array::from(vec![None]))),
                ]),
                RowOp::Upsert,
                "row 0: column 'age': NULL in a NOT NULL column",
            ),
            (
                batch(vec![(
                    "nope",
                    Arc::new(Int64Array::from(vec![1])) as ArrayRef,
                )]),
                RowOp::Upsert,
                "unknown column 'nope'",
            ),
        ];
        for (b, op, needle) in cases {
            let err = layout.conform(&b, op).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn dynamic_partition_values_are_checked() {
        let layout = Layout::new(&info(SessionKind::Upsert, true, 4)).unwrap();
        let b = batch(vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("dd", Arc::new(StringArray::from(vec!["01", ""]))),
        ]);
        let err = layout.conform(&b, RowOp::Delete).unwrap_err().to_string();
        assert!(err.contains("row 1: column 'dd'"), "{err}");
    }
}
