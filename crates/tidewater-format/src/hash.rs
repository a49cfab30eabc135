//! The frozen bucket hash: a bit-exact port of MaxCompute's (ODPS) "default" hasher.
//!
//! Clients compute bucket indices themselves, so every function here must return exactly
//! what MaxCompute returns. The reference implementations consulted (read, not copied) are:
//!
//! * Java SDK `aliyun/aliyun-odps-java-sdk`,
//!   `odps-sdk-core/.../tunnel/hasher/DefaultHashFactory.java` (per-type hashers),
//!   `TypeHasher.java` (`CombineHashVal`) and the golden values in
//!   `odps-sdk-core/src/test/.../tunnel/hasher/TypeHasherTest.java`;
//! * the MaxCompute runtime header `RuntimeDefaultHasher` (C++: `CombineHash`, `FinalHash`,
//!   `HashBigint`, `HashFloat`, `HashString`, `HashTimestamp4Row`), which the Java SDK mirrors;
//! * PyODPS `odps/tunnel/hasher.py` (`DefaultHasher`, `RecordHasher`) and the Spark connector's
//!   `OdpsDefaultHasher`, used as tie-breakers where the Java SDK is quirky.
//!
//! # Frozen contract
//!
//! Each non-null key column yields a 32-bit *column hash* (the `hash_*` functions; this is
//! what `TypeHasher.hash(type, value)` returns, and what the well-known MaxCompute test
//! vectors such as `BIGINT 1 → 357654460` refer to). A NULL key value has column hash 0.
//! The row's *combined hash* ([`combine`]) is the wrapping `i32` sum of the column hashes
//! followed by the final mix `h ^ (h >> 8)` (arithmetic shift). The bucket is
//! `combined % bucket_count` ([`bucket_of`]).
//!
//! Do not change any output of this module: doing so silently re-buckets every table.

use std::fmt;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimestampMillisecondType, TimestampNanosecondType, UInt8Type, UInt16Type,
    UInt32Type,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, TimeUnit};

/// Column hash of `true`: MaxCompute's magic constant (`0x172BA9C7`).
const TRUE_HASH: i32 = 0x172B_A9C7;
/// Column hash of `false`: MaxCompute's magic constant (`-0x3A59CB12`).
const FALSE_HASH: i32 = -0x3A59_CB12;
/// Column hash of a NULL key value, for every type.
///
/// Every Java SDK hasher starts with `if (val == null) return 0;`, the C++ runtime documents
/// "if it's null, hash value is 0", and PyODPS's `RecordHasher` skips NULL keys in the sum
/// (equivalent to adding 0). The Java test `TestCombineHasher` (`{0,…,0,-978963218,0,…}` →
/// `979604186`) is exactly a row of NULLs plus one `false`.
const NULL_HASH: i32 = 0;
/// Java's `Float.floatToIntBits` collapses every NaN to this canonical pattern.
const CANONICAL_NAN_F32_BITS: u32 = 0x7FC0_0000;
/// Java's `Double.doubleToLongBits` collapses every NaN to this canonical pattern.
const CANONICAL_NAN_F64_BITS: u64 = 0x7FF8_0000_0000_0000;
const SECONDS_PER_DAY: i64 = 86_400;
const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// Decimals with a declared precision above this are stored as 128-bit values by MaxCompute
/// (`isDecimal128(precision) = precision > 18`) and hash both 64-bit halves.
const MAX_DECIMAL64_PRECISION: u8 = 18;

/// Errors from the vectorized hashing functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashError {
    /// A key column has an Arrow type with no MaxCompute bucket-hash mapping.
    UnsupportedKeyType {
        /// Position of the offending column in the `columns` slice.
        column_index: usize,
        /// Its Arrow data type.
        data_type: DataType,
    },
    /// A key column's length differs from the first key column's length.
    ColumnLengthMismatch {
        /// Position of the offending column in the `columns` slice.
        column_index: usize,
        /// Length of column 0.
        expected: usize,
        /// Length of the offending column.
        actual: usize,
    },
    /// No key columns were given, so the number of rows is unknown.
    NoKeyColumns,
    /// `bucket_count` was 0.
    ZeroBucketCount,
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedKeyType {
                column_index,
                data_type,
            } => write!(
                f,
                "bucket key column {column_index} has type {data_type}, which has no bucket hash"
            ),
            Self::ColumnLengthMismatch {
                column_index,
                expected,
                actual,
            } => write!(
                f,
                "bucket key column {column_index} has {actual} rows, expected {expected}"
            ),
            Self::NoKeyColumns => write!(f, "no bucket key columns given"),
            Self::ZeroBucketCount => write!(f, "bucket count must be at least 1"),
        }
    }
}

impl std::error::Error for HashError {}

/// Column hash of an integer of any width (TINYINT, SMALLINT, INT, BIGINT), widened to `i64`.
///
/// Thomas Wang's 64→32-bit integer hash exactly as MaxCompute writes it (`basicLongHasher` /
/// `HashBigint`): signed 64-bit arithmetic, arithmetic right shifts, wrapping on overflow
/// (Java `long` semantics), then truncation to the low 32 bits. Narrow signed integers are
/// sign-extended first (Java `val.longValue()`).
pub fn hash_i64(v: i64) -> i32 {
    let mut h = (!v).wrapping_add(v.wrapping_shl(18));
    h ^= h >> 31;
    h = h.wrapping_mul(21);
    h ^= h >> 11;
    h = h.wrapping_add(h.wrapping_shl(6));
    h ^= h >> 22;
    // Truncation to the low 32 bits, like Java's `(int) l`.
    h as i32
}

/// Column hash of a FLOAT.
///
/// MaxCompute hashes the IEEE-754 bits as a 32-bit *signed* integer, sign-extended to 64 bits
/// (Java: `basicLongHasher((long) Float.floatToIntBits(val))`; C++: `HashBigint(*(int32_t*)&a)`),
/// so negative floats are *not* zero-extended. NaN is canonicalized to `0x7FC00000` as Java's
/// `floatToIntBits` does (Rust's `f32::NAN` already has that pattern); `-0.0` keeps its own
/// bits (`0x80000000`), as in Java, so it hashes differently from `0.0`.
pub fn hash_f32(v: f32) -> i32 {
    let bits = if v.is_nan() {
        CANONICAL_NAN_F32_BITS
    } else {
        v.to_bits()
    };
    // Reinterpret as i32, then sign-extend to i64.
    hash_i64(i64::from(bits as i32))
}

/// Column hash of a DOUBLE: the integer hash of its IEEE-754 bits as a signed `i64`.
///
/// NaN is canonicalized to `0x7FF8000000000000` as Java's `Double.doubleToLongBits` does;
/// `-0.0` keeps its own bits, as in Java.
pub fn hash_f64(v: f64) -> i32 {
    let bits = if v.is_nan() {
        CANONICAL_NAN_F64_BITS
    } else {
        v.to_bits()
    };
    hash_i64(bits as i64)
}

/// Column hash of a BOOLEAN: MaxCompute's magic constants.
pub fn hash_bool(v: bool) -> i32 {
    if v { TRUE_HASH } else { FALSE_HASH }
}

/// Column hash of a STRING (its UTF-8 bytes), VARCHAR/CHAR (same), or BINARY (its raw bytes).
///
/// Bob Jenkins' one-at-a-time hash in wrapping `i32` arithmetic with arithmetic right shifts,
/// where each byte is added as a *signed* char (Java `byte`, C++ `char`), i.e. bytes ≥ 0x80
/// add a negative number.
///
/// BINARY: the C++ runtime (`HashString(const char*, len)`), PyODPS (`hash_string(to_binary)`)
/// and the Spark connector (`hashUnsafeBytes`) all hash the raw bytes, which is what we do.
/// The Java SDK's `BinaryHasher` instead hashes `Binary.toString()`, a quoted-printable
/// rendering of the bytes; we treat that as a Java SDK quirk and do not reproduce it (for
/// bytes that are printable ASCII other than `=` the two agree).
pub fn hash_bytes(v: &[u8]) -> i32 {
    let mut h: i32 = 0;
    for &b in v {
        // Signed char: 0x80..=0xFF become -128..=-1.
        h = h.wrapping_add(i32::from(b as i8));
        h = h.wrapping_add(h.wrapping_shl(10));
        h ^= h >> 6;
    }
    h = h.wrapping_add(h.wrapping_shl(3));
    h ^= h >> 11;
    h.wrapping_add(h.wrapping_shl(15))
}

/// Column hash of a DATE given as days since 1970-01-01 (Arrow `Date32`).
///
/// MaxCompute hashes the epoch *seconds* of the date's UTC midnight
/// (Java: `hashBigint(val.atStartOfDay(ZoneOffset.UTC).toEpochSecond())`; PyODPS:
/// `calendar.timegm`), i.e. `days * 86400`. Cannot overflow: |days| < 2^31, so the product is
/// below 2^48.
pub fn hash_date(days_since_epoch: i32) -> i32 {
    hash_i64(i64::from(days_since_epoch) * SECONDS_PER_DAY)
}

/// Column hash of a DATETIME given as milliseconds since the epoch (Arrow
/// `Timestamp(Millisecond, _)`): the integer hash of the epoch milliseconds
/// (Java `DateTimeHasher`: `hashBigint(instant.toEpochMilli())`).
pub fn hash_datetime(epoch_millis: i64) -> i32 {
    hash_i64(epoch_millis)
}

/// Column hash of a TIMESTAMP given as nanoseconds since the epoch (Arrow
/// `Timestamp(Nanosecond, _)`).
///
/// MaxCompute hashes `(seconds << 30) | nanos` where, as in `java.time.Instant`
/// (`getEpochSecond()` / `getNano()`), `seconds` is the *floor* of the instant in seconds and
/// `nanos` is the non-negative remainder in `0..1_000_000_000` (it "fits in 30 bits", so the
/// OR never touches the shifted seconds). For negative instants this means Euclidean division:
/// −1 ns is `(-1 s, 999_999_999 ns)`. (PyODPS and the Spark connector truncate toward zero
/// instead, which disagrees with the Java SDK and the runtime for negative instants with a
/// fractional second; we follow Java.) The shift wraps like Java's `long <<`.
pub fn hash_timestamp_nanos(epoch_nanos: i64) -> i32 {
    let seconds = epoch_nanos.div_euclid(NANOS_PER_SECOND);
    let nanos = epoch_nanos.rem_euclid(NANOS_PER_SECOND);
    hash_i64(seconds.wrapping_shl(30) | nanos)
}

/// Column hash of a DECIMAL(precision, scale) given its unscaled value at the column's
/// declared scale (Arrow `Decimal128(precision, scale)` stores exactly that).
///
/// The 128-bit rule depends on the *declared* precision, not on the value (Java
/// `isDecimal128(precision) = precision > 18`, after `runtime_decimal_val.h`): for
/// precision ≤ 18 the hash is `hash(low 64 bits)`; above 18 it is
/// `hash(low 64 bits) + hash(value >> 64)` (wrapping `i32` add, arithmetic shift, so a
/// negative value's high half is −1 rather than 0). The Java SDK first rescales its
/// `BigDecimal` to the declared scale (rounding half up); Arrow values are already at that
/// scale, so no rescaling is needed here.
pub fn hash_decimal(unscaled: i128, precision: u8) -> i32 {
    // `as i64` keeps the low 64 bits, like Java's `BigInteger.longValue()`.
    let low = hash_i64(unscaled as i64);
    if precision > MAX_DECIMAL64_PRECISION {
        low.wrapping_add(hash_i64((unscaled >> 64) as i64))
    } else {
        low
    }
}

/// MaxCompute's final mix (`FinalHash`): `h ^ (h >> 8)` with an arithmetic shift.
///
/// The result is always non-negative: bit 31 of `h >> 8` equals bit 31 of `h`, so the XOR
/// clears the sign bit.
#[inline]
fn final_mix(h: i32) -> i32 {
    h ^ (h >> 8)
}

/// Combined hash of one row from its key columns' hashes (NULL keys contribute 0).
///
/// Wrapping `i32` sum followed by `h ^ (h >> 8)` (Java `TypeHasher.CombineHashVal`, C++
/// `CombineHash` + `FinalHash`). Always non-negative (see the final mix). For a single key
/// column this is *not* the column hash itself: the published test vectors
/// (`BIGINT 1 → 357654460`, `STRING "1" → -2140438327`, …) are column hashes, and the Java
/// test suite checks `FinalHash` separately (e.g. DECIMAL(38,18) `1` → hash `-419049619`,
/// final `417516194`).
pub fn combine(column_hashes: impl IntoIterator<Item = i32>) -> i32 {
    final_mix(
        column_hashes
            .into_iter()
            .fold(0i32, |acc, h| acc.wrapping_add(h)),
    )
}

/// Bucket index of a combined hash, in `0..bucket_count`.
///
/// MaxCompute (Java SDK stream/upsert writers: `CombineHashVal(hashValues) % buckets.size()`)
/// takes the combined hash modulo the bucket count, with no masking or `abs`: none is needed
/// because [`combine`] never returns a negative value. For every non-negative `combined` this
/// function is exactly that `%`. A negative `combined` (which `combine` cannot produce) is
/// mapped with Euclidean remainder so the result is still in range.
///
/// `bucket_count == 0` has no valid answer; it returns 0 rather than panicking
/// ([`bucket_columns`] reports it as [`HashError::ZeroBucketCount`]).
pub fn bucket_of(combined: i32, bucket_count: u32) -> u32 {
    if bucket_count == 0 {
        return 0;
    }
    let bucket = i64::from(combined).rem_euclid(i64::from(bucket_count));
    // In 0..bucket_count ⊆ 0..=u32::MAX, so the conversion cannot fail.
    u32::try_from(bucket).unwrap_or(0)
}

/// Vectorized: the combined hash of every row of the key columns (Arrow arrays, all the same
/// length).
///
/// Supported Arrow types and their MaxCompute meaning:
///
/// | Arrow type | MaxCompute type | column hash |
/// |---|---|---|
/// | `Boolean` | BOOLEAN | [`hash_bool`] |
/// | `Int8`/`Int16`/`Int32`/`Int64` | TINYINT/SMALLINT/INT/BIGINT | [`hash_i64`] (sign-extended) |
/// | `UInt8`/`UInt16`/`UInt32` | (widened) SMALLINT/INT/BIGINT | [`hash_i64`] (zero-extended) |
/// | `Float32`/`Float64` | FLOAT/DOUBLE | [`hash_f32`]/[`hash_f64`] |
/// | `Utf8`/`LargeUtf8`/`Utf8View` | STRING | [`hash_bytes`] |
/// | `Binary`/`LargeBinary` | BINARY | [`hash_bytes`] |
/// | `Date32` | DATE | [`hash_date`] |
/// | `Timestamp(Millisecond, _)` | DATETIME | [`hash_datetime`] |
/// | `Timestamp(Nanosecond, _)` | TIMESTAMP | [`hash_timestamp_nanos`] |
/// | `Decimal128(p, s)` | DECIMAL(p, s) | [`hash_decimal`] with `p` |
///
/// The timestamp time zone is ignored: Arrow stores UTC epoch values either way. Anything else
/// (including `UInt64`, which has no lossless MaxCompute integer, and dictionary-encoded
/// arrays) is [`HashError::UnsupportedKeyType`]. NULL values contribute 0, as in MaxCompute.
///
/// Each column is downcast once and hashed in a monomorphized loop that adds into one
/// `Vec<i32>` of per-row sums; the final mix is applied at the end.
pub fn hash_columns(columns: &[&dyn Array]) -> Result<Vec<i32>, HashError> {
    let first = columns.first().ok_or(HashError::NoKeyColumns)?;
    let rows = first.len();
    // Validate every column before doing any work, so errors are cheap and deterministic.
    for (column_index, column) in columns.iter().enumerate() {
        if column.len() != rows {
            return Err(HashError::ColumnLengthMismatch {
                column_index,
                expected: rows,
                actual: column.len(),
            });
        }
        if !is_supported(column.data_type()) {
            return Err(unsupported(column_index, *column));
        }
    }
    let mut sums = vec![0i32; rows];
    for (column_index, column) in columns.iter().enumerate() {
        add_column_hashes(column_index, *column, &mut sums)?;
    }
    for h in &mut sums {
        *h = final_mix(*h);
    }
    Ok(sums)
}

/// Vectorized bucket of every row: [`hash_columns`] then [`bucket_of`].
pub fn bucket_columns(columns: &[&dyn Array], bucket_count: u32) -> Result<Vec<u32>, HashError> {
    if bucket_count == 0 {
        return Err(HashError::ZeroBucketCount);
    }
    let combined = hash_columns(columns)?;
    Ok(combined
        .into_iter()
        .map(|h| bucket_of(h, bucket_count))
        .collect())
}

fn unsupported(column_index: usize, column: &dyn Array) -> HashError {
    HashError::UnsupportedKeyType {
        column_index,
        data_type: column.data_type().clone(),
    }
}

/// Whether [`hash_columns`] accepts this Arrow type (must agree with [`add_column_hashes`]).
fn is_supported(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::Float32
            | DataType::Float64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::Date32
            | DataType::Timestamp(TimeUnit::Millisecond | TimeUnit::Nanosecond, _)
            | DataType::Decimal128(_, _)
    )
}

/// Adds the column hash of every row of `column` to `sums` (NULL rows add nothing, i.e. 0).
fn add_column_hashes(
    column_index: usize,
    column: &dyn Array,
    sums: &mut [i32],
) -> Result<(), HashError> {
    let nulls = column.nulls();
    let err = || unsupported(column_index, column);
    match column.data_type() {
        DataType::Boolean => {
            let array = column.as_boolean_opt().ok_or_else(err)?;
            add_hashes(sums, nulls, array.values().iter(), hash_bool);
        }
        DataType::Int8 => add_primitive::<Int8Type>(sums, column, i64::from).ok_or_else(err)?,
        DataType::Int16 => add_primitive::<Int16Type>(sums, column, i64::from).ok_or_else(err)?,
        DataType::Int32 => add_primitive::<Int32Type>(sums, column, i64::from).ok_or_else(err)?,
        DataType::Int64 => add_primitive::<Int64Type>(sums, column, |v| v).ok_or_else(err)?,
        // Unsigned types are zero-extended into i64 (their MaxCompute equivalent is the next
        // wider signed type, whose hash is the same function of the same integer value).
        DataType::UInt8 => add_primitive::<UInt8Type>(sums, column, i64::from).ok_or_else(err)?,
        DataType::UInt16 => add_primitive::<UInt16Type>(sums, column, i64::from).ok_or_else(err)?,
        DataType::UInt32 => add_primitive::<UInt32Type>(sums, column, i64::from).ok_or_else(err)?,
        DataType::Float32 => {
            let array = column.as_primitive_opt::<Float32Type>().ok_or_else(err)?;
            add_hashes(sums, nulls, array.values().iter().copied(), hash_f32);
        }
        DataType::Float64 => {
            let array = column.as_primitive_opt::<Float64Type>().ok_or_else(err)?;
            add_hashes(sums, nulls, array.values().iter().copied(), hash_f64);
        }
        DataType::Utf8 => {
            let array = column.as_string_opt::<i32>().ok_or_else(err)?;
            add_offset_bytes(sums, nulls, array.offsets(), array.value_data());
        }
        DataType::LargeUtf8 => {
            let array = column.as_string_opt::<i64>().ok_or_else(err)?;
            add_offset_bytes(sums, nulls, array.offsets(), array.value_data());
        }
        DataType::Binary => {
            let array = column.as_binary_opt::<i32>().ok_or_else(err)?;
            add_offset_bytes(sums, nulls, array.offsets(), array.value_data());
        }
        DataType::LargeBinary => {
            let array = column.as_binary_opt::<i64>().ok_or_else(err)?;
            add_offset_bytes(sums, nulls, array.offsets(), array.value_data());
        }
        DataType::Utf8View => {
            let array = column.as_string_view_opt().ok_or_else(err)?;
            add_hashes(sums, nulls, array.bytes_iter(), hash_bytes);
        }
        DataType::Date32 => {
            let array = column.as_primitive_opt::<Date32Type>().ok_or_else(err)?;
            add_hashes(sums, nulls, array.values().iter().copied(), hash_date);
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            let array = column
                .as_primitive_opt::<TimestampMillisecondType>()
                .ok_or_else(err)?;
            add_hashes(sums, nulls, array.values().iter().copied(), hash_datetime);
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            let array = column
                .as_primitive_opt::<TimestampNanosecondType>()
                .ok_or_else(err)?;
            add_hashes(
                sums,
                nulls,
                array.values().iter().copied(),
                hash_timestamp_nanos,
            );
        }
        DataType::Decimal128(precision, _) => {
            let array = column
                .as_primitive_opt::<Decimal128Type>()
                .ok_or_else(err)?;
            // The precision test inside `hash_decimal` is loop-invariant, so its branch is
            // perfectly predicted (and typically unswitched by the optimizer).
            let precision = *precision;
            add_hashes(sums, nulls, array.values().iter().copied(), |v| {
                hash_decimal(v, precision)
            });
        }
        _ => return Err(err()),
    }
    Ok(())
}

/// Adds the integer hash of a primitive integer column; `None` if the downcast fails.
fn add_primitive<T>(
    sums: &mut [i32],
    column: &dyn Array,
    widen: impl Fn(T::Native) -> i64,
) -> Option<()>
where
    T: arrow_array::ArrowPrimitiveType,
{
    let array = column.as_primitive_opt::<T>()?;
    add_hashes(
        sums,
        column.nulls(),
        array.values().iter().map(|&v| widen(v)),
        hash_i64,
    );
    Some(())
}

/// Adds the byte-string hash of every row of an offset-encoded (`Utf8`/`Binary` and their
/// `Large` variants) column, reading the offsets and data buffers directly.
fn add_offset_bytes<O: arrow_array::OffsetSizeTrait>(
    sums: &mut [i32],
    nulls: Option<&NullBuffer>,
    offsets: &OffsetBuffer<O>,
    data: &[u8],
) {
    let values = offsets.windows(2).map(|w| match w {
        // A validated Arrow array always has in-bounds, monotonic offsets; the `get` keeps
        // this panic-free for a corrupt one (which then hashes as an empty value).
        [start, end] => data.get(start.as_usize()..end.as_usize()).unwrap_or(&[]),
        _ => &[],
    });
    add_hashes(sums, nulls, values, hash_bytes);
}

/// The one row loop: `sums[i] += hash(values[i])` for every non-null row `i`.
///
/// Generic over the value iterator and the hash function, so each column type gets its own
/// monomorphized loop with no per-row dynamic dispatch or allocation.
#[inline]
fn add_hashes<V>(
    sums: &mut [i32],
    nulls: Option<&NullBuffer>,
    values: impl Iterator<Item = V>,
    hash: impl Fn(V) -> i32,
) {
    match nulls.filter(|n| n.null_count() > 0) {
        None => {
            for (sum, v) in sums.iter_mut().zip(values) {
                *sum = sum.wrapping_add(hash(v));
            }
        }
        Some(nulls) => {
            for ((sum, v), valid) in sums.iter_mut().zip(values).zip(nulls.iter()) {
                let h = if valid { hash(v) } else { NULL_HASH };
                *sum = sum.wrapping_add(h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Golden values come from two places:
    //! * "Java test": `TypeHasherTest.java` in aliyun-odps-java-sdk (the upstream suite);
    //! * "Java oracle": a throw-away Java 17 program reproducing `DefaultHashFactory` with the
    //!   real `java.time` / `Float.floatToIntBits` / `BigInteger` semantics, run once to
    //!   produce values the upstream suite does not cover.

    use std::sync::Arc;

    use arrow_array::types::Decimal128Type;
    use arrow_array::{
        ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
        Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, LargeBinaryArray,
        LargeStringArray, PrimitiveArray, StringArray, StringViewArray, Time32SecondArray,
        TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray, UInt8Array,
        UInt16Array, UInt32Array, UInt64Array,
    };
    use proptest::prelude::*;

    use super::*;

    /// `hash_columns` on one single-row column: the *combined* value of that row.
    fn combined_of_one(array: &dyn Array) -> i32 {
        let hashes = hash_columns(&[array]).unwrap();
        assert_eq!(hashes.len(), 1);
        hashes[0]
    }

    /// Asserts that a one-row column has the given column hash, via the vectorized path
    /// (which returns the combined value, i.e. the final mix of the column hash).
    fn assert_column_hash(array: &dyn Array, column_hash: i32) {
        assert_eq!(combined_of_one(array), combine([column_hash]));
    }

    fn decimal(values: &[i128], precision: u8, scale: i8) -> Decimal128Array {
        PrimitiveArray::<Decimal128Type>::from(values.to_vec())
            .with_precision_and_scale(precision, scale)
            .unwrap()
    }

    // ---- The published test vectors (column hashes), scalar and vectorized ----

    #[test]
    fn bigint_one_matches_maxcompute() {
        assert_eq!(hash_i64(1), 357_654_460);
        assert_column_hash(&Int64Array::from(vec![1]), 357_654_460);
    }

    #[test]
    fn bigint_minus_one_matches_maxcompute() {
        assert_eq!(hash_i64(-1), 357_653_185);
        assert_column_hash(&Int64Array::from(vec![-1]), 357_653_185);
    }

    #[test]
    fn bigint_ten_matches_maxcompute() {
        assert_eq!(hash_i64(10), -718_433_742);
        assert_column_hash(&Int64Array::from(vec![10]), -718_433_742);
    }

    #[test]
    fn bigint_max_matches_maxcompute() {
        assert_eq!(hash_i64(i64::MAX), -1_977_349_188);
        assert_column_hash(&Int64Array::from(vec![i64::MAX]), -1_977_349_188);
    }

    #[test]
    fn bigint_min_matches_maxcompute() {
        assert_eq!(hash_i64(i64::MIN), -1_787_473_579);
        assert_column_hash(&Int64Array::from(vec![i64::MIN]), -1_787_473_579);
    }

    #[test]
    fn string_one_matches_maxcompute() {
        assert_eq!(hash_bytes(b"1"), -2_140_438_327);
        assert_column_hash(&StringArray::from(vec!["1"]), -2_140_438_327);
    }

    #[test]
    fn string_ascii_mix_matches_maxcompute() {
        assert_eq!(hash_bytes(b"a1b()2c3"), -866_984_865);
        assert_column_hash(&StringArray::from(vec!["a1b()2c3"]), -866_984_865);
    }

    #[test]
    fn string_chinese_utf8_matches_maxcompute() {
        let s = "阿里巴巴云计算";
        assert_eq!(hash_bytes(s.as_bytes()), 1_623_550_194);
        assert_column_hash(&StringArray::from(vec![s]), 1_623_550_194);
    }

    #[test]
    fn boolean_true_matches_maxcompute() {
        assert_eq!(hash_bool(true), 388_737_479);
        assert_column_hash(&BooleanArray::from(vec![true]), 388_737_479);
    }

    #[test]
    fn double_one_point_nine_nine_matches_maxcompute() {
        assert_eq!(hash_f64(1.99), -670_340_059);
        assert_column_hash(&Float64Array::from(vec![1.99]), -670_340_059);
    }

    /// The vectors are column hashes, not combined values: the combined value of a single
    /// column differs (and is never negative).
    #[test]
    fn published_vectors_are_column_hashes_not_combined_values() {
        assert_eq!(combine([hash_i64(1)]), 356_781_795); // Java oracle
        assert_eq!(combined_of_one(&Int64Array::from(vec![1])), 356_781_795);
        assert!(combine([hash_bytes(b"1")]) >= 0);
    }

    // ---- More upstream Java test values, per type ----

    #[test]
    fn integers_match_java_test_suite() {
        let cases: [(i64, i32); 11] = [
            (0, 0),
            (1, 357_654_460),
            (-1, 357_653_185),
            (10, -718_433_742),
            (-10, -718_434_491),
            (127, -1_788_925_397),
            (-128, -1_465_040_036),
            (32767, -1_575_889_593),
            (-32768, -1_388_281_606),
            (i64::from(i32::MAX), 2_011_537_724),
            (i64::from(i32::MIN), -1_789_595_061),
        ];
        for (v, expected) in cases {
            assert_eq!(hash_i64(v), expected, "hash_i64({v})");
        }
    }

    #[test]
    fn every_integer_width_hashes_as_widened_i64() {
        assert_column_hash(&Int8Array::from(vec![i8::MAX]), -1_788_925_397);
        assert_column_hash(&Int8Array::from(vec![i8::MIN]), -1_465_040_036);
        assert_column_hash(&Int16Array::from(vec![i16::MAX]), -1_575_889_593);
        assert_column_hash(&Int16Array::from(vec![i16::MIN]), -1_388_281_606);
        assert_column_hash(&Int32Array::from(vec![i32::MAX]), 2_011_537_724);
        assert_column_hash(&Int32Array::from(vec![i32::MIN]), -1_789_595_061);
    }

    #[test]
    fn unsigned_integers_are_zero_extended() {
        // Java oracle: basicLongHasher(255L), (65535L), (4294967295L).
        assert_column_hash(&UInt8Array::from(vec![u8::MAX]), 1_007_249_741);
        assert_column_hash(&UInt16Array::from(vec![u16::MAX]), 1_886_440_179);
        assert_column_hash(&UInt32Array::from(vec![u32::MAX]), -90_313_535);
        assert_eq!(hash_i64(i64::from(u8::MAX)), 1_007_249_741);
    }

    #[test]
    fn datetime_matches_java_test_suite() {
        assert_eq!(hash_datetime(0), 0);
        assert_eq!(hash_datetime(1), 357_654_460);
        assert_eq!(hash_datetime(-1), 357_653_185);
        assert_eq!(hash_datetime(10), -718_433_742);
        assert_eq!(hash_datetime(-10), -718_434_491);
        assert_eq!(hash_datetime(i64::MAX), -1_977_349_188);
        assert_eq!(hash_datetime(i64::MIN), -1_787_473_579);
    }

    #[test]
    fn datetime_column_hashes_epoch_millis() {
        // Java oracle: 2024-01-01T00:00:00.123Z and 1969-12-31T00:00:00Z.
        let array = TimestampMillisecondArray::from(vec![1_704_067_200_123, -86_400_000]);
        let expected = [combine([227_213_949]), combine([-1_627_778_898])];
        assert_eq!(hash_columns(&[&array]).unwrap(), expected);
        let with_tz = array.with_timezone("Asia/Shanghai");
        assert_eq!(hash_columns(&[&with_tz]).unwrap(), expected);
    }

    #[test]
    fn boolean_false_matches_java_test_suite() {
        assert_eq!(hash_bool(false), -978_963_218);
        assert_column_hash(&BooleanArray::from(vec![false]), -978_963_218);
    }

    #[test]
    fn float_matches_java_test_suite() {
        assert_eq!(hash_f32(0.0), 0);
        assert_eq!(hash_f32(1.99), -567_953_753);
        assert_eq!(hash_f32(-1.99), 405_646_127);
        assert_eq!(hash_f32(2.001), 1_233_114_570);
        assert_eq!(hash_f32(-2.0001), 368_473_317);
        assert_eq!(hash_f32(f32::MAX), 278_239_804);
        assert_eq!(hash_f32(f32::MIN_POSITIVE), 1_080_079_518);
        assert_eq!(hash_f32(f32::from_bits(1)), 357_654_460); // Java Float.MIN_VALUE
    }

    #[test]
    fn float_bits_are_sign_extended_and_nan_canonical() {
        // Java oracle: basicLongHasher((long) Float.floatToIntBits(x)).
        assert_eq!(hash_f32(-0.0), -1_789_595_061);
        assert_eq!(hash_f32(1.5), 301_564_594);
        assert_eq!(hash_f32(-1.5), -5_560_710);
        assert_eq!(hash_f32(f32::NAN), -435_329_789);
        assert_eq!(hash_f32(f32::from_bits(0xFFC0_0001)), -435_329_789);
        let array = Float32Array::from(vec![-1.99, 1.5]);
        let expected = [combine([405_646_127]), combine([301_564_594])];
        assert_eq!(hash_columns(&[&array]).unwrap(), expected);
    }

    #[test]
    fn double_matches_java_test_suite() {
        assert_eq!(hash_f64(0.0), 0);
        assert_eq!(hash_f64(-1.99), -818_909_319);
        assert_eq!(hash_f64(12.3456), -1_588_151_741);
        assert_eq!(hash_f64(-12.3456), -282_296_198);
        assert_eq!(hash_f64(f64::MAX), 525_598_140);
        assert_eq!(hash_f64(f64::MIN_POSITIVE), -1_071_819_094);
        assert_eq!(hash_f64(f64::from_bits(1)), 357_654_460); // Java Double.MIN_VALUE
    }

    #[test]
    fn double_negative_zero_and_nan_follow_java_bits() {
        // Java oracle: basicLongHasher(Double.doubleToLongBits(x)).
        assert_eq!(hash_f64(-0.0), -1_787_473_579);
        assert_eq!(hash_f64(-2.5), -1_096_155_888);
        assert_eq!(hash_f64(f64::NAN), 1_122_240_032);
        assert_eq!(
            hash_f64(f64::from_bits(0xFFF0_0000_0000_0001)),
            1_122_240_032
        );
        assert_column_hash(&Float64Array::from(vec![-12.3456]), -282_296_198);
    }

    #[test]
    fn strings_match_java_test_suite() {
        let cases: [(&str, i32); 8] = [
            ("", 0),
            ("$%ef&*", 2_003_021_223),
            ("*^c哦也哈*#", -1_224_825_444),
            ("  1  ", -967_043_897),
            ("1   牛", -1_507_343_086),
            ("+_+ = ++", 966_471_106),
            ("1", -2_140_438_327),
            ("阿里巴巴云计算", 1_623_550_194),
        ];
        for (s, expected) in cases {
            assert_eq!(hash_bytes(s.as_bytes()), expected, "hash_bytes({s:?})");
        }
        let strings: Vec<&str> = cases.iter().map(|(s, _)| *s).collect();
        let expected: Vec<i32> = cases.iter().map(|(_, h)| combine([*h])).collect();
        let utf8 = StringArray::from(strings.clone());
        let large = LargeStringArray::from(strings.clone());
        let view = StringViewArray::from(strings);
        assert_eq!(hash_columns(&[&utf8]).unwrap(), expected);
        assert_eq!(hash_columns(&[&large]).unwrap(), expected);
        assert_eq!(hash_columns(&[&view]).unwrap(), expected);
    }

    #[test]
    fn string_view_handles_inline_and_out_of_line_values() {
        // Java oracle: "hello" (inline, ≤ 12 bytes) and a 43-byte string (in a data buffer).
        let long = "a string longer than twelve bytes for views";
        let view = StringViewArray::from(vec!["hello", long]);
        let expected = [combine([-1_259_046_373]), combine([2_034_230_271])];
        assert_eq!(hash_columns(&[&view]).unwrap(), expected);
    }

    #[test]
    fn binary_hashes_raw_bytes_as_signed_chars() {
        // Java oracle over the raw bytes (as the C++ runtime and PyODPS do).
        let bytes: &[u8] = &[0xFF, 0x00, 0x80, 0x7F];
        assert_eq!(hash_bytes(bytes), -1_833_970_170);
        let binary = BinaryArray::from(vec![bytes, b"1".as_slice()]);
        let large = LargeBinaryArray::from(vec![bytes, b"1".as_slice()]);
        let expected = [combine([-1_833_970_170]), combine([-2_140_438_327])];
        assert_eq!(hash_columns(&[&binary]).unwrap(), expected);
        assert_eq!(hash_columns(&[&large]).unwrap(), expected);
    }

    #[test]
    fn date_hashes_epoch_seconds_of_utc_midnight() {
        // Java test: DATE 1970-01-01 → 0. Java oracle: LocalDate.ofEpochDay(d)
        // .atStartOfDay(UTC).toEpochSecond() hashed as BIGINT.
        assert_eq!(hash_date(0), 0);
        assert_eq!(hash_date(1), -1_119_822_364);
        assert_eq!(hash_date(-1), -1_117_845_204);
        assert_eq!(hash_date(19_723), -1_224_191_243); // 2024-01-01
        assert_eq!(hash_date(i32::MAX), -383_251_506);
        assert_eq!(hash_date(i32::MIN), -1_794_335_831);
        assert_eq!(hash_date(19_723), hash_i64(1_704_067_200));
        let array = Date32Array::from(vec![0, 19_723]);
        let expected = [0, combine([-1_224_191_243])];
        assert_eq!(hash_columns(&[&array]).unwrap(), expected);
    }

    #[test]
    fn timestamp_matches_java_test_suite() {
        assert_eq!(hash_timestamp_nanos(0), 0);
        // Instant.ofEpochSecond(1, 2)
        assert_eq!(hash_timestamp_nanos(1_000_000_002), 1_508_957_768);
        // Instant 36925 s + 147258369 ns
        assert_eq!(hash_timestamp_nanos(36_925_147_258_369), 1_469_401_250);
    }

    #[test]
    fn timestamp_negative_instants_use_floor_seconds_and_positive_nanos() {
        // Java oracle: Instant.ofEpochSecond(0, -1) = (-1 s, 999999999 ns), etc.
        assert_eq!(hash_timestamp_nanos(-1), 1_435_272_363);
        assert_eq!(
            hash_timestamp_nanos(-1),
            hash_i64((-1i64 << 30) | 999_999_999)
        );
        assert_eq!(hash_timestamp_nanos(-1_500_000_000), 1_892_258_915);
        assert_eq!(
            hash_timestamp_nanos(1_704_067_200_123_456_789),
            1_893_284_769
        );
        // Extremes: the `<< 30` wraps like Java's long shift.
        assert_eq!(hash_timestamp_nanos(i64::MAX), -800_595_266);
        assert_eq!(hash_timestamp_nanos(i64::MIN), -875_034_508);
    }

    #[test]
    fn timestamp_nanosecond_column_is_timestamp() {
        let array = TimestampNanosecondArray::from(vec![1_000_000_002, -1, 36_925_147_258_369])
            .with_timezone("UTC");
        let expected = [
            combine([1_508_957_768]),
            combine([1_435_272_363]),
            combine([1_469_401_250]),
        ];
        assert_eq!(hash_columns(&[&array]).unwrap(), expected);
    }

    /// `(value, column hash, final hash)` for `1, -1, 3.22, -3.22, 12.34, -12.34, 2.5, -2.5,
    /// 4.9, -4.9, 6.4, -6.4` at scale 2 (precision 4, 9, 18) — Java test suite.
    const DECIMAL64_CASES: [(i128, i32, i32); 12] = [
        (100, 1_405_592_006, 1_402_234_471),
        (-100, 1_405_574_141, 1_402_248_358),
        (322, -731_948_052, 730_530_999),
        (-322, -731_955_013, 730_537_979),
        (1234, -904_458_774, 903_682_791),
        (-1234, -904_460_195, 903_683_925),
        (250, -713_505_855, 716_028_674),
        (-250, -713_498_858, 716_023_753),
        (490, -708_377_772, 705_872_983),
        (-490, -708_362_397, 705_886_300),
        (640, 1_264_831_551, 1_260_957_683),
        (-640, 1_264_830_356, 1_260_954_707),
    ];

    /// Same values at DECIMAL(38, 18) (unscaled = value × 10^18) — Java test suite.
    const DECIMAL128_CASES: [(i128, i32, i32); 12] = [
        (1_000_000_000_000_000_000, -419_049_619, 417_516_194),
        (-1_000_000_000_000_000_000, 845_713_778, 844_823_011),
        (3_220_000_000_000_000_000, 767_759_606, 770_627_554),
        (-3_220_000_000_000_000_000, 1_356_370_932, 1_351_109_479),
        (12_340_000_000_000_000_000, -476_504_367, 477_792_207),
        (-12_340_000_000_000_000_000, 250_967_822, 251_363_961),
        (2_500_000_000_000_000_000, -1_271_677_481, 1_267_175_018),
        (-2_500_000_000_000_000_000, -1_715_482_525, 1_713_794_995),
        (4_900_000_000_000_000_000, 1_252_387_462, 1_257_197_420),
        (-4_900_000_000_000_000_000, 1_584_384_421, 1_580_312_172),
        (6_400_000_000_000_000_000, -1_846_789_132, 1_853_741_007),
        (-6_400_000_000_000_000_000, -692_413_333, 694_953_719),
    ];

    #[test]
    fn decimal_up_to_18_digits_matches_java_test_suite() {
        assert_eq!(hash_decimal(0, 4), 0);
        for precision in [4, 9, 18] {
            for (unscaled, hash, final_hash) in DECIMAL64_CASES {
                assert_eq!(
                    hash_decimal(unscaled, precision),
                    hash,
                    "{unscaled}@{precision}"
                );
                assert_eq!(combine([hash]), final_hash);
            }
            let values: Vec<i128> = DECIMAL64_CASES.iter().map(|c| c.0).collect();
            let expected: Vec<i32> = DECIMAL64_CASES.iter().map(|c| c.2).collect();
            let array = decimal(&values, precision, 2);
            assert_eq!(hash_columns(&[&array]).unwrap(), expected);
        }
    }

    #[test]
    fn decimal_above_18_digits_matches_java_test_suite() {
        assert_eq!(hash_decimal(0, 38), 0);
        for (unscaled, hash, final_hash) in DECIMAL128_CASES {
            assert_eq!(hash_decimal(unscaled, 38), hash, "{unscaled}");
            assert_eq!(combine([hash]), final_hash);
        }
        let values: Vec<i128> = DECIMAL128_CASES.iter().map(|c| c.0).collect();
        let expected: Vec<i32> = DECIMAL128_CASES.iter().map(|c| c.2).collect();
        let array = decimal(&values, 38, 18);
        assert_eq!(hash_columns(&[&array]).unwrap(), expected);
    }

    #[test]
    fn decimal_128_bit_rule_depends_on_declared_precision() {
        // Java oracle: for 1, precision 18 and 19 agree (high half 0 hashes to 0) …
        assert_eq!(hash_decimal(1, 18), 357_654_460);
        assert_eq!(hash_decimal(1, 19), 357_654_460);
        // … but for a negative value the 128-bit form adds hash(-1) for the high half.
        assert_eq!(hash_decimal(-1, 18), hash_i64(-1));
        assert_eq!(
            hash_decimal(-1, 19),
            hash_i64(-1).wrapping_add(hash_i64(-1))
        );
        assert_eq!(hash_decimal(-999_999_999_999_999_999, 18), 351_389_155);
        assert_eq!(hash_decimal(-12_345, 10), -1_510_883_736);
        let big: i128 = 12_345_678_901_234_567_890_123_456_789_012_345_678;
        assert_eq!(hash_decimal(big, 38), 1_431_001_763);
        assert_eq!(hash_decimal(-big, 38), 496_592_198);
        let p18 = decimal(&[-1], 18, 0);
        let p19 = decimal(&[-1], 19, 0);
        assert_ne!(combined_of_one(&p18), combined_of_one(&p19));
        assert_column_hash(&p19, hash_decimal(-1, 19));
    }

    // ---- Combination ----

    #[test]
    fn combine_matches_java_test_suite() {
        let nulls_and_false = [0, 0, 0, 0, 0, 0, 0, -978_963_218, 0, 0, 0, 0, 0];
        assert_eq!(combine(nulls_and_false), 979_604_186);
        let row2 = [
            357_654_460,
            715_307_540,
            1_072_960_876,
            357_654_460,
            357_654_460,
            357_654_460,
            357_654_460,
            388_737_479,
            -567_953_753,
            -670_340_059,
            -2_140_438_327,
            1_469_401_250,
            -1_088_782_317,
        ];
        assert_eq!(combine(row2), 966_550_009);
        let row3 = [
            357_653_185,
            715_306_435,
            1_072_959_681,
            357_653_185,
            357_653_185,
            357_653_185,
            357_653_185,
            388_737_479,
            405_646_127,
            -818_909_319,
            -866_984_865,
            -64_049_556,
            -2_054_932_282,
        ];
        assert_eq!(combine(row3), 563_915_101);
        // Java oracle.
        assert_eq!(combine([-1_111_111_111]), 1_115_164_659);
        assert_eq!(combine([i32::MIN, i32::MIN]), 0);
        assert_eq!(combine([]), 0);
    }

    #[test]
    fn multi_column_rows_sum_column_hashes_then_mix() {
        // The Java `TestCombineHasher` row 2 minus its INTERVAL_DAY_TIME column (no Arrow
        // mapping here): tinyint 1, smallint 2, int 3, bigint 1, datetime 1 ms, uint8 1,
        // uint16 1, true, 1.99f, 1.99, "1", timestamp 36925.147258369 s.
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int8Array::from(vec![1, -1])),
            Arc::new(Int16Array::from(vec![2, -2])),
            Arc::new(Int32Array::from(vec![3, -3])),
            Arc::new(Int64Array::from(vec![1, -1])),
            Arc::new(TimestampMillisecondArray::from(vec![1, -1])),
            Arc::new(UInt8Array::from(vec![1, 1])),
            Arc::new(UInt16Array::from(vec![1, 1])),
            Arc::new(BooleanArray::from(vec![true, true])),
            Arc::new(Float32Array::from(vec![1.99, -1.99])),
            Arc::new(Float64Array::from(vec![1.99, -1.99])),
            Arc::new(StringArray::from(vec!["1", "a1b()2c3"])),
            Arc::new(TimestampNanosecondArray::from(vec![36_925_147_258_369, 0])),
        ];
        let refs: Vec<&dyn Array> = columns.iter().map(|c| c.as_ref()).collect();
        let row0 = [
            357_654_460,
            715_307_540,
            1_072_960_876,
            357_654_460,
            357_654_460,
            357_654_460,
            357_654_460,
            388_737_479,
            -567_953_753,
            -670_340_059,
            -2_140_438_327,
            1_469_401_250,
        ];
        // Row 1 from the Java test's row-3 values (the -1 columns, -1.99, "a1b()2c3").
        let row1 = [
            357_653_185,
            715_306_435,
            1_072_959_681,
            357_653_185,
            357_653_185,
            357_654_460,
            357_654_460,
            388_737_479,
            405_646_127,
            -818_909_319,
            -866_984_865,
            0,
        ];
        assert_eq!(hash_i64(-2), 715_306_435);
        assert_eq!(hash_i64(-3), 1_072_959_681);
        let hashes = hash_columns(&refs).unwrap();
        assert_eq!(hashes, vec![combine(row0), combine(row1)]);
        // Adding the Java test's INTERVAL hash reproduces its combined value exactly.
        let sum = row0.iter().fold(0i32, |a, &h| a.wrapping_add(h));
        assert_eq!(combine([sum, -1_088_782_317]), 966_550_009);
    }

    #[test]
    fn two_column_key_matches_java_oracle() {
        let ids = Int64Array::from(vec![1]);
        let names = StringArray::from(vec!["1"]);
        assert_eq!(hash_columns(&[&ids, &names]).unwrap(), vec![1_781_095_525]);
        // Addition is commutative: key column order does not matter.
        assert_eq!(hash_columns(&[&names, &ids]).unwrap(), vec![1_781_095_525]);
    }

    // ---- NULL handling ----

    #[test]
    fn null_key_values_hash_as_zero() {
        // Java test `TestCombineHasher`: 12 NULL keys and one `false` → 979604186.
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int8Array::from(vec![None])),
            Arc::new(Int16Array::from(vec![None])),
            Arc::new(Int32Array::from(vec![None])),
            Arc::new(Int64Array::from(vec![None])),
            Arc::new(Date32Array::from(vec![None])),
            Arc::new(TimestampMillisecondArray::from(vec![None])),
            Arc::new(UInt32Array::from(vec![None])),
            Arc::new(BooleanArray::from(vec![Some(false)])),
            Arc::new(Float32Array::from(vec![None])),
            Arc::new(Float64Array::from(vec![None])),
            Arc::new(StringArray::from(vec![None::<&str>])),
            Arc::new(TimestampNanosecondArray::from(vec![None])),
            Arc::new(
                Decimal128Array::from(vec![None])
                    .with_precision_and_scale(38, 18)
                    .unwrap(),
            ),
        ];
        let refs: Vec<&dyn Array> = columns.iter().map(|c| c.as_ref()).collect();
        assert_eq!(hash_columns(&refs).unwrap(), vec![979_604_186]);
    }

    #[test]
    fn null_rows_contribute_zero_in_every_type() {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(BooleanArray::from(vec![Some(true), None])),
            Arc::new(Int64Array::from(vec![Some(1), None])),
            Arc::new(UInt16Array::from(vec![Some(1), None])),
            Arc::new(Float32Array::from(vec![Some(1.99), None])),
            Arc::new(Float64Array::from(vec![Some(1.99), None])),
            Arc::new(StringArray::from(vec![Some("1"), None])),
            Arc::new(LargeStringArray::from(vec![Some("1"), None])),
            Arc::new(StringViewArray::from(vec![Some("1"), None])),
            Arc::new(BinaryArray::from(vec![Some(b"1".as_slice()), None])),
            Arc::new(LargeBinaryArray::from(vec![Some(b"1".as_slice()), None])),
            Arc::new(Date32Array::from(vec![Some(1), None])),
            Arc::new(TimestampMillisecondArray::from(vec![Some(1), None])),
            Arc::new(TimestampNanosecondArray::from(vec![
                Some(1_000_000_002),
                None,
            ])),
            Arc::new(
                Decimal128Array::from(vec![Some(100), None])
                    .with_precision_and_scale(4, 2)
                    .unwrap(),
            ),
        ];
        for (i, column) in columns.iter().enumerate() {
            let hashes = hash_columns(&[column.as_ref()]).unwrap();
            assert_eq!(hashes[1], 0, "column {i} ({})", column.data_type());
            assert_ne!(hashes[0], 0, "column {i} ({})", column.data_type());
        }
        // A NULL next to a value leaves the value's hash alone.
        let ids = Int64Array::from(vec![Some(1), Some(1)]);
        let names = StringArray::from(vec![None, Some("1")]);
        assert_eq!(
            hash_columns(&[&ids, &names]).unwrap(),
            vec![combine([357_654_460]), 1_781_095_525]
        );
    }

    #[test]
    fn sliced_arrays_hash_their_own_rows() {
        let ids = Int64Array::from(vec![Some(7), None, Some(1), Some(-1)]).slice(1, 3);
        let names = StringArray::from(vec![Some("x"), Some("a"), None, Some("1")]).slice(1, 3);
        let view = StringViewArray::from(vec!["x", "1", "1", "1"]).slice(1, 3);
        let hashes = hash_columns(&[&ids, &names, &view]).unwrap();
        let s1 = hash_bytes(b"1");
        assert_eq!(
            hashes,
            vec![
                combine([0, hash_bytes(b"a"), s1]),
                combine([hash_i64(1), 0, s1]),
                combine([hash_i64(-1), s1, s1]),
            ]
        );
    }

    // ---- Buckets ----

    #[test]
    fn combined_hash_is_never_negative() {
        for h in [i32::MIN, -1, -256, 0, 1, i32::MAX, -978_963_218] {
            assert!(combine([h]) >= 0, "combine([{h}])");
        }
    }

    #[test]
    fn bucket_of_is_plain_modulo_of_the_combined_hash() {
        assert_eq!(bucket_of(979_604_186, 16), 979_604_186 % 16);
        assert_eq!(bucket_of(966_550_009, 10), 9);
        assert_eq!(bucket_of(0, 7), 0);
        assert_eq!(bucket_of(i32::MAX, u32::MAX), i32::MAX as u32);
        assert_eq!(bucket_of(-1, 7), 6);
        assert_eq!(bucket_of(5, 0), 0);
    }

    #[test]
    fn bucket_columns_applies_bucket_of_to_every_row() {
        let ids = Int64Array::from(vec![1, -1, 10, i64::MAX, i64::MIN]);
        let combined = hash_columns(&[&ids]).unwrap();
        let buckets = bucket_columns(&[&ids], 16).unwrap();
        let expected: Vec<u32> = combined.iter().map(|&h| bucket_of(h, 16)).collect();
        assert_eq!(buckets, expected);
        assert_eq!(buckets[0], (356_781_795 % 16) as u32);
    }

    #[test]
    fn bucket_columns_rejects_zero_buckets() {
        let ids = Int64Array::from(vec![1]);
        assert_eq!(bucket_columns(&[&ids], 0), Err(HashError::ZeroBucketCount));
    }

    // ---- Errors ----

    #[test]
    fn unsupported_key_type_is_an_error_naming_the_column() {
        let ids = Int64Array::from(vec![1]);
        let unsigned64 = UInt64Array::from(vec![1]);
        let micros = TimestampMicrosecondArray::from(vec![1]);
        let time = Time32SecondArray::from(vec![1]);
        for (array, data_type) in [
            (&unsigned64 as &dyn Array, DataType::UInt64),
            (&micros, DataType::Timestamp(TimeUnit::Microsecond, None)),
            (&time, DataType::Time32(TimeUnit::Second)),
        ] {
            let err = hash_columns(&[&ids, array]).unwrap_err();
            assert_eq!(
                err,
                HashError::UnsupportedKeyType {
                    column_index: 1,
                    data_type: data_type.clone()
                }
            );
            assert!(err.to_string().contains("column 1"), "{err}");
            assert!(bucket_columns(&[array], 4).is_err());
        }
    }

    #[test]
    fn mismatched_column_lengths_are_an_error() {
        let a = Int64Array::from(vec![1, 2]);
        let b = Int64Array::from(vec![1]);
        assert_eq!(
            hash_columns(&[&a, &b]),
            Err(HashError::ColumnLengthMismatch {
                column_index: 1,
                expected: 2,
                actual: 1
            })
        );
    }

    #[test]
    fn no_key_columns_is_an_error() {
        assert_eq!(hash_columns(&[]), Err(HashError::NoKeyColumns));
    }

    #[test]
    fn empty_columns_give_no_rows() {
        let a = Int64Array::from(Vec::<i64>::new());
        assert_eq!(hash_columns(&[&a]).unwrap(), Vec::<i32>::new());
    }

    #[test]
    fn error_implements_std_error() {
        let err: Box<dyn std::error::Error> = Box::new(HashError::NoKeyColumns);
        assert_eq!(err.to_string(), "no bucket key columns given");
    }

    // ---- Properties ----

    proptest! {
        #[test]
        fn bucket_of_is_always_in_range(combined in any::<i32>(), count in 1u32..) {
            let bucket = bucket_of(combined, count);
            prop_assert!(bucket < count);
            if combined >= 0 {
                // Java: `combined % count` on non-negative ints.
                prop_assert_eq!(i64::from(bucket), i64::from(combined) % i64::from(count));
            }
        }

        #[test]
        fn combined_hashes_are_non_negative(hashes in prop::collection::vec(any::<i32>(), 0..8)) {
            prop_assert!(combine(hashes) >= 0);
        }

        #[test]
        fn vectorized_matches_scalar(
            rows in prop::collection::vec(
                (any::<Option<i64>>(), any::<Option<String>>(), any::<Option<f64>>(),
                 any::<Option<i64>>(), any::<Option<i128>>()),
                0..40,
            ),
            bucket_count in 1u32..1000,
        ) {
            let ints = Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>());
            let strings: StringArray = rows.iter().map(|r| r.1.clone()).collect();
            let views: StringViewArray = rows.iter().map(|r| r.1.clone()).collect();
            let doubles = Float64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>());
            let stamps = TimestampNanosecondArray::from(rows.iter().map(|r| r.3).collect::<Vec<_>>());
            let decimals = Decimal128Array::from(rows.iter().map(|r| r.4).collect::<Vec<_>>())
                .with_precision_and_scale(38, 0)
                .unwrap();
            let columns: [&dyn Array; 6] = [&ints, &strings, &views, &doubles, &stamps, &decimals];
            let expected: Vec<i32> = rows
                .iter()
                .map(|(i, s, d, t, m)| {
                    combine([
                        i.map_or(0, hash_i64),
                        s.as_deref().map_or(0, |s| hash_bytes(s.as_bytes())),
                        s.as_deref().map_or(0, |s| hash_bytes(s.as_bytes())),
                        d.map_or(0, hash_f64),
                        t.map_or(0, hash_timestamp_nanos),
                        m.map_or(0, |m| hash_decimal(m, 38)),
                    ])
                })
                .collect();
            prop_assert_eq!(hash_columns(&columns).unwrap(), expected.clone());
            let buckets = bucket_columns(&columns, bucket_count).unwrap();
            let expected_buckets: Vec<u32> =
                expected.iter().map(|&h| bucket_of(h, bucket_count)).collect();
            prop_assert_eq!(buckets, expected_buckets);
        }

        #[test]
        fn narrow_integers_hash_like_their_i64_value(v in any::<i32>()) {
            let expected = combine([hash_i64(i64::from(v))]);
            prop_assert_eq!(combined_of_one(&Int32Array::from(vec![v])), expected);
            prop_assert_eq!(combined_of_one(&Int64Array::from(vec![i64::from(v)])), expected);
            prop_assert_eq!(hash_datetime(i64::from(v)), hash_i64(i64::from(v)));
        }
    }
}
