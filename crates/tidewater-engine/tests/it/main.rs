//! Integration tests of the engine, through its public API on real temp-directory warehouses.

mod alter;
mod concurrency;
mod crash_maintenance;
mod env;
mod fault_store;
mod faults;
mod model;
mod scans;
mod smoke;
mod tunnel;
mod validation;
