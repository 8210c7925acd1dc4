#!/usr/bin/env bash
# End-to-end benchmark of the `sluice` binary against PostgreSQL and MariaDB,
# with the usual tools as baselines, on the same machine, data and run:
#
#   PG -> PG     sluice copy  vs  pg_dump -t | psql (fresh database)
#                             vs  psql \copy to stdout | psql \copy from stdin (text, and binary)
#   PG -> CSV    sluice copy  vs  psql \copy ... to 'file.csv' csv header
#   MySQL -> PG  sluice copy  vs  pgloader (defaults, and a tuned parallel variant)
#
# The table is TPC-H lineitem-like (bigint keys, integer, numeric(15,2) x4,
# char(1) x2, date x3, char(25), char(10), varchar(44); primary key
# (l_orderkey, l_linenumber)), generated server-side (not timed) with the SAME
# values in PostgreSQL and MariaDB.
#
#   bench/e2e/databases.sh                          10M rows, 3 runs per measurement (~40 min on 2 cores)
#   ROWS=1000000 bench/e2e/databases.sh             1M rows (~5 min)
#   ROWS=200000 REPEAT=1 ONLY=pg2csv bench/e2e/databases.sh
#
# Environment:
#   SLUICE_BIN=path    the binary (default build/sluice; never built by this script)
#   ROWS=n             rows of the table (default 10000000)
#   REPEAT=n           runs per measurement (default 3; the median is reported). Runs
#                      are interleaved (run 1 of every command, then run 2, ...).
#   ONLY="..."         scenarios to run, any of: pg2pg pg2csv my2pg (default: all)
#   WORKERS="..."      sluice --workers values for pg2pg and my2pg (default: "$(nproc) 4";
#                      pg2csv runs with the default, its file sink has one writer)
#   SLUICE_FLAGS="..." extra flags for every sluice run (e.g. "--part-size 8MiB")
#   PGLOADER_TUNED=0   skip the tuned pgloader variant
#   OUT=file           where the Markdown report goes too (default
#                      bench/e2e/results/databases-<date>.md; that directory is git-ignored)
#   BENCH_DIR=dir      where the CSV files go (default /tmp; ~3 GB free for 10M rows; the
#                      servers need ~10 GB more: the source, 3 copies and a dump at once)
#   KEEP=1             keep the generated tables and files
#   SKIP_SERVICES=1    do not run scripts/services.sh up (servers already up elsewhere)
#   SLUICE_PG_PORT, SLUICE_MYSQL_PORT   server ports (defaults 55432, 33306, as services.sh)
#
# Needs psql/pg_dump (PostgreSQL 15 client), the mariadb client, pgloader
# (Debian package `pgloader`), python3, and /usr/bin/time (package `time`) for
# peak RSS. Prints progress on stderr, the report on stdout. Every run is
# checked (row count and checksums of the target against the source); a failed
# command or a mismatch is reported in the table and makes the exit status 1.
set -euo pipefail
caller=$(pwd)
cd "$(dirname "$0")/../.."
root=$(pwd)

ROWS=${ROWS:-10000000}
REPEAT=${REPEAT:-3}
ONLY=${ONLY:-"pg2pg pg2csv my2pg"}
SLUICE_FLAGS=${SLUICE_FLAGS:-}
PGLOADER_TUNED=${PGLOADER_TUNED:-1}
PG_PORT=${SLUICE_PG_PORT:-55432}
MY_PORT=${SLUICE_MYSQL_PORT:-33306}
# Relative paths given by the caller are relative to where it ran us; the defaults to the repo.
if [ -n "${OUT:-}" ]; then [[ $OUT = /* ]] || OUT="$caller/$OUT"
else OUT="$root/bench/e2e/results/databases-$(date -u +%Y-%m-%d-%H%M).md"; fi
if [ -n "${SLUICE_BIN:-}" ]; then sluice=$SLUICE_BIN; [[ $sluice = /* ]] || sluice="$caller/$sluice"
else sluice="$root/build/sluice"; fi
workers=()
for w in ${WORKERS:-$(nproc) 4}; do
  [[ " ${workers[*]-} " = *" $w "* ]] || workers+=("$w")
done
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || { echo "ROWS must be a positive integer" >&2; exit 2; }
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "REPEAT must be a positive integer" >&2; exit 2; }
for s in $ONLY; do
  case $s in pg2pg | pg2csv | my2pg) ;; *) echo "unknown scenario '$s' in ONLY (pg2pg pg2csv my2pg)" >&2; exit 2 ;; esac
done
want() { [[ " $ONLY " = *" $1 "* ]]; }

# Names. The PostgreSQL source and sluice's targets live in their own schema of
# the test database (sluice's ledger goes there too), the pg_dump and pgloader
# targets in their own throwaway databases: all dropped at exit.
PG_DB=sluice_test
MY_DB=sluice_test
SCHEMA=sluice_bench
DUMP_DB=sluice_bench_dump
PGL_DB=sluice_bench_pgloader
PG_URI="postgres://postgres@127.0.0.1:$PG_PORT/$PG_DB"
MY_URI="mysql://root@127.0.0.1:$MY_PORT/$MY_DB"

# ---------------------------------------------------------------------------
# tools and servers

[ -x "$sluice" ] || { echo "no sluice binary at $sluice (set SLUICE_BIN)" >&2; exit 1; }
[ -d /usr/lib/postgresql/15/bin ] && PATH="/usr/lib/postgresql/15/bin:$PATH"
for t in psql pg_dump mariadb python3; do
  command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 1; }
done
if want my2pg && ! command -v pgloader >/dev/null; then
  echo "needs pgloader for the MySQL -> PG baseline (apt-get install pgloader), or ONLY without my2pg" >&2
  exit 1
fi
TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then
  echo "warning: /usr/bin/time missing (apt-get install time): peak RSS not measured" >&2
  TIME=
fi

if [ "${SKIP_SERVICES:-0}" != 1 ]; then
  SLUICE_PG_PORT=$PG_PORT SLUICE_MYSQL_PORT=$MY_PORT scripts/services.sh up postgres mariadb >/dev/null ||
    { echo "scripts/services.sh up postgres mariadb failed (see above)" >&2; exit 1; }
fi

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres)
psql_() { "${PSQL[@]}" "$@"; }
pgq() { local db=$1; shift; psql_ -d "$db" -At "$@"; }
myq() { mariadb --no-defaults -h 127.0.0.1 -P "$MY_PORT" -u root -N -B "$MY_DB" "$@"; }

pgq "$PG_DB" -c "SELECT 1" >/dev/null 2>&1 ||
  { echo "PostgreSQL is not reachable at $PG_URI (scripts/services.sh up postgres)" >&2; exit 1; }
myq -e "SELECT 1" >/dev/null 2>&1 ||
  { echo "MariaDB/MySQL is not reachable at $MY_URI (scripts/services.sh up mariadb)" >&2; exit 1; }

work=$(mktemp -d "${BENCH_DIR:-/tmp}/sluice-db-bench.XXXXXX")
results="$work/results.tsv"
commands="$work/commands.tsv"
: >"$results"
: >"$commands"

cleanup() {
  set +e
  if [ "${KEEP:-0}" != 1 ]; then
    psql_ -d "$PG_DB" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1
    psql_ -d postgres -c "DROP DATABASE IF EXISTS $DUMP_DB" -c "DROP DATABASE IF EXISTS $PGL_DB" >/dev/null 2>&1
    myq -e "SET sql_log_bin = 0; DROP TABLE IF EXISTS lineitem" >/dev/null 2>&1
    rm -rf "$work"
  else
    echo "kept: schema $SCHEMA in $PG_DB, databases $DUMP_DB and $PGL_DB, $MY_DB.lineitem, $work" >&2
  fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# data (not timed)

# The same deterministic values on both servers: 4 lines per order, pseudo-random
# keys, prices and dates from the row number, comments of 10..44 hex characters.
gen_pg() {
  psql_ -d "$PG_DB" -v rows="$ROWS" >/dev/null <<EOF
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS $SCHEMA CASCADE;
CREATE SCHEMA $SCHEMA;
CREATE TABLE $SCHEMA.lineitem (
  l_orderkey bigint NOT NULL, l_partkey bigint NOT NULL, l_suppkey bigint NOT NULL,
  l_linenumber integer NOT NULL, l_quantity numeric(15,2) NOT NULL,
  l_extendedprice numeric(15,2) NOT NULL, l_discount numeric(15,2) NOT NULL,
  l_tax numeric(15,2) NOT NULL, l_returnflag char(1) NOT NULL, l_linestatus char(1) NOT NULL,
  l_shipdate date NOT NULL, l_commitdate date NOT NULL, l_receiptdate date NOT NULL,
  l_shipinstruct char(25) NOT NULL, l_shipmode char(10) NOT NULL, l_comment varchar(44) NOT NULL,
  PRIMARY KEY (l_orderkey, l_linenumber));
INSERT INTO $SCHEMA.lineitem
SELECT (i - 1) / 4 + 1, 1 + (i * 7919) % 2000000, 1 + (i * 104729) % 100000, (i - 1) % 4 + 1,
       1 + i % 50, ((1 + i % 50) * (900 + (i * 31) % 100000 / 100.0))::numeric(15,2),
       (i % 11) / 100.0, (i % 9) / 100.0,
       (ARRAY['A','N','R'])[(1 + i % 3)::int], (ARRAY['F','O'])[(1 + i % 2)::int],
       date '1992-01-02' + ((i * 13) % 2526)::int, date '1992-01-31' + ((i * 17) % 2466)::int,
       date '1992-01-02' + ((i * 13) % 2526 + 1 + i % 30)::int,
       (ARRAY['DELIVER IN PERSON','COLLECT COD','NONE','TAKE BACK RETURN'])[(1 + i % 4)::int],
       (ARRAY['REG AIR','AIR','RAIL','SHIP','TRUCK','MAIL','FOB'])[(1 + i % 7)::int],
       left(md5(i::text) || md5((i + 1)::text), (10 + i % 35)::int)
FROM generate_series(1::bigint, :rows) AS i;
VACUUM (FREEZE, ANALYZE) $SCHEMA.lineitem;
EOF
}

gen_my() {
  # No binlog for this throwaway table (the test server runs with log-bin).
  myq -e "SET sql_log_bin = 0; DROP TABLE IF EXISTS lineitem;
    CREATE TABLE lineitem (
      l_orderkey bigint NOT NULL, l_partkey bigint NOT NULL, l_suppkey bigint NOT NULL,
      l_linenumber integer NOT NULL, l_quantity decimal(15,2) NOT NULL,
      l_extendedprice decimal(15,2) NOT NULL, l_discount decimal(15,2) NOT NULL,
      l_tax decimal(15,2) NOT NULL, l_returnflag char(1) NOT NULL, l_linestatus char(1) NOT NULL,
      l_shipdate date NOT NULL, l_commitdate date NOT NULL, l_receiptdate date NOT NULL,
      l_shipinstruct char(25) NOT NULL, l_shipmode char(10) NOT NULL, l_comment varchar(44) NOT NULL,
      PRIMARY KEY (l_orderkey, l_linenumber)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
  # In transactions of 1M rows (the Sequence engine's seq_A_to_B table).
  local lo hi
  for ((lo = 1; lo <= ROWS; lo += 1000000)); do
    hi=$((lo + 999999 < ROWS ? lo + 999999 : ROWS))
    myq -e "SET sql_log_bin = 0; INSERT INTO lineitem
      SELECT (i - 1) DIV 4 + 1, 1 + (i * 7919) % 2000000, 1 + (i * 104729) % 100000, (i - 1) % 4 + 1,
             1 + i % 50, CAST((1 + i % 50) * (900 + ((i * 31) % 100000) / 100) AS DECIMAL(15,2)),
             (i % 11) / 100, (i % 9) / 100,
             ELT(1 + i % 3, 'A','N','R'), ELT(1 + i % 2, 'F','O'),
             DATE '1992-01-02' + INTERVAL ((i * 13) % 2526) DAY,
             DATE '1992-01-31' + INTERVAL ((i * 17) % 2466) DAY,
             DATE '1992-01-02' + INTERVAL ((i * 13) % 2526 + 1 + i % 30) DAY,
             ELT(1 + i % 4, 'DELIVER IN PERSON','COLLECT COD','NONE','TAKE BACK RETURN'),
             ELT(1 + i % 7, 'REG AIR','AIR','RAIL','SHIP','TRUCK','MAIL','FOB'),
             LEFT(CONCAT(MD5(i), MD5(i + 1)), 10 + i % 35)
      FROM (SELECT seq AS i FROM seq_${lo}_to_${hi}) AS s"
  done
  myq -e "ANALYZE TABLE lineitem" >/dev/null
}

# Checksums: rows | sum(l_orderkey) | sum(partkey+suppkey+linenumber) | sum(l_extendedprice) |
# sum(quantity+discount+tax) | sum of the 3 dates as days | flags and trimmed char(n) lengths |
# sum(char_length(l_comment)) | sum of the first 32 bits of md5(l_comment).
# char(n) is compared trimmed: sluice creates text columns and keeps PostgreSQL's padding,
# MariaDB strips it on read, pgloader keeps char(n).
PG_SUM="count(*) || '|' || sum(l_orderkey) || '|' || sum(l_partkey + l_suppkey + l_linenumber)
  || '|' || sum(l_extendedprice) || '|' || sum(l_quantity + l_discount + l_tax)
  || '|' || sum((l_shipdate - date '1970-01-01') + (l_commitdate - date '1970-01-01')
                + (l_receiptdate - date '1970-01-01'))
  || '|' || sum(ascii(l_returnflag) + ascii(l_linestatus) + char_length(rtrim(l_shipinstruct))
                + char_length(rtrim(l_shipmode)))
  || '|' || sum(char_length(l_comment)) || '|' || sum(('x' || left(md5(l_comment), 8))::bit(32)::bigint)"
MY_SUM="CONCAT_WS('|', count(*), sum(l_orderkey), sum(l_partkey + l_suppkey + l_linenumber),
  sum(l_extendedprice), sum(l_quantity + l_discount + l_tax),
  sum(datediff(l_shipdate, '1970-01-01') + datediff(l_commitdate, '1970-01-01')
      + datediff(l_receiptdate, '1970-01-01')),
  sum(ascii(l_returnflag) + ascii(l_linestatus) + char_length(rtrim(l_shipinstruct))
      + char_length(rtrim(l_shipmode))),
  sum(char_length(l_comment)), sum(CAST(conv(left(md5(l_comment), 8), 16, 10) AS UNSIGNED)))"
pg_sum() { pgq "$1" -c "SELECT $PG_SUM FROM $2"; }

# CSV: rows | sum(l_orderkey) | sum(l_extendedprice) | sum(char_length(l_comment)), the
# matching fields 1, 2, 4, 8 of the checksum (no field of this table holds a comma or quote;
# prices are summed in cents, exactly).
csv_sum() {
  awk -F, 'NR > 1 { n++; k += $1; p = $6; sub(/\./, "", p); c += p; l += length($16) }
           END { printf "%d|%d|%d.%02d|%d\n", n, k, int(c / 100), c % 100, l }' "$1"
}
src_csv_sum() { echo "$src_sum" | awk -F'|' '{ print $1 "|" $2 "|" $4 "|" $8 }'; }

# ---------------------------------------------------------------------------
# measuring

failures=0

# tm LABEL CMD... — runs CMD under /usr/bin/time, its peak RSS (KB) goes to $work/rss.LABEL.
tm() {
  local label=$1
  shift
  if [ -n "$TIME" ]; then "$TIME" -f '%M' -o "$work/rss.$label" "$@"; else "$@"; fi
}

# add_case SCENARIO NAME COMMAND_TEXT PREP RUN CHECK — one measured command: PREP (untimed)
# before every run, RUN timed (its processes wrapped in `tm`), CHECK prints "ok" or what
# differs.
declare -a case_scn case_name case_prep case_run case_check
add_case() {
  case_scn+=("$1")
  case_name+=("$2")
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$commands"
  case_prep+=("$4")
  case_run+=("$5")
  case_check+=("$6")
}

run_cases() {
  local rep i name wall rss check t0 t1 rc f
  for ((rep = 1; rep <= REPEAT; rep++)); do
    for i in "${!case_name[@]}"; do
      name=${case_name[$i]}
      ${case_prep[$i]} >/dev/null
      rm -f "$work"/rss.*
      t0=$(date +%s.%N)
      rc=0
      ${case_run[$i]} >"$work/out" 2>"$work/err" || rc=$?
      t1=$(date +%s.%N)
      wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
      rss=""
      for f in "$work"/rss.*; do
        [ -e "$f" ] || continue
        rss+="${rss:+,}${f##*/rss.}=$(grep -E '^[0-9]+$' "$f" | tail -1 || echo 0)"
      done
      if [ "$rc" != 0 ]; then
        check="FAILED (exit $rc): $(grep -v '^\s*$' "$work/err" | tail -1 | tr '\t' ' ')"
        wall=nan
        failures=$((failures + 1))
        { echo "FAILED: $name (exit $rc); stderr:"; cat "$work/err"; } >&2
      else
        check=$(${case_check[$i]} 2>&1) || check="check failed: $check"
        if [ "$check" != ok ]; then
          failures=$((failures + 1))
          echo "MISMATCH: $name: $check" >&2
        fi
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${case_scn[$i]}" "$name" "$ROWS" "$rep" "$wall" "$rss" \
        "$check" >>"$results"
      printf '[%s %d/%d] %-40s %8s s  %s\n' "${case_scn[$i]}" "$rep" "$REPEAT" "$name" "$wall" "$check" >&2
    done
  done
  case_scn=() case_name=() case_prep=() case_run=() case_check=()
}

expect() { # expect WHAT GOT WANT
  if [ "$2" = "$3" ]; then echo ok; else echo "$1: got $2, source $3"; fi
}

# ---------------------------------------------------------------------------
# machine

report="$work/report.md"
{
  echo "# sluice end-to-end benchmark (databases)"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
  echo "- cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
  echo "- os: $(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "- $("$sluice" version | head -1) ($sluice)"
  echo "- PostgreSQL server $(pgq "$PG_DB" -c 'SHOW server_version'); clients psql $(psql --version | awk '{print $3}'), pg_dump $(pg_dump --version | awk '{print $3}')"
  echo "  (server settings: $(pgq "$PG_DB" -c "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'max_wal_size', 'wal_level')"))"
  echo "- MariaDB server $(myq -e 'SELECT VERSION()') (innodb_buffer_pool_size=$(myq -e 'SELECT @@innodb_buffer_pool_size DIV 1048576')M)"
  if want my2pg; then
    # (read whole: SBCL dies noisily on a closed pipe; --root-dir: it creates that directory)
    pgl_version=$(pgloader --root-dir "$work/pgloader" --version 2>&1 || true)
    echo "- pgloader: ${pgl_version//$'\n'/, } (Debian package $(dpkg-query -W -f='${Version}' pgloader 2>/dev/null || echo '?'))"
  fi
  echo "- rows: $ROWS; runs per measurement: $REPEAT (interleaved); sluice extra flags: ${SLUICE_FLAGS:-none}"
  echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$report"

# ---------------------------------------------------------------------------
# data

echo "generating $ROWS rows in PostgreSQL ($SCHEMA.lineitem) ..." >&2
t0=$SECONDS
gen_pg
src_sum=$(pg_sum "$PG_DB" "$SCHEMA.lineitem")
pg_size=$(pgq "$PG_DB" -c "SELECT pg_size_pretty(pg_table_size('$SCHEMA.lineitem')) || ' table + ' ||
  pg_size_pretty(pg_indexes_size('$SCHEMA.lineitem')) || ' index'")
echo "  $((SECONDS - t0)) s, $pg_size, checksum $src_sum" >&2
[ "${src_sum%%|*}" = "$ROWS" ] || { echo "PostgreSQL source has ${src_sum%%|*} rows, expected $ROWS" >&2; exit 1; }
echo "- PostgreSQL source: $PG_DB.$SCHEMA.lineitem, $pg_size" >>"$report"
if want my2pg; then
  echo "generating $ROWS rows in MariaDB ($MY_DB.lineitem) ..." >&2
  t0=$SECONDS
  gen_my
  my_sum=$(myq -e "SELECT $MY_SUM FROM lineitem")
  my_size=$(myq -e "SELECT CONCAT(ROUND(data_length / 1048576), ' MB data + ', ROUND(index_length / 1048576), ' MB secondary indexes (the primary key is the clustered index)')
    FROM information_schema.tables WHERE table_schema = '$MY_DB' AND table_name = 'lineitem'")
  echo "  $((SECONDS - t0)) s, $my_size, checksum $my_sum" >&2
  # Same generator, same values: the checks below compare every target against $src_sum.
  [ "$my_sum" = "$src_sum" ] ||
    { echo "MariaDB source differs from the PostgreSQL one: $my_sum vs $src_sum" >&2; exit 1; }
  echo "- MariaDB source: $MY_DB.lineitem (InnoDB), $my_size" >>"$report"
fi
echo "- source checksum (both servers): \`$src_sum\`" >>"$report"
echo >>"$report"

sluice_flags=()
read -r -a sluice_flags <<<"$SLUICE_FLAGS"

# ---------------------------------------------------------------------------
# PG -> PG

drop_pg_target() { psql_ -d "$PG_DB" -c "SET client_min_messages = warning" \
  -c "DROP TABLE IF EXISTS $SCHEMA.$1, $SCHEMA._sluice_ledger"; }
fresh_db() { psql_ -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1" \
  -c "CREATE DATABASE $1"; }

if want pg2pg; then
  prep_sluice_pg() { drop_pg_target lineitem_copy; }
  run_sluice_pg() {
    tm sluice "$sluice" copy "$PG_URI?table=$SCHEMA.lineitem" "$PG_URI?table=$SCHEMA.lineitem_copy" -q \
      --workers "$1" ${sluice_flags[@]+"${sluice_flags[@]}"}
  }
  check_sluice_pg() { expect checksum "$(pg_sum "$PG_DB" "$SCHEMA.lineitem_copy")" "$src_sum"; }
  for w in "${workers[@]}"; do
    add_case pg2pg "sluice copy, --workers $w$( [ "$w" = "$(nproc)" ] && echo ' (default)')" \
      "sluice copy '\$PG?table=$SCHEMA.lineitem' '\$PG?table=$SCHEMA.lineitem_copy' -q --workers $w${SLUICE_FLAGS:+ $SLUICE_FLAGS} (fresh target: table and ledger dropped before each run)" \
      prep_sluice_pg "run_sluice_pg $w" check_sluice_pg
  done

  # pg_dump -t: CREATE TABLE, COPY (text) of the data, then ADD PRIMARY KEY, into a fresh
  # database (with the schema pre-created, as pg_dump -t does not dump it).
  prep_dump() { fresh_db "$DUMP_DB"; psql_ -d "$DUMP_DB" -c "CREATE SCHEMA $SCHEMA"; }
  run_dump() {
    tm pg_dump pg_dump -h 127.0.0.1 -p "$PG_PORT" -U postgres -t "$SCHEMA.lineitem" "$PG_DB" |
      tm psql "${PSQL[@]}" -d "$DUMP_DB" >/dev/null
  }
  check_dump() { expect checksum "$(pg_sum "$DUMP_DB" "$SCHEMA.lineitem")" "$src_sum"; }
  add_case pg2pg "pg_dump -t | psql" \
    "pg_dump -t $SCHEMA.lineitem $PG_DB | psql -d $DUMP_DB (fresh database, schema pre-created)" \
    prep_dump run_dump check_dump

  # psql \copy pipes into a pre-created table with the source's columns and primary key.
  prep_copy() { drop_pg_target lineitem_c
    psql_ -d "$PG_DB" -c "CREATE TABLE $SCHEMA.lineitem_c (LIKE $SCHEMA.lineitem INCLUDING ALL)"; }
  run_copy_text() {
    tm psql_out "${PSQL[@]}" -d "$PG_DB" -c "\\copy $SCHEMA.lineitem to stdout" |
      tm psql_in "${PSQL[@]}" -d "$PG_DB" -c "\\copy $SCHEMA.lineitem_c from stdin"
  }
  run_copy_binary() {
    tm psql_out "${PSQL[@]}" -d "$PG_DB" -c "\\copy $SCHEMA.lineitem to stdout (format binary)" |
      tm psql_in "${PSQL[@]}" -d "$PG_DB" -c "\\copy $SCHEMA.lineitem_c from stdin (format binary)"
  }
  check_copy() { expect checksum "$(pg_sum "$PG_DB" "$SCHEMA.lineitem_c")" "$src_sum"; }
  add_case pg2pg "psql \\copy | psql \\copy (text)" \
    "psql -c '\\copy $SCHEMA.lineitem to stdout' | psql -c '\\copy $SCHEMA.lineitem_c from stdin' (target pre-created: LIKE lineitem INCLUDING ALL)" \
    prep_copy run_copy_text check_copy
  add_case pg2pg "psql \\copy | psql \\copy (binary)" \
    "psql -c '\\copy $SCHEMA.lineitem to stdout (format binary)' | psql -c '\\copy $SCHEMA.lineitem_c from stdin (format binary)' (same target)" \
    prep_copy run_copy_binary check_copy
  echo "PG -> PG ..." >&2
  run_cases
  drop_pg_target lineitem_copy >/dev/null
  drop_pg_target lineitem_c >/dev/null
  psql_ -d postgres -c "DROP DATABASE IF EXISTS $DUMP_DB" >/dev/null
fi

# ---------------------------------------------------------------------------
# PG -> CSV

if want pg2csv; then
  prep_sluice_csv() { rm -f "$work/sluice.csv"; }
  prep_psql_csv() { rm -f "$work/psql.csv"; }
  run_sluice_csv() {
    tm sluice "$sluice" copy "$PG_URI?table=$SCHEMA.lineitem" "file://$work/sluice.csv" -q \
      ${sluice_flags[@]+"${sluice_flags[@]}"}
  }
  check_sluice_csv() { expect "CSV rows|orderkey|price|comment" "$(csv_sum "$work/sluice.csv")" "$(src_csv_sum)"; }
  run_psql_csv() { tm psql "${PSQL[@]}" -d "$PG_DB" -c "\\copy $SCHEMA.lineitem to '$work/psql.csv' csv header"; }
  check_psql_csv() { expect "CSV rows|orderkey|price|comment" "$(csv_sum "$work/psql.csv")" "$(src_csv_sum)"; }
  add_case pg2csv "sluice copy -> CSV" \
    "sluice copy '\$PG?table=$SCHEMA.lineitem' file://\$DIR/sluice.csv -q${SLUICE_FLAGS:+ $SLUICE_FLAGS}" \
    prep_sluice_csv run_sluice_csv check_sluice_csv
  add_case pg2csv "psql \\copy to csv" \
    "psql -c \"\\copy $SCHEMA.lineitem to '\$DIR/psql.csv' csv header\"" \
    prep_psql_csv run_psql_csv check_psql_csv
  echo "PG -> CSV ..." >&2
  run_cases
  # Both are the same text in another row order (sluice reads splits in parallel).
  printf 'pg2csv\tbytes\t%s\t%s\n' "$(stat -c %s "$work/sluice.csv" 2>/dev/null || echo 0)" \
    "$(stat -c %s "$work/psql.csv" 2>/dev/null || echo 0)" >>"$work/extra.tsv"
  rm -f "$work/sluice.csv" "$work/psql.csv"
fi

# ---------------------------------------------------------------------------
# MySQL -> PG

if want my2pg; then
  prep_sluice_my() { drop_pg_target lineitem_my; }
  run_sluice_my() {
    tm sluice "$sluice" copy "$MY_URI?table=lineitem" "$PG_URI?table=$SCHEMA.lineitem_my" -q \
      --workers "$1" ${sluice_flags[@]+"${sluice_flags[@]}"}
  }
  check_sluice_my() { expect checksum "$(pg_sum "$PG_DB" "$SCHEMA.lineitem_my")" "$src_sum"; }
  for w in "${workers[@]}"; do
    add_case my2pg "sluice copy, --workers $w$( [ "$w" = "$(nproc)" ] && echo ' (default)')" \
      "sluice copy '\$MY?table=lineitem' '\$PG?table=$SCHEMA.lineitem_my' -q --workers $w${SLUICE_FLAGS:+ $SLUICE_FLAGS} (fresh target: table and ledger dropped before each run)" \
      prep_sluice_my "run_sluice_my $w" check_sluice_my
  done

  # pgloader into a fresh database: it creates schema "$MY_DB" there, the table, then the
  # primary key, and sets that database's search_path (which is why it does not get the
  # shared test database).
  pgl_with_default="include drop, create tables, create indexes, no foreign keys, reset no sequences"
  pgl_with_tuned="$pgl_with_default, workers = 8, concurrency = 4, multiple readers per thread, rows per range = 50000"
  for v in default tuned; do
    [ "$v" = tuned ] && [ "$PGLOADER_TUNED" != 1 ] && continue
    with_var="pgl_with_$v"
    cat >"$work/pgloader-$v.load" <<EOF
LOAD DATABASE
  FROM mysql://root@127.0.0.1:$MY_PORT/$MY_DB
  INTO postgresql://postgres@127.0.0.1:$PG_PORT/$PGL_DB
WITH ${!with_var}
INCLUDING ONLY TABLE NAMES MATCHING 'lineitem';
EOF
  done
  prep_pgl() { fresh_db "$PGL_DB"; rm -rf "$work/pgloader"; }
  run_pgl_default() { tm pgloader pgloader --root-dir "$work/pgloader" "$work/pgloader-default.load"; }
  run_pgl_tuned() { tm pgloader pgloader --root-dir "$work/pgloader" "$work/pgloader-tuned.load"; }
  check_pgl() { expect checksum "$(pg_sum "$PGL_DB" "$MY_DB.lineitem")" "$src_sum"; }
  add_case my2pg "pgloader (defaults)" \
    "pgloader --root-dir \$DIR/pgloader pgloader.load, with: LOAD DATABASE FROM \$MY INTO postgresql://.../$PGL_DB WITH $pgl_with_default INCLUDING ONLY TABLE NAMES MATCHING 'lineitem' (fresh database; pgloader's defaults: workers = 4, concurrency = 1, batch rows = 25000, prefetch rows = 100000)" \
    prep_pgl run_pgl_default check_pgl
  if [ "$PGLOADER_TUNED" = 1 ]; then
    add_case my2pg "pgloader (tuned: 4 readers)" \
      "the same with WITH $pgl_with_tuned" \
      prep_pgl run_pgl_tuned check_pgl
  fi
  echo "MySQL -> PG ..." >&2
  run_cases
  drop_pg_target lineitem_my >/dev/null
  psql_ -d postgres -c "DROP DATABASE IF EXISTS $PGL_DB" >/dev/null
fi

# ---------------------------------------------------------------------------
# report

echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$report"
echo >>"$report"
[ -e "$work/extra.tsv" ] || : >"$work/extra.tsv"
python3 bench/e2e/db_report.py "$results" "$commands" "$work/extra.tsv" >>"$report"
mkdir -p "$(dirname "$OUT")"
case $OUT in "$root"/bench/e2e/results/*) [ -e bench/e2e/results/.gitignore ] || echo '*' >bench/e2e/results/.gitignore ;; esac
cp "$report" "$OUT"
cp "$results" "${OUT%.md}.tsv"
cat "$report"
echo "report written to $OUT (raw runs: ${OUT%.md}.tsv)" >&2
if [ "$failures" != 0 ]; then
  echo "$failures run(s) failed or did not match the source (see the check column)" >&2
  exit 1
fi
