//! Reading data files from the object store, with a bounded cache of Parquet footers (data files
//! are immutable, so a cached footer never goes stale).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

const FOOTER_CACHE: usize = 4096;

/// Footers of recently read files, shared by the scans of one table.
#[derive(Debug, Default)]
pub(crate) struct FooterCache {
    map: Mutex<HashMap<String, Arc<ParquetMetaData>>>,
}

impl FooterCache {
    fn get(&self, path: &str) -> Option<Arc<ParquetMetaData>> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned()
    }

    fn put(&self, path: &str, m: Arc<ParquetMetaData>) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= FOOTER_CACHE {
            map.clear();
        }
        map.insert(path.to_string(), m);
    }
}

pub(crate) struct DataFileReader {
    pub store: Arc<dyn ObjectStore>,
    pub path: Path,
    pub size: u64,
    pub footers: Arc<FooterCache>,
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for DataFileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.store
            .get_range(&self.path, range)
            .map_err(external)
            .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let key = self.path.to_string();
            if let Some(m) = self.footers.get(&key) {
                return Ok(m);
            }
            let size = self.size;
            let m = Arc::new(
                ParquetMetaDataReader::new()
                    .with_arrow_reader_options(options)
                    .load_and_finish(&mut *self, size)
                    .await?,
            );
            self.footers.put(&key, m.clone());
            Ok(m)
        }
        .boxed()
    }
}
