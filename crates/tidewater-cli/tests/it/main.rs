//! Integration tests of the `tidewater` command: they run the built binary.

mod bench;
mod serve;
mod sql;
