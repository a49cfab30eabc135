//! Integration tests of the `tidewater` command: they run the built binary.

mod bench;
mod ingest;
mod serve;
mod sql;
