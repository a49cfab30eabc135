#!/usr/bin/env bash
# Real-Flink tests of the connector: builds it (installing the Flink jars on first use), starts a
# `tidewater serve` on a temporary warehouse and a free port, and runs the scenarios on a local
# MiniCluster in one JVM. Prints `N passed, N failed`; exits non-zero on failure.
# Usage: test.sh [FILTER]   (FLINK_VERSION=2.2.0 test.sh runs against another Flink 2.x;
#        TIDEWATER_BIN=path uses that server binary instead of $CARGO_TARGET_DIR/debug/tidewater)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
VERSION=${FLINK_VERSION:-2.3.0}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${TIDEWATER_BIN:-$CARGO_TARGET_DIR/debug/tidewater}
if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build -p tidewater-cli)
fi
./build.sh "$VERSION"
FLINK_LIB=$(./install-flink.sh "$VERSION")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tidewater-flink-test.XXXXXX")
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
export TIDEWATER_ACCESS_ID=TWflinktest TIDEWATER_ACCESS_KEY=flink-test-secret-$RANDOM$RANDOM
"$BIN" serve --warehouse "$WORK/warehouse" --listen 127.0.0.1:0 >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
URL=
for _ in $(seq 1 300); do
  URL=$(sed -n '1s/^listening on //p' "$WORK/server.out" 2>/dev/null || true)
  [ -n "$URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; echo "tidewater serve exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$URL" ] || { echo "tidewater serve did not print its address" >&2; exit 1; }
echo "== Flink $VERSION connector tests against $URL"

cat >"$WORK/log4j2.properties" <<LOG
rootLogger.level = ERROR
rootLogger.appenderRef.console.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss,SSS} %-5p %c{1} - %m%n
logger.tidewater.name = io.tidewater
logger.tidewater.level = ${TIDEWATER_FLINK_LOG:-ERROR}
LOG
CP="target/test-classes:target/tidewater-flink-connector.jar:$(ls "$FLINK_LIB"/*.jar | tr '\n' ':')"
set +e
timeout 900 java -Xmx1g -XX:+UseSerialGC -Dlog4j.configurationFile="$WORK/log4j2.properties" \
  --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/java.util=ALL-UNNAMED \
  -cp "$CP" io.tidewater.flink.ConnectorTests "$URL" "$@" 2>"$WORK/java.err"
RC=$?
set -e
if [ -n "${TIDEWATER_FLINK_LOG:-}" ]; then cat "$WORK/java.err" >&2; fi
if [ $RC -ne 0 ]; then
  echo "--- JVM stderr (last 40 lines)" >&2; tail -n 40 "$WORK/java.err" >&2
  echo "--- server stderr (last 20 lines)" >&2; tail -n 20 "$WORK/server.err" >&2
fi
exit $RC
