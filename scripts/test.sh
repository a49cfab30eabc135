#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy (warnings are errors), and all
# unit, integration and doc tests. Used by .ci/run; works on a fresh machine with the Rust
# toolchain (cargo, rustfmt, clippy) installed.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
