#!/usr/bin/env bash
# Tidewater and its peers (delta-rs, DuckDB, Paimon) on the BENCHMARK.md workload, in one run.
#
#   bench/run.sh                 full size (2 M rows) + scaling curve (2/8/32 M rows), release build
#   bench/run.sh --quick         small size, correctness only (CI); results in bench/results/tmp/
#   bench/run.sh --binary PATH   use this tidewater binary instead of building the release one
#   bench/run.sh --help          every option (sizes, --systems, --scaling, ...)
#
# Installs the pinned peers (bench/requirements.txt) into a virtual environment outside the
# repository ($TIDEWATER_BENCH_VENV, default ~/.cache/tidewater-bench-venv), once per change of
# the requirements. Exits 1 when any system answers wrong; never fails on speed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"

binary=""
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --binary=*) binary="${1#--binary=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

venv="${TIDEWATER_BENCH_VENV:-$HOME/.cache/tidewater-bench-venv}"
python="${PYTHON:-python3}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "== creating the virtual environment $venv" >&2
  "$python" -m venv "$venv"
fi
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "== installing the pinned peers into $venv" >&2
  "$venv/bin/pip" install --quiet --upgrade pip >&2 || true
  if ! "$venv/bin/pip" install --quiet -r "$here/requirements.txt" >&2; then
    # One peer that cannot be installed must not stop the others: install what can be.
    echo "== the pinned set did not install as a whole; installing package by package" >&2
    grep -v '^#' "$here/requirements.txt" | while read -r req; do
      [[ -z "$req" ]] && continue
      "$venv/bin/pip" install --quiet "$req" >&2 || echo "!! NOT INSTALLED: $req" >&2
    done
  else
    echo "$want" > "$stamp"
  fi
fi

if [[ -z "$binary" ]]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tidewater-target}"
  echo "== cargo build --release -p tidewater-cli" >&2
  (cd "$repo" && cargo build --release --locked -p tidewater-cli >&2)
  binary="$CARGO_TARGET_DIR/release/tidewater"
fi
[[ -x "$binary" ]] || { echo "run.sh: no tidewater binary at $binary" >&2; exit 2; }

exec "$venv/bin/python" "$here/harness.py" --binary "$binary" "${args[@]}"
