//! Integration tests of tidewater-sql: the sqllogictest files (`slt`) and behaviour that needs
//! Rust to observe — commit times, plans, files on disk (`sql`).

mod slt;
mod sql;
