#!/usr/bin/env bash
# Installs the Flink jars of PyPI's apache-flink-libraries (the jars of its lib/ directory only:
# pyflink/lib in wheels, deps/lib in source archives) into a git-ignored cache directory and
# prints that directory.
# Usage: install-flink.sh [VERSION]   (default: $FLINK_VERSION, else 2.3.0)
set -euo pipefail
VERSION=${1:-${FLINK_VERSION:-2.3.0}}
CACHE=${TIDEWATER_FLINK_CACHE:-$HOME/.cache/tidewater-flink}
DEST=$CACHE/$VERSION
if [ -f "$DEST/.complete" ]; then echo "$DEST"; exit 0; fi
mkdir -p "$CACHE"
TMP=$(mktemp -d "$CACHE/.download.XXXXXX")
trap 'rm -rf "$TMP" "$DEST.partial"' EXIT
echo "installing the Flink $VERSION jars into $DEST (pip download apache-flink-libraries==$VERSION)" >&2
# Wheels exist for 2.2.0 and later; older versions come as a source archive (not built here).
python3 -m pip download --quiet --no-deps --dest "$TMP" "apache-flink-libraries==$VERSION" >&2
ARCHIVE=$(ls "$TMP"/apache[-_]flink[-_]libraries-* | head -n1)
rm -rf "$DEST.partial"; mkdir -p "$DEST.partial"
python3 - "$ARCHIVE" "$DEST.partial" <<'PY'
import os, shutil, sys, tarfile, zipfile
archive, dest = sys.argv[1], sys.argv[2]
def wanted(name):
    parts = name.split("/")
    return name.endswith(".jar") and len(parts) >= 2 and parts[-2] == "lib" and (
        name.startswith("pyflink/lib/") or "/deps/lib/" in name)
n = 0
if archive.endswith(".whl") or archive.endswith(".zip"):
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            if wanted(name):
                with z.open(name) as src, open(os.path.join(dest, os.path.basename(name)), "wb") as out:
                    shutil.copyfileobj(src, out)
                n += 1
else:
    with tarfile.open(archive) as t:
        for m in t:
            if m.isfile() and wanted(m.name):
                with t.extractfile(m) as src, open(os.path.join(dest, os.path.basename(m.name)), "wb") as out:
                    shutil.copyfileobj(src, out)
                n += 1
if n == 0:
    sys.exit("no Flink jars found in " + archive)
PY
rm -rf "$DEST"; mv "$DEST.partial" "$DEST"
touch "$DEST/.complete"
echo "$DEST"
