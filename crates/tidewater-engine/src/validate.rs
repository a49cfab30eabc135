//! Validation of rows written to a table: every error names the column and the row.
//!
//! Input batches are matched to the table by column name (case-insensitive, any order). The
//! result is the table's data columns in table order (plus, for dynamic partitions, the
//! partition values per row). Checks: unknown or missing columns, wrong types, NULL primary-key
//! values, NULL in NOT NULL columns, CHAR/VARCHAR values longer than declared (in characters),
//! missing or invalid partition values. Deletes need only the key columns.

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::{DataType as ArrowType, TimeUnit};
use arrow_array::cast::AsArray;
use snafu::ResultExt;
use std::collections::HashMap;
use tidewater_format::partition::validate_partition_value;
use tidewater_format::schema::OP_DELETE;
use tidewater_format::{Column, DataType, PartitionSpec, TableSchema};

use crate::error::{
    ArrowSnafu, BadPartitionValueSnafu, InvalidInputSnafu, MissingColumnSnafu, NullKeySnafu,
    NullValueSnafu, Result, UnknownColumnSnafu, ValueTooLongSnafu, WrongTypeSnafu,
};

/// What a batch of rows does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOp {
    /// Insert or replace by primary key (Delta tables).
    Upsert,
    /// Remove by primary key (Delta tables); only key columns are needed.
    Delete,
    /// Append as is (insert sessions).
    Insert,
}

/// The operations of a batch's rows: one for all, or one per row (`OP_UPSERT`/`OP_DELETE`,
/// Tunnel blocks). Deleted rows need only their key columns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ops<'a> {
    All(RowOp),
    PerRow(&'a [u8]),
}

impl Ops<'_> {
    fn all_deletes(&self) -> bool {
        match self {
            Ops::All(op) => *op == RowOp::Delete,
            Ops::PerRow(ops) => ops.iter().all(|o| *o == OP_DELETE),
        }
    }

    /// Rows whose non-key values are checked: `None` = all of them.
    fn value_rows(&self) -> Option<&[u8]> {
        match self {
            Ops::PerRow(ops) if ops.contains(&OP_DELETE) => Some(ops),
            _ => None,
        }
    }
}

/// Validated rows: the data columns in table order, and the partition column values per row
/// when partitions are dynamic.
pub(crate) struct ValidRows {
    pub columns: Vec<ArrayRef>,
    pub partitions: Option<Vec<StringArray>>,
    pub num_rows: usize,
}

impl ValidRows {
    /// Row indices per partition, each in row order: all rows in `static_spec`, or grouped by
    /// the rows' own partition values (dynamic partitions).
    pub(crate) fn rows_by_partition(
        &self,
        schema: &TableSchema,
        static_spec: Option<&PartitionSpec>,
    ) -> Result<Vec<(PartitionSpec, Vec<u32>)>> {
        match (static_spec, &self.partitions) {
            (Some(spec), _) => Ok(vec![(spec.clone(), (0..self.num_rows as u32).collect())]),
            (None, Some(parts)) => {
                let mut by_values: HashMap<Vec<&str>, Vec<u32>> = HashMap::new();
                for row in 0..self.num_rows {
                    let values: Vec<&str> = parts.iter().map(|p| p.value(row)).collect();
                    by_values.entry(values).or_default().push(row as u32);
                }
                let names = schema.partition_names();
                Ok(by_values
                    .into_iter()
                    .map(|(values, rows)| {
                        let spec = names
                            .iter()
                            .zip(values)
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect();
                        (PartitionSpec(spec), rows)
                    })
                    .collect())
            }
            (None, None) => InvalidInputSnafu {
                reason: "dynamic partitions need the partition columns in every batch",
            }
            .fail(),
        }
    }
}

fn find_input<'a>(batch: &'a RecordBatch, name: &str) -> Option<(usize, &'a ArrayRef)> {
    let schema = batch.schema_ref();
    schema
        .fields()
        .iter()
        .position(|f| f.name() == name)
        .or_else(|| {
            schema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(name))
        })
        .map(|i| (i, batch.column(i)))
}

/// Accepts the column's own Arrow type, and losslessly equivalent encodings of it.
fn conform(column: &Column, array: &ArrayRef) -> Result<ArrayRef> {
    let expected = column.data_type.to_arrow();
    let actual = array.data_type();
    if actual == &expected || actual.equals_datatype(&expected) {
        if actual == &expected {
            return Ok(array.clone());
        }
        return cast(array, &expected).context(ArrowSnafu {
            what: format!("converting column '{}'", column.name),
        });
    }
    let equivalent = matches!(
        (actual, &expected),
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
    if equivalent {
        return cast(array, &expected).context(ArrowSnafu {
            what: format!("converting column '{}'", column.name),
        });
    }
    let hint = match (&column.data_type, actual) {
        (DataType::Timestamp, ArrowType::Timestamp(_, None)) => {
            " (TIMESTAMP is an absolute instant: send Timestamp(Nanosecond, \"UTC\"), or a zoned timestamp)"
        }
        _ => "",
    };
    WrongTypeSnafu {
        column: column.name.clone(),
        expected: format!("{} (Arrow {expected}){hint}", column.data_type),
        actual: format!("Arrow {actual}"),
    }
    .fail()
}

/// Checks for NULLs, only in upserted rows when `only_upserts` gives the rows' operations.
fn check_nulls(
    column: &Column,
    array: &dyn Array,
    is_key: bool,
    only_upserts: Option<&[u8]>,
) -> Result<()> {
    if array.null_count() == 0 {
        return Ok(());
    }
    let counts = |i: &usize| only_upserts.is_none_or(|ops| ops[*i] != OP_DELETE);
    let Some(row) = (0..array.len()).find(|i| array.is_null(*i) && counts(i)) else {
        return Ok(());
    };
    if is_key {
        NullKeySnafu {
            column: column.name.clone(),
            row,
        }
        .fail()
    } else {
        NullValueSnafu {
            column: column.name.clone(),
            row,
        }
        .fail()
    }
}

fn check_length(column: &Column, array: &dyn Array) -> Result<()> {
    let Some(max) = column.data_type.max_chars() else {
        return Ok(());
    };
    let strings = array.as_string::<i32>();
    for (row, v) in strings.iter().enumerate() {
        if let Some(v) = v
            && v.len() > max as usize
        {
            let chars = v.chars().count();
            if chars > max as usize {
                return ValueTooLongSnafu {
                    column: column.name.clone(),
                    row,
                    declared: column.data_type.to_string(),
                    chars,
                }
                .fail();
            }
        }
    }
    Ok(())
}

/// Validates `batch` for `op` against `schema`. `dynamic_partitions` makes partition columns
/// required in the batch; otherwise they must be absent.
pub(crate) fn validate_rows(
    table: &str,
    schema: &TableSchema,
    batch: &RecordBatch,
    ops: Ops<'_>,
    dynamic_partitions: bool,
) -> Result<ValidRows> {
    let n = batch.num_rows();
    let all_deletes = ops.all_deletes();
    for f in batch.schema_ref().fields() {
        let known =
            schema.column_index(f.name()).is_some() || schema.partition_index(f.name()).is_some();
        if !known {
            return UnknownColumnSnafu {
                table,
                column: f.name().clone(),
            }
            .fail();
        }
        if schema.partition_index(f.name()).is_some() && !dynamic_partitions {
            return InvalidInputSnafu {
                reason: format!(
                    "column '{}' is a partition column; this session writes one static partition, so send only data columns (or open the session with dynamic partitions)",
                    f.name()
                ),
            }
            .fail();
        }
    }
    let all_names = || {
        schema
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut columns = Vec::with_capacity(schema.columns.len());
    for (i, column) in schema.columns.iter().enumerate() {
        let is_key = schema.is_key_column(i);
        match find_input(batch, &column.name) {
            Some((_, array)) => {
                let array = conform(column, array)?;
                if is_key {
                    check_nulls(column, array.as_ref(), true, None)?;
                    check_length(column, array.as_ref())?;
                } else if !all_deletes {
                    if !column.nullable {
                        check_nulls(column, array.as_ref(), false, ops.value_rows())?;
                    }
                    check_length(column, array.as_ref())?;
                }
                columns.push(array);
            }
            None if all_deletes && !is_key => {
                columns.push(new_null_array(&column.data_type.to_arrow(), n));
            }
            None => {
                return MissingColumnSnafu {
                    column: column.name.clone(),
                    expected: all_names(),
                }
                .fail();
            }
        }
    }
    let partitions = if dynamic_partitions {
        let mut parts = Vec::with_capacity(schema.partition_columns.len());
        for column in &schema.partition_columns {
            let Some((_, array)) = find_input(batch, &column.name) else {
                return MissingColumnSnafu {
                    column: column.name.clone(),
                    expected: format!(
                        "{} and, with dynamic partitions, {}",
                        all_names(),
                        schema.partition_names().join(", ")
                    ),
                }
                .fail();
            };
            let array = conform(column, array)?;
            let strings = array.as_string::<i32>().clone();
            for row in 0..n {
                if strings.is_null(row) {
                    return BadPartitionValueSnafu {
                        column: column.name.clone(),
                        row,
                        reason: "is NULL",
                    }
                    .fail();
                }
                if row == 0 || strings.value(row) != strings.value(row - 1) {
                    validate_partition_value(&column.name, strings.value(row)).map_err(|e| {
                        BadPartitionValueSnafu {
                            column: column.name.clone(),
                            row,
                            reason: e.to_string(),
                        }
                        .build()
                    })?;
                }
            }
            parts.push(strings);
        }
        Some(parts)
    } else {
        None
    };
    Ok(ValidRows {
        columns,
        partitions,
        num_rows: n,
    })
}
