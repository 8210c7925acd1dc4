#!/usr/bin/env bash
# End-to-end benchmark of the `sluice` binary on embedded endpoints (SQLite,
# parts directories, CSV) against the sqlite3 shell on the same machine and data.
#
#   bench/e2e/embedded.sh                 build (scripts/build.sh release), then 1M and 10M rows
#   BIG=0 bench/e2e/embedded.sh           1M rows only
#   ROWS="200000" bench/e2e/embedded.sh   other sizes (space-separated)
#
# Environment:
#   SLUICE_BUILD_DIR=dir  use this build directory (only `ninja sluice` is run in it)
#                         instead of scripts/build.sh release + build/
#   SKIP_BUILD=1          do not build; use the binary as it is
#   REPEAT=n              runs per measurement at 1M rows (default 3; best run reported)
#   BIG_REPEAT=n          runs per measurement at 10M rows (default 1)
#   BENCH_DIR=dir         where the data goes (default /tmp; ~4 GB free needed for 10M)
#   KEEP=1                keep the data directory
#
# Prints the machine, the exact commands and a Markdown table on stdout. No
# assertions: numbers depend on the machine and on its load (printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

BIG=${BIG:-1}
REPEAT=${REPEAT:-3}
BIG_REPEAT=${BIG_REPEAT:-1}
if [ -n "${ROWS:-}" ]; then
  sizes=($ROWS)
elif [ "$BIG" = 1 ]; then
  sizes=(1000000 10000000)
else
  sizes=(1000000)
fi

# ---------------------------------------------------------------------------
# build and tools

build_log=$(mktemp)
if [ -n "${SLUICE_BUILD_DIR:-}" ]; then
  sluice="$SLUICE_BUILD_DIR/sluice"
  [ "${SKIP_BUILD:-0}" = 1 ] || ninja -C "$SLUICE_BUILD_DIR" sluice >"$build_log" 2>&1 ||
    { cat "$build_log" >&2; echo "build failed" >&2; exit 1; }
else
  sluice="$root/build/sluice"
  [ "${SKIP_BUILD:-0}" = 1 ] || scripts/build.sh release >"$build_log" 2>&1 ||
    { cat "$build_log" >&2; echo "build failed" >&2; exit 1; }
fi
rm -f "$build_log"
[ -x "$sluice" ] || { echo "no sluice binary at $sluice" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 shell (apt-get install sqlite3)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "needs python3" >&2; exit 1; }
TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then
  echo "warning: /usr/bin/time missing (apt-get install time): peak RSS not measured" >&2
  TIME=
fi

work=$(mktemp -d "${BENCH_DIR:-/tmp}/sluice-e2e-bench.XXXXXX")
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$work"' EXIT; fi
# The raw measurements also go next to the data's parent, so a failed report loses nothing.
raw_copy="${BENCH_DIR:-/tmp}/sluice-e2e-bench-last.tsv"
results="$work/results.tsv"
: > "$results"

# measure NAME ROWS CMD... — runs CMD (stdout to $work/out, stderr to $work/err),
# appends "NAME ROWS wall_s maxrss_kb" to the results. Fails loudly if CMD fails.
measure() {
  local name=$1 rows=$2
  shift 2
  local t0 t1 rss=0
  t0=$(date +%s.%N)
  if [ -n "$TIME" ]; then
    "$TIME" -f '%M' -o "$work/rss" "$@" >"$work/out" 2>"$work/err" || {
      echo "FAILED: $*" >&2; cat "$work/err" >&2; exit 1; }
    rss=$(tail -1 "$work/rss")
  else
    "$@" >"$work/out" 2>"$work/err" || { echo "FAILED: $*" >&2; cat "$work/err" >&2; exit 1; }
  fi
  t1=$(date +%s.%N)
  local cmd="$*"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rows" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" "$rss" \
    "${cmd//$work\/$rows/\$DIR}" >>"$results"
}

# extra NAME ROWS KEY VALUE — a figure that is not a timing of a whole command.
extra() { printf '%s\t%s\t%s\t%s\t\n' "$1" "$2" "$3" "$4" >>"$results"; }

# Seconds from "reading started" (the runtime's plan log line) to the first part
# published, from the -v log timestamps (millisecond resolution).
first_part_after_read() {
  python3 - "$1" <<'EOF'
import re, sys, datetime
start = first = None
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"(\S+Z) ", line)
    if not m:
        continue
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")
    if start is None and re.search(r"export: stream .* split", line):
        start = t
    if first is None and "published" in line:
        first = t
print((first - start).total_seconds() * 1000 if start and first else "nan")
EOF
}

stat_of() { python3 -c "import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print('nan' if v is None else v)" "$@"; }

# ---------------------------------------------------------------------------
# machine

echo "# sluice end-to-end benchmark (embedded endpoints)"
echo
echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
echo "- cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
echo "- os: $(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "- disk for data: $(df -h "$work" | awk 'NR==2 {print $1", "$4" free"}')"
echo "- $("$sluice" version | head -1), sqlite3 $(sqlite3 --version | cut -d' ' -f1)"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- runs per measurement: $REPEAT at 1M rows, $BIG_REPEAT at 10M rows; the best (shortest) run is reported"
echo

# ---------------------------------------------------------------------------
# runs

for n in "${sizes[@]}"; do
  reps=$REPEAT
  [ "$n" -ge 5000000 ] && reps=$BIG_REPEAT
  d="$work/$n"
  mkdir -p "$d"
  src="sqlite://$d/src.db?table=t"

  # The source table (demo's mixed types), created by sluice itself.
  measure "gen -> SQLite (create source)" "$n" \
    "$sluice" copy "gen:///?rows=$n&schema=mixed" "$src" -q
  extra "sizes" "$n" "db_bytes" "$(stat -c %s "$d/src.db")"

  # Baseline 1: the sqlite3 shell reading the table as CSV (the single reader's limit).
  for ((i = 0; i < reps; i++)); do
    rm -f "$d/base.csv"
    measure "sqlite3 -csv (baseline)" "$n" \
      sh -c "sqlite3 -csv '$d/src.db' 'SELECT * FROM t' > '$d/base.csv'"
  done
  extra "sizes" "$n" "csv_bytes" "$(stat -c %s "$d/base.csv")"

  # sluice: SQLite -> parts directory.
  for ((i = 0; i < reps; i++)); do
    rm -rf "$d/parts"
    measure "sluice export SQLite -> parts" "$n" \
      "$sluice" export "$src" --to "parts://$d/parts" --stats-json "$d/export.json" -v
    cp "$work/err" "$d/export.log"
    extra "sluice export SQLite -> parts" "$n" "first_part_ms" "$(stat_of "$d/export.json" first_part_ms)"
    extra "sluice export SQLite -> parts" "$n" "first_part_after_read_ms" "$(first_part_after_read "$d/export.log")"
  done
  extra "sizes" "$n" "parts_bytes" "$(du -sb "$d/parts" | cut -f1)"
  extra "sizes" "$n" "parts" "$(ls "$d/parts" | wc -l)"

  # The same without mmap (memory: file pages mapped by the reader count in RSS).
  rm -rf "$d/parts2"
  measure "sluice export SQLite -> parts (mmap_size=0)" "$n" \
    "$sluice" export "$src&mmap_size=0" --to "parts://$d/parts2" -q
  rm -rf "$d/parts2"

  # sluice: parts directory -> SQLite with 1, 2, 4 workers (a fresh database each run).
  for w in 1 2 4; do
    for ((i = 0; i < reps; i++)); do
      rm -f "$d"/dst.db*
      measure "sluice import parts -> SQLite, $w worker(s)" "$n" \
        "$sluice" import "parts://$d/parts" --into "sqlite://$d/dst.db?table=t" --workers "$w" -q
    done
  done
  rows_in=$(sqlite3 "$d/dst.db" "SELECT count(*) FROM t")
  [ "$rows_in" = "$n" ] || { echo "import produced $rows_in rows, expected $n" >&2; exit 1; }
  rm -f "$d"/dst.db*

  # sluice: SQLite -> CSV.
  for ((i = 0; i < reps; i++)); do
    rm -f "$d/x.csv"
    measure "sluice copy SQLite -> CSV" "$n" "$sluice" copy "$src" "file://$d/x.csv" -q
  done
  extra "sizes" "$n" "sluice_csv_bytes" "$(stat -c %s "$d/x.csv")"
  rm -f "$d/x.csv"

  # Baseline 2: the sqlite3 shell loading that CSV (the loader's limit) into a
  # pre-created table with the source's CREATE statement (same declared types,
  # same INTEGER PRIMARY KEY), with the sluice sink's default journal settings
  # (WAL, synchronous=normal). .import runs one transaction.
  create=$(sqlite3 "$d/src.db" "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 't'")
  for ((i = 0; i < reps; i++)); do
    rm -f "$d"/base.db*
    sqlite3 "$d/base.db" "PRAGMA journal_mode=wal;" "$create" >/dev/null
    measure "sqlite3 .import --csv (baseline)" "$n" \
      sqlite3 "$d/base.db" -cmd "PRAGMA synchronous=normal" ".import --csv $d/base.csv t"
  done
  rows_in=$(sqlite3 "$d/base.db" "SELECT count(*) FROM t")
  [ "$rows_in" = "$n" ] || { echo ".import produced $rows_in rows, expected $n" >&2; exit 1; }
  rm -rf "$d"
done

echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
cp "$results" "$raw_copy"
echo

# ---------------------------------------------------------------------------
# report

python3 - "$results" "$sluice" <<'EOF'
import collections, math, sys

rows_by = collections.defaultdict(list)   # (name, n) -> [(wall, rss_kb)]
extra = collections.defaultdict(list)     # (name, n, key) -> [values]
order = []
commands = {}
for line in open(sys.argv[1]):
    name, n, a, b, cmd = line.rstrip("\n").split("\t")
    n = int(n)
    if name == "sizes" or a in ("first_part_ms", "first_part_after_read_ms"):
        extra[(name, n, a)].append(float(b))
        continue
    if (name, n) not in rows_by:
        order.append((name, n))
    rows_by[(name, n)].append((float(a), int(b)))
    commands.setdefault(name, cmd.replace(f"?rows={n}&", "?rows=N&"))

def mb(x):
    return x / 1e6

sizes = sorted({n for _, n in order})
print("MB/s is the table's size as CSV text (the bytes of `sqlite3 -csv` output) per second")
print("of wall time, for every row, so MB/s ratios equal rows/s ratios. Peak RSS is")
print("`/usr/bin/time` \"Maximum resident set size\". Ratio = sluice rows/s / baseline rows/s.")
print()
for n in sizes:
    csv_bytes = extra[("sizes", n, "csv_bytes")][0]
    print(f"### {n:,} rows: database {mb(extra[('sizes', n, 'db_bytes')][0]):.0f} MB, "
          f"CSV {mb(csv_bytes):.0f} MB, parts {mb(extra[('sizes', n, 'parts_bytes')][0]):.0f} MB "
          f"in {int(extra[('sizes', n, 'parts')][0])} files (zstd)")
    print()
    print("| operation | best wall s | rows/s | MB/s | peak RSS MB | ratio |")
    print("|---|---:|---:|---:|---:|---|")
    best = {}
    for name, m in order:
        if m != n:
            continue
        wall, rss = min(rows_by[(name, m)])
        best[name] = wall
    for name, m in order:
        if m != n:
            continue
        runs = rows_by[(name, m)]
        wall, rss = min(runs)
        ratio = ""
        if name.startswith("sluice export") or name.startswith("sluice copy SQLite -> CSV"):
            base = best.get("sqlite3 -csv (baseline)")
            if base:
                ratio = f"{base / wall:.2f}x sqlite3 -csv"
        elif name.startswith("sluice import"):
            base = best.get("sqlite3 .import --csv (baseline)")
            if base:
                ratio = f"{base / wall:.2f}x sqlite3 .import"
        rss_s = f"{rss / 1024:.0f}" if rss else "n/a"
        spread = ""
        if len(runs) > 1:
            spread = f" ({max(r[0] for r in runs):.2f} worst)"
        print(f"| {name} | {wall:.2f}{spread} | {n / wall:,.0f} | {mb(csv_bytes) / wall:.1f} | "
              f"{rss_s} | {ratio} |")
    fp = extra.get(("sluice export SQLite -> parts", n, "first_part_ms"), [])
    fr = extra.get(("sluice export SQLite -> parts", n, "first_part_after_read_ms"), [])
    if fp:
        print()
        print(f"First part (export): `first_part_ms` (from the start of the run, incl. opening "
              f"the source) {min(fp):.0f}..{max(fp):.0f} ms; from reading started (log line "
              f"`export: stream ... split(s)`) to the first part published: "
              f"{min(fr):.0f}..{max(fr):.0f} ms.")
    print()
print("Commands ($DIR = the data directory of one size, N = rows; `sluice` = the binary;")
print("each sluice/sqlite3 command was run under `/usr/bin/time -f %M`):")
print()
for name, cmd in commands.items():
    print(f"- {name}: `{cmd.replace(sys.argv[2], 'sluice')}`")
print()
EOF
