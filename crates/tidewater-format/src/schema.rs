//! Table schemas and table metadata.
//!
//! A table has data columns, an optional primary key (a subset of the data columns; Delta tables
//! only, always NOT NULL) and up to six STRING partition columns (not stored in data files; their
//! values come from the partition). Users see the data columns followed by the partition columns.
//!
//! Delta-table data files hold the data columns (non-key columns nullable, since a delete row
//! carries only its key) plus two hidden columns: [`SEQ_COLUMN`] and [`OP_COLUMN`].
//! Names are matched case-insensitively and are unique case-insensitively.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::error::{InvalidSchemaSnafu, Result};
use crate::partition::MAX_PARTITION_LEVELS;
use crate::path::validate_name;
use crate::properties::TableProperties;
use crate::types::{DataType, SQL_TYPE_METADATA};

/// Hidden column of Delta-table files: the row's sequence number relative to its file's
/// `seq_offset` (see [`crate::DataFileMeta`]).
pub const SEQ_COLUMN: &str = "_seq";
/// Hidden column of Delta-table files: [`OP_UPSERT`] or [`OP_DELETE`].
pub const OP_COLUMN: &str = "_op";
pub const OP_UPSERT: u8 = 0;
pub const OP_DELETE: u8 = 1;

/// Version of the persisted table metadata written by this build.
pub const TABLE_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: DataType,
    #[serde(default = "yes")]
    pub nullable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

fn yes() -> bool {
    true
}

impl Column {
    pub fn new(name: impl Into<String>, data_type: DataType) -> Self {
        Column {
            name: name.into(),
            data_type,
            nullable: true,
            comment: None,
        }
    }

    pub fn not_null(mut self) -> Self {
        self.nullable = false;
        self
    }

    /// The Arrow field, carrying the SQL type in its metadata.
    pub fn arrow_field(&self, nullable: bool) -> Field {
        Field::new(&self.name, self.data_type.to_arrow(), nullable).with_metadata(HashMap::from([
            (SQL_TYPE_METADATA.to_string(), self.data_type.to_string()),
        ]))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    /// Append-only, no primary key.
    Standard,
    /// `"transactional"="true"`: primary key, hash buckets, upserts and deletes.
    Delta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    pub columns: Vec<Column>,
    #[serde(default)]
    pub primary_key: Vec<String>,
    #[serde(default)]
    pub partition_columns: Vec<Column>,
}

fn find(columns: &[Column], name: &str) -> Option<usize> {
    columns
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case(name))
}

impl TableSchema {
    /// Builds and validates a schema. Primary-key columns are made NOT NULL.
    pub fn new(
        mut columns: Vec<Column>,
        primary_key: Vec<String>,
        partition_columns: Vec<Column>,
    ) -> Result<Self> {
        let fail = |reason: String| InvalidSchemaSnafu { reason }.fail();
        if columns.is_empty() {
            return fail("a table needs at least one column".into());
        }
        let mut seen: Vec<String> = Vec::new();
        for c in columns.iter().chain(&partition_columns) {
            validate_name("column", &c.name)?;
            if c.name.starts_with('_') && [SEQ_COLUMN, OP_COLUMN].contains(&c.name.as_str()) {
                return fail(format!("column name '{}' is reserved", c.name));
            }
            let lower = c.name.to_ascii_lowercase();
            if seen.contains(&lower) {
                return fail(format!("column '{}' is declared more than once", c.name));
            }
            seen.push(lower);
        }
        let mut pk = Vec::with_capacity(primary_key.len());
        for k in &primary_key {
            let Some(i) = find(&columns, k) else {
                return fail(if find(&partition_columns, k).is_some() {
                    format!("primary-key column '{k}' must not be a partition column")
                } else {
                    format!("primary-key column '{k}' is not a column of the table")
                });
            };
            if pk.contains(&columns[i].name) {
                return fail(format!("primary-key column '{k}' is listed twice"));
            }
            if !columns[i].data_type.is_key_type() {
                return fail(format!(
                    "primary-key column '{k}' has type {}, which cannot be a key",
                    columns[i].data_type
                ));
            }
            columns[i].nullable = false;
            pk.push(columns[i].name.clone());
        }
        if partition_columns.len() > MAX_PARTITION_LEVELS {
            return fail(format!(
                "at most {MAX_PARTITION_LEVELS} partition columns are allowed, {} were given",
                partition_columns.len()
            ));
        }
        for p in &partition_columns {
            if !p.data_type.is_string_like() {
                return fail(format!(
                    "partition column '{}' has type {}; partition columns must be STRING, VARCHAR or CHAR",
                    p.name, p.data_type
                ));
            }
        }
        Ok(TableSchema {
            columns,
            primary_key: pk,
            partition_columns,
        })
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        find(&self.columns, name)
    }

    pub fn partition_index(&self, name: &str) -> Option<usize> {
        find(&self.partition_columns, name)
    }

    /// Indices of the primary-key columns among the data columns, in key order.
    pub fn key_indices(&self) -> Vec<usize> {
        self.primary_key
            .iter()
            .filter_map(|k| self.column_index(k))
            .collect()
    }

    pub fn is_key_column(&self, index: usize) -> bool {
        self.primary_key
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&self.columns[index].name))
    }

    pub fn partition_names(&self) -> Vec<&str> {
        self.partition_columns
            .iter()
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The schema users see: data columns, then partition columns.
    pub fn arrow_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .chain(&self.partition_columns)
            .map(|c| c.arrow_field(c.nullable))
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The data columns only (what a writer sends for a static partition).
    pub fn data_arrow_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| c.arrow_field(c.nullable))
                .collect::<Vec<_>>(),
        ))
    }

    /// The schema of data files. Standard tables: the data columns. Delta tables: the data
    /// columns with every non-key column nullable, then `_seq` (UInt64) and `_op` (UInt8).
    pub fn file_arrow_schema(&self, kind: TableKind) -> SchemaRef {
        match kind {
            TableKind::Standard => self.data_arrow_schema(),
            TableKind::Delta => {
                let mut fields: Vec<Field> = self
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| c.arrow_field(c.nullable || !self.is_key_column(i)))
                    .collect();
                fields.push(Field::new(SEQ_COLUMN, ArrowType::UInt64, false));
                fields.push(Field::new(OP_COLUMN, ArrowType::UInt8, false));
                Arc::new(Schema::new(fields))
            }
        }
    }
}

/// What `schema/<id>` holds: everything needed to read and write a table. `schema_id` is the
/// version: `CREATE TABLE` writes 0, each `ALTER TABLE … TBLPROPERTIES` the next one, with the
/// same `table_id`, schema and `created_ms` (see the engine's `metadata` module).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableMetadata {
    pub format_version: u32,
    /// Unique id of this incarnation of the table (a dropped and re-created table gets a new one).
    pub table_id: String,
    pub schema_id: u32,
    pub schema: TableSchema,
    pub properties: TableProperties,
    pub created_ms: i64,
}

impl TableMetadata {
    /// Validates that schema and properties fit together.
    pub fn new(
        table_id: String,
        schema: TableSchema,
        properties: TableProperties,
        created_ms: i64,
    ) -> Result<Self> {
        if properties.transactional && schema.primary_key.is_empty() {
            return InvalidSchemaSnafu {
                reason: "a Delta table (\"transactional\"=\"true\") needs a PRIMARY KEY",
            }
            .fail();
        }
        if !properties.transactional && !schema.primary_key.is_empty() {
            return InvalidSchemaSnafu {
                reason: "a PRIMARY KEY needs a Delta table: add TBLPROPERTIES (\"transactional\"=\"true\")",
            }
            .fail();
        }
        Ok(TableMetadata {
            format_version: TABLE_FORMAT_VERSION,
            table_id,
            schema_id: 0,
            schema,
            properties,
            created_ms,
        })
    }

    pub fn kind(&self) -> TableKind {
        if self.properties.transactional {
            TableKind::Delta
        } else {
            TableKind::Standard
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        crate::snapshot::encode_json("table metadata", self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let m: TableMetadata = crate::snapshot::decode_json("table metadata", bytes)?;
        crate::snapshot::check_version("table metadata", m.format_version, TABLE_FORMAT_VERSION)?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<Column> {
        vec![
            Column::new("id", DataType::BigInt),
            Column::new("name", DataType::String),
            Column::new("age", DataType::Int),
        ]
    }

    #[test]
    fn key_columns_become_not_null_and_files_get_hidden_columns() {
        let s = TableSchema::new(
            cols(),
            vec!["ID".into()],
            vec![Column::new("dd", DataType::String)],
        )
        .unwrap();
        assert_eq!(s.primary_key, ["id"]);
        assert!(!s.columns[0].nullable);
        assert_eq!(s.key_indices(), [0]);
        let user = s.arrow_schema();
        assert_eq!(
            user.fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>(),
            ["id", "name", "age", "dd"]
        );
        let file = s.file_arrow_schema(TableKind::Delta);
        assert_eq!(
            file.fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>(),
            ["id", "name", "age", "_seq", "_op"]
        );
        assert!(!file.field(0).is_nullable());
        assert_eq!(file.field(0).metadata()[SQL_TYPE_METADATA], "BIGINT");
    }

    #[test]
    fn bad_schemas_say_what_is_wrong() {
        type Case = (Vec<Column>, Vec<&'static str>, Vec<Column>, &'static str);
        let cases: Vec<Case> = vec![
            (cols(), vec!["nope"], vec![], "'nope' is not a column"),
            (cols(), vec!["id", "id"], vec![], "listed twice"),
            (
                vec![
                    Column::new("id", DataType::BigInt),
                    Column::new("ID", DataType::Int),
                ],
                vec![],
                vec![],
                "declared more than once",
            ),
            (
                cols(),
                vec![],
                vec![Column::new("dd", DataType::Int)],
                "must be STRING",
            ),
            (
                cols(),
                vec!["dd"],
                vec![Column::new("dd", DataType::String)],
                "must not be a partition column",
            ),
            (
                vec![Column::new("a", DataType::Array(Box::new(DataType::Int)))],
                vec!["a"],
                vec![],
                "cannot be a key",
            ),
            (
                vec![Column::new("_seq", DataType::Int)],
                vec![],
                vec![],
                "reserved",
            ),
            (vec![], vec![], vec![], "at least one column"),
        ];
        for (c, pk, parts, needle) in cases {
            let err = TableSchema::new(c, pk.into_iter().map(String::from).collect(), parts)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
        }
        let seven: Vec<Column> = (0..7)
            .map(|i| Column::new(format!("p{i}"), DataType::String))
            .collect();
        assert!(TableSchema::new(cols(), vec![], seven).is_err());
    }

    #[test]
    fn delta_tables_need_a_key_and_standard_tables_must_not_have_one() {
        let delta = TableProperties {
            transactional: true,
            bucket_num: 4,
            retain_hours: 24,
            ..Default::default()
        };
        let s = TableSchema::new(cols(), vec![], vec![]).unwrap();
        assert!(TableMetadata::new("x".into(), s.clone(), delta.clone(), 0).is_err());
        let keyed = TableSchema::new(cols(), vec!["id".into()], vec![]).unwrap();
        assert!(
            TableMetadata::new("x".into(), keyed.clone(), TableProperties::default(), 0).is_err()
        );
        let m = TableMetadata::new("x".into(), keyed, delta, 0).unwrap();
        assert_eq!(m.kind(), TableKind::Delta);
        assert_eq!(TableMetadata::decode(&m.encode().unwrap()).unwrap(), m);
    }
}
