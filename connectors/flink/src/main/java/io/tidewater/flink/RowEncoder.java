package io.tidewater.flink;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.MapData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.MapType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.TimestampType;
import org.apache.flink.table.types.logical.LocalZonedTimestampType;

/** Turns Flink {@link RowData} into NDJSON block lines, and computes their bucket and partition. */
public final class RowEncoder {
    private static final Pattern DECIMAL = Pattern.compile("DECIMAL\\((\\d+),\\s*(\\d+)\\)");
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private final SinkSpec spec;
    private final ZoneId zone;
    private final RowData.FieldGetter[] data;
    private final RowData.FieldGetter[] partition;
    private final RowData.FieldGetter[] key;
    private final LogicalType[] keyTypes;
    private final int[] keyPrecision;
    private final int[] keyScale;

    public RowEncoder(SinkSpec spec) {
        this.spec = spec;
        this.zone = ZoneId.of(spec.timeZone);
        RowType rt = spec.rowType;
        data = new RowData.FieldGetter[spec.dataFields.length];
        for (int i = 0; i < data.length; i++) {
            data[i] = RowData.createFieldGetter(rt.getTypeAt(spec.dataFields[i]), spec.dataFields[i]);
        }
        partition = new RowData.FieldGetter[spec.partitionFields.length];
        for (int i = 0; i < partition.length; i++) {
            int f = spec.partitionFields[i];
            partition[i] = f < 0 ? null : RowData.createFieldGetter(rt.getTypeAt(f), f);
        }
        key = new RowData.FieldGetter[spec.keyFields.length];
        keyTypes = new LogicalType[key.length];
        keyPrecision = new int[key.length];
        keyScale = new int[key.length];
        for (int i = 0; i < key.length; i++) {
            keyTypes[i] = rt.getTypeAt(spec.keyFields[i]);
            key[i] = RowData.createFieldGetter(keyTypes[i], spec.keyFields[i]);
            Matcher m = DECIMAL.matcher(spec.keyServerTypes[i].toUpperCase(Locale.ROOT));
            if (m.matches()) {
                keyPrecision[i] = Integer.parseInt(m.group(1));
                keyScale[i] = Integer.parseInt(m.group(2));
            }
        }
    }

    static boolean hashable(String serverType) {
        String s = serverType.toUpperCase(Locale.ROOT);
        return !(s.startsWith("ARRAY") || s.startsWith("MAP") || s.startsWith("STRUCT"));
    }

    /** The bucket of a row (0 for standard tables, which have one bucket). */
    public int bucket(RowData row) {
        if (key.length == 0) {
            return 0;
        }
        int sum = 0;
        for (int i = 0; i < key.length; i++) {
            Object v = key[i].getFieldOrNull(row);
            if (v != null) {
                sum += hashKey(i, v);
            }
        }
        return BucketHash.bucketOf(sum ^ (sum >> 8), spec.bucketNum);
    }

    private int hashKey(int i, Object v) {
        String st = spec.keyServerTypes[i].toUpperCase(Locale.ROOT);
        LogicalType t = keyTypes[i];
        switch (t.getTypeRoot()) {
            case TINYINT: return BucketHash.hashLong((Byte) v);
            case SMALLINT: return BucketHash.hashLong((Short) v);
            case INTEGER: return BucketHash.hashLong((Integer) v);
            case BIGINT: return BucketHash.hashLong((Long) v);
            case FLOAT: return BucketHash.hashFloat((Float) v);
            case DOUBLE: return BucketHash.hashDouble((Double) v);
            case BOOLEAN: return BucketHash.hashBoolean((Boolean) v);
            case CHAR:
            case VARCHAR: return BucketHash.hashBytes(v.toString().getBytes(StandardCharsets.UTF_8));
            case BINARY:
            case VARBINARY: return BucketHash.hashBytes((byte[]) v);
            case DATE: return BucketHash.hashDate((Integer) v);
            case DECIMAL: {
                BigDecimal d = ((DecimalData) v).toBigDecimal().setScale(keyScale[i], RoundingMode.HALF_UP);
                return BucketHash.hashDecimal(d.unscaledValue(), keyPrecision[i]);
            }
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE: {
                Instant stored = storedInstant(t, (TimestampData) v, st.equals("DATETIME"));
                if (st.equals("DATETIME")) {
                    return BucketHash.hashDatetime(stored.toEpochMilli());
                }
                return BucketHash.hashTimestamp(stored.getEpochSecond(), stored.getNano());
            }
            default:
                throw new IllegalArgumentException("cannot hash key type " + t);
        }
    }

    /**
     * The instant the server stores. DATETIME columns hold a wall clock (kept as UTC epoch
     * milliseconds): a zone-less value is sent as is, an LTZ value is rendered in the configured
     * zone. TIMESTAMP columns hold an instant: a zone-less value is read in the configured zone.
     */
    private Instant storedInstant(LogicalType t, TimestampData ts, boolean datetime) {
        boolean ltz = t.getTypeRoot() == LogicalTypeRoot.TIMESTAMP_WITH_LOCAL_TIME_ZONE;
        Instant out;
        if (datetime) {
            out = ltz ? ts.toInstant().atZone(zone).toLocalDateTime().toInstant(ZoneOffset.UTC)
                    : ts.toLocalDateTime().toInstant(ZoneOffset.UTC);
            return Instant.ofEpochMilli(Math.floorDiv(out.getEpochSecond() * 1_000_000_000L + out.getNano(),
                    1_000_000L));
        }
        return ltz ? ts.toInstant() : ts.toLocalDateTime().atZone(zone).toInstant();
    }

    /** The row's partition spec ("" for unpartitioned or static-partition sessions). */
    public String partitionSpec(RowData row) {
        if (!spec.dynamicPartitions()) {
            return "";
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < partition.length; i++) {
            if (i > 0) {
                sb.append('/');
            }
            sb.append(spec.partitionNames[i]).append('=').append(partitionValue(row, i));
        }
        return sb.toString();
    }

    private String partitionValue(RowData row, int i) {
        String fixed = spec.fixedPartition.get(spec.partitionNames[i]);
        if (fixed != null) {
            return fixed;
        }
        Object v = partition[i].getFieldOrNull(row);
        return v == null ? spec.defaultPartitionValue : v.toString();
    }

    /** Appends the NDJSON line of a row (with its newline); {@code delete} sends only the key. */
    public void appendLine(StringBuilder out, RowData row, boolean delete) {
        out.append('{');
        boolean first = true;
        for (int i = 0; i < data.length; i++) {
            int f = spec.dataFields[i];
            if (delete && !isKeyField(f)) {
                continue;
            }
            Object v = data[i].getFieldOrNull(row);
            if (v == null) {
                continue;
            }
            if (!first) {
                out.append(',');
            }
            first = false;
            Json.quote(out, spec.dataNames[i]);
            out.append(':');
            writeValue(out, spec.rowType.getTypeAt(f), v, spec.dataServerTypes[i]);
        }
        if (spec.dynamicPartitions()) {
            for (int i = 0; i < partition.length; i++) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                Json.quote(out, spec.partitionNames[i]);
                out.append(':');
                Json.quote(out, partitionValue(row, i));
            }
        }
        if (delete) {
            out.append(first ? "" : ",").append("\"_op\":\"D\"");
        }
        out.append("}\n");
    }

    private boolean isKeyField(int f) {
        for (int k : spec.keyFields) {
            if (k == f) {
                return true;
            }
        }
        return false;
    }

    private void writeValue(StringBuilder out, LogicalType t, Object v, String serverType) {
        switch (t.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
                Json.quote(out, v.toString());
                return;
            case BOOLEAN:
            case TINYINT:
            case SMALLINT:
            case INTEGER:
            case BIGINT:
                out.append(v);
                return;
            case FLOAT:
            case DOUBLE: {
                double d = ((Number) v).doubleValue();
                if (Double.isNaN(d) || Double.isInfinite(d)) {
                    throw new IllegalArgumentException("cannot send " + d + " (NaN/Infinity) as JSON");
                }
                out.append(v);
                return;
            }
            case DECIMAL:
                Json.quote(out, ((DecimalData) v).toBigDecimal().toPlainString());
                return;
            case DATE:
                Json.quote(out, LocalDate.ofEpochDay((Integer) v).toString());
                return;
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE: {
                boolean datetime = serverType != null ? serverType.equalsIgnoreCase("DATETIME")
                        : precision(t) <= 3;
                Json.quote(out, DateTimeFormatter.ISO_INSTANT.format(storedInstant(t, (TimestampData) v, datetime)));
                return;
            }
            case BINARY:
            case VARBINARY: {
                byte[] b = (byte[]) v;
                out.append('"');
                for (byte x : b) {
                    out.append(HEX[(x >> 4) & 0xF]).append(HEX[x & 0xF]);
                }
                out.append('"');
                return;
            }
            case ARRAY: {
                LogicalType et = ((ArrayType) t).getElementType();
                ArrayData a = (ArrayData) v;
                ArrayData.ElementGetter g = ArrayData.createElementGetter(et);
                out.append('[');
                for (int i = 0; i < a.size(); i++) {
                    if (i > 0) {
                        out.append(',');
                    }
                    Object e = g.getElementOrNull(a, i);
                    if (e == null) {
                        out.append("null");
                    } else {
                        writeValue(out, et, e, null);
                    }
                }
                out.append(']');
                return;
            }
            case MAP: {
                MapType mt = (MapType) t;
                MapData m = (MapData) v;
                ArrayData.ElementGetter kg = ArrayData.createElementGetter(mt.getKeyType());
                ArrayData.ElementGetter vg = ArrayData.createElementGetter(mt.getValueType());
                out.append('{');
                for (int i = 0; i < m.size(); i++) {
                    if (i > 0) {
                        out.append(',');
                    }
                    Object k = kg.getElementOrNull(m.keyArray(), i);
                    Json.quote(out, String.valueOf(k));
                    out.append(':');
                    Object e = vg.getElementOrNull(m.valueArray(), i);
                    if (e == null) {
                        out.append("null");
                    } else {
                        writeValue(out, mt.getValueType(), e, null);
                    }
                }
                out.append('}');
                return;
            }
            case ROW: {
                RowType rt = (RowType) t;
                RowData r = (RowData) v;
                out.append('{');
                boolean first = true;
                for (int i = 0; i < rt.getFieldCount(); i++) {
                    Object e = RowData.createFieldGetter(rt.getTypeAt(i), i).getFieldOrNull(r);
                    if (e == null) {
                        continue;
                    }
                    if (!first) {
                        out.append(',');
                    }
                    first = false;
                    Json.quote(out, rt.getFieldNames().get(i));
                    out.append(':');
                    writeValue(out, rt.getTypeAt(i), e, null);
                }
                out.append('}');
                return;
            }
            default:
                throw new IllegalArgumentException("unsupported Flink type " + t);
        }
    }

    private static int precision(LogicalType t) {
        if (t instanceof TimestampType) {
            return ((TimestampType) t).getPrecision();
        }
        if (t instanceof LocalZonedTimestampType) {
            return ((LocalZonedTimestampType) t).getPrecision();
        }
        return 9;
    }
}
