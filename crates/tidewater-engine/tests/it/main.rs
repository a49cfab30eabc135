//! Integration tests of the engine, through its public API on real temp-directory warehouses.

mod env;
mod smoke;
