package io.tidewater.flink;

import java.util.List;
import java.util.Set;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.logical.RowType;

/** {@code 'connector' = 'tidewater'}: registered through META-INF/services. */
public final class TidewaterDynamicTableFactory implements DynamicTableSinkFactory {
    public static final String IDENTIFIER = "tidewater";

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return TidewaterOptions.required();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return TidewaterOptions.optional();
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        helper.validate(); // unknown options and badly typed values fail here, naming the option
        ReadableConfig options = helper.getOptions();
        ResolvedSchema schema = context.getCatalogTable().getResolvedSchema();
        RowType rowType = (RowType) context.getPhysicalRowDataType().getLogicalType();
        List<String> pk = schema.getPrimaryKey().map(k -> k.getColumns()).orElse(null);
        String name = context.getObjectIdentifier().asSummaryString();
        try {
            SinkSpec.Builder b = SinkSpec.Builder.fromOptions(options).rowType(rowType).primaryKey(pk);
            SinkSpec spec = b.build(); // describes the table: bucket count, columns and key checked at start
            return new TidewaterDynamicTableSink(name, b, spec);
        } catch (IllegalArgumentException e) {
            throw new ValidationException("Tidewater sink for '" + name + "': " + e.getMessage(), e);
        }
    }
}
