package io.tidewater.flink;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;

/**
 * The frozen bucket hash (MaxCompute "default" hasher), ported from
 * {@code crates/tidewater-format/src/hash.rs}. Every output must stay bit-identical: the server
 * rejects rows sent to another bucket than this function computes.
 */
public final class BucketHash {
    static final int TRUE_HASH = 0x172BA9C7;
    static final int FALSE_HASH = -0x3A59CB12;
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    private BucketHash() {}

    /** Integers of every width: Thomas Wang's 64-to-32-bit hash on the signed value. */
    public static int hashLong(long v) {
        long h = ~v + (v << 18);
        h ^= h >> 31;
        h *= 21;
        h ^= h >> 11;
        h += h << 6;
        h ^= h >> 22;
        return (int) h;
    }

    public static int hashFloat(float v) {
        return hashLong(Float.floatToIntBits(v)); // canonical NaN, sign-extended like the Rust port
    }

    public static int hashDouble(double v) {
        return hashLong(Double.doubleToLongBits(v));
    }

    public static int hashBoolean(boolean v) {
        return v ? TRUE_HASH : FALSE_HASH;
    }

    /** Jenkins one-at-a-time over the bytes taken as signed chars. */
    public static int hashBytes(byte[] bytes) {
        int h = 0;
        for (byte b : bytes) {
            h += b;
            h += h << 10;
            h ^= h >> 6;
        }
        h += h << 3;
        h ^= h >> 11;
        h += h << 15;
        return h;
    }

    public static int hashString(String s) {
        return hashBytes(s.getBytes(StandardCharsets.UTF_8));
    }

    /** DATE as days since the epoch: the hash of the epoch seconds of its UTC midnight. */
    public static int hashDate(int daysSinceEpoch) {
        return hashLong((long) daysSinceEpoch * 86_400L);
    }

    /** DATETIME: the hash of the epoch milliseconds. */
    public static int hashDatetime(long epochMillis) {
        return hashLong(epochMillis);
    }

    /** TIMESTAMP: the hash of {@code (floor seconds << 30) | nanos of second}. */
    public static int hashTimestamp(long epochSeconds, int nanoOfSecond) {
        return hashLong((epochSeconds << 30) | nanoOfSecond);
    }

    public static int hashTimestampNanos(long epochNanos) {
        return hashTimestamp(Math.floorDiv(epochNanos, NANOS_PER_SECOND),
                (int) Math.floorMod(epochNanos, NANOS_PER_SECOND));
    }

    /** DECIMAL: the unscaled value at the column's declared scale; 128-bit rule above 18 digits. */
    public static int hashDecimal(BigInteger unscaled, int precision) {
        int low = hashLong(unscaled.longValue());
        if (precision > 18) {
            return low + hashLong(unscaled.shiftRight(64).longValue());
        }
        return low;
    }

    /** Wrapping sum of the column hashes (NULL keys contribute 0), then {@code h ^ (h >> 8)}. */
    public static int combine(int... columnHashes) {
        int h = 0;
        for (int c : columnHashes) {
            h += c;
        }
        return h ^ (h >> 8);
    }

    public static int bucketOf(int combined, int bucketCount) {
        return Math.floorMod(combined, bucketCount);
    }
}
