#!/usr/bin/env bash
# Compares the SQLite connector with the sqlite3 shell on the same data:
#   export: sluice source (table -> batches) vs `sqlite3 -csv db 'SELECT * FROM t' > /dev/null`
#   import: sluice sink (batches -> table)   vs `sqlite3 db '.import --csv t.csv t'`
# Usage: src/connectors/sqlite/bench.sh BUILD_DIR [ROWS]   (BUILD_DIR built with SLUICE_BENCH=ON)
set -euo pipefail
build=${1:?usage: bench.sh BUILD_DIR [ROWS]}
rows=${2:-2000000}
tool="$build/src/connectors/sqlite/sqlite_bench"
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 shell" >&2; exit 1; }
dir=$(mktemp -d /tmp/sluice_sqlite_bench_XXXXXX)
trap 'rm -rf "$dir"' EXIT

# Wall-clock seconds of a command (its output discarded).
secs() { local TIMEFORMAT=%R; { time "$@" >/dev/null 2>&1; } 2>&1; }

echo "== import: $rows rows of testing::MixedBatch"
"$tool" write "$dir/a.db" "$rows" 1
sqlite3 -csv "$dir/a.db" 'SELECT * FROM t' > "$dir/t.csv"
schema=$(sqlite3 "$dir/a.db" "SELECT sql FROM sqlite_master WHERE name = 't'")
sqlite3 "$dir/b.db" "PRAGMA journal_mode=wal;" "$schema" >/dev/null
echo "sqlite3 .import: $(secs sqlite3 "$dir/b.db" -cmd 'PRAGMA synchronous=normal' ".import --csv $dir/t.csv t") s"

echo "== export"
for i in 1 2 3; do "$tool" read "$dir/a.db" 1; done
"$tool" read "$dir/a.db" 2
for i in 1 2 3; do echo "sqlite3 -csv: $(secs sqlite3 -csv "$dir/a.db" 'SELECT * FROM t') s"; done
