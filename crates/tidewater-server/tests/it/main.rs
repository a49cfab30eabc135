//! End-to-end tests: the real server in-process on `127.0.0.1:0` over a temp-directory
//! warehouse, driven through the real SDK (`tidewater-client`) and raw HTTP.

mod bad_input;
mod env;
mod security;
mod writes;
