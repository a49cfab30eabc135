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

echo "== bench/run.sh --quick (the workload on Tidewater and its peers: correctness only, never speed)"
# Uses the debug binary `cargo test` just built: a release build would add many minutes to CI.
./bench/run.sh --quick --binary "${CARGO_TARGET_DIR:-target}/debug/tidewater"

echo "== Flink connector (connectors/flink/test.sh: installs the Flink jars on first use)"
./connectors/flink/test.sh
