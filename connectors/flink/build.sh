#!/usr/bin/env bash
# Builds target/tidewater-flink-connector.jar with plain javac + jar against the Flink jars of
# PyPI's apache-flink-libraries (installed by install-flink.sh into ~/.cache/tidewater-flink/).
# Usage: build.sh [FLINK_VERSION]   (default: $FLINK_VERSION, else 2.3.0)
set -euo pipefail
cd "$(dirname "$0")"
VERSION=${1:-${FLINK_VERSION:-2.3.0}}
FLINK_LIB=$(./install-flink.sh "$VERSION")
CP=$(ls "$FLINK_LIB"/*.jar | tr '\n' ':')
rm -rf target/classes target/test-classes
mkdir -p target/classes target/test-classes
javac --release 17 -Xlint:-options -nowarn -encoding UTF-8 -cp "$CP" -d target/classes \
  $(find src/main/java -name '*.java')
cp -r src/main/resources/. target/classes/
jar --create --file target/tidewater-flink-connector.jar -C target/classes .
javac --release 17 -nowarn -encoding UTF-8 -cp "$CP:target/classes" -d target/test-classes \
  $(find src/test/java -name '*.java')
echo "built $(pwd)/target/tidewater-flink-connector.jar against Flink $VERSION" >&2
