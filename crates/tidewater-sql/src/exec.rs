//! [`SplitScanExec`]: the DataFusion execution plan of a table scan (or incremental read).
//!
//! The engine plans a scan of one pinned snapshot as a list of [`tidewater_engine::Split`]s —
//! one per (partition, bucket). Each split becomes one DataFusion partition, so DataFusion runs
//! the buckets' merge-on-read in parallel and every operator above sees one stream per bucket.
//! Past [`MAX_PARTITIONS`] splits, splits are dealt round-robin into that many partitions and a
//! partition runs its splits one after the other (a split's task starts only when the previous
//! one is done), which bounds the number of files open at once.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result as DfResult;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};
use tidewater_engine::{ChangesPlan, RecordBatchStream, ScanPlan};

use crate::error::to_df;

/// Most DataFusion partitions one scan is split into.
pub const MAX_PARTITIONS: usize = 256;

/// Something planned as independent splits: a scan or an incremental read.
pub(crate) trait SplitSource: Send + Sync {
    fn split_count(&self) -> usize;
    fn run_split(&self, i: usize) -> RecordBatchStream;
}

impl SplitSource for ScanPlan {
    fn split_count(&self) -> usize {
        self.splits.len()
    }
    fn run_split(&self, i: usize) -> RecordBatchStream {
        self.execute_split(i)
    }
}

impl SplitSource for ChangesPlan {
    fn split_count(&self) -> usize {
        self.splits.len()
    }
    fn run_split(&self, i: usize) -> RecordBatchStream {
        self.execute_split(i)
    }
}

/// Reads the splits of an engine plan, one DataFusion partition per split (up to
/// [`MAX_PARTITIONS`]).
pub struct SplitScanExec {
    source: Arc<dyn SplitSource>,
    /// Split indices per DataFusion partition.
    groups: Vec<Vec<usize>>,
    schema: SchemaRef,
    description: String,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for SplitScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitScanExec")
            .field("description", &self.description)
            .field("partitions", &self.groups.len())
            .finish()
    }
}

impl SplitScanExec {
    pub(crate) fn new(
        source: Arc<dyn SplitSource>,
        schema: SchemaRef,
        description: String,
    ) -> SplitScanExec {
        let n = source.split_count();
        let parts = n.clamp(1, MAX_PARTITIONS);
        let mut groups = vec![Vec::new(); parts];
        for i in 0..n {
            groups[i % parts].push(i);
        }
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(parts),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        SplitScanExec {
            source,
            groups,
            schema,
            description,
            properties,
        }
    }

    /// Number of engine splits.
    pub fn split_count(&self) -> usize {
        self.source.split_count()
    }
}

impl DisplayAs for SplitScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "SplitScanExec: {}, splits={}, partitions={}",
            self.description,
            self.source.split_count(),
            self.groups.len()
        )
    }
}

impl ExecutionPlan for SplitScanExec {
    fn name(&self) -> &str {
        "SplitScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let splits = self.groups.get(partition).cloned().unwrap_or_default();
        let source = self.source.clone();
        // Lazily: a split's task starts when the stream reaches it.
        let stream = futures::stream::iter(splits)
            .map(move |i| source.run_split(i))
            .flatten()
            .map_err(to_df);
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}
