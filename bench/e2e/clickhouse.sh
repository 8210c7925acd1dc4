#!/usr/bin/env bash
# End-to-end benchmark of the `sluice` binary against ClickHouse (issue 6, item 7), with the
# usual shell pipes as baselines, on the same machine, data and run:
#
#   pg2ch   PostgreSQL -> ClickHouse  sluice copy (the sink creates the table; on 18.16 its
#                                     exactly-once path is the part ledger)
#                                 vs  psql \copy ... to stdout | clickhouse-client INSERT ...
#                                     FORMAT TabSeparated, into a pre-created MergeTree table
#   ch2csv  ClickHouse -> CSV file    sluice copy clickhouse://...?table=T file:///.../x.csv
#                                 vs  clickhouse-client --query "SELECT * FROM T FORMAT
#                                     CSVWithNames" > x.csv
#
# The table is the TPC-H lineitem-like table of bench/e2e/databases.sh (bigint keys, integer,
# numeric(15,2) x4, char(1) x2, date x3, char(25), char(10), varchar(44); primary key
# (l_orderkey, l_linenumber)), generated in PostgreSQL (not timed). The ClickHouse source of
# ch2csv is that table loaded once by the shell pipe (not timed): the table a user made by hand,
# with native Date and Decimal columns.
#
#   bench/e2e/clickhouse.sh                                   10M rows, 3 interleaved runs
#   ROWS=1000000 bench/e2e/clickhouse.sh                      1M rows (~3 min on 2 cores)
#   ROWS=100000 REPEAT=1 bench/e2e/clickhouse.sh              smoke test (~30 s)
#   ROWS=1000000 VARIANTS="--workers 4;--dst-opt compression=none" ONLY=pg2ch bench/e2e/clickhouse.sh
#
# Environment:
#   SLUICE_BIN=path    the binary (default build/sluice; never built by this script)
#   ROWS=n             rows of the table (default 10000000)
#   REPEAT=n           runs per measurement (default 3; the median is reported). Runs are
#                      interleaved (run 1 of every command, then run 2, ...).
#   ONLY="..."         scenarios, any of: pg2ch ch2csv (default: both)
#   VARIANTS="a;b"     more sluice pg2ch runs besides the one with defaults: each item is a set
#                      of extra flags (default: the variants below; "" = none):
#                        --part-size 2MiB             (the runtime's chunk size, not the sink's 16 MiB)
#                        --dst-opt format=rowbinary   (rows instead of Native blocks)
#                        --dst-opt dedup=none         (at-least-once: no ledger, no hidden columns)
#   CSV_VARIANTS="a;b" the same for ch2csv (default: none), e.g. "--workers 4;--src-opt threads=2"
#   SLUICE_FLAGS="..." extra flags for every sluice run (e.g. "--part-size 8MiB")
#   OUT=file           the Markdown report (default bench/e2e/results/clickhouse-<date>.md; that
#                      directory is git-ignored; the raw runs go next to it as .tsv)
#   BENCH_DIR=dir      parent of the scratch directory (default /tmp): two CSV files of
#                      ~150 bytes per row each (10M rows: ~3 GB)
#   KEEP=1             keep the databases and files
#   SKIP_SERVICES=1    do not run scripts/services.sh up postgres clickhouse
#   TIMEOUT=s          a process that runs longer is killed, the run reported failed (default 1800)
#   SLUICE_PG_PORT, SLUICE_CLICKHOUSE_PORT, SLUICE_CLICKHOUSE_TCP_PORT   ports (defaults 55432,
#                      58123 (HTTP, sluice), 59000 (native, clickhouse-client), as services.sh)
#
# Needs psql (PostgreSQL 15 client), clickhouse-client, python3, GNU time at /usr/bin/time (peak
# RSS). The data lives in a PostgreSQL database and a ClickHouse database of their own
# (sluice_ch_bench_<pid>), dropped at exit. Every run is checked: row count and checksums of the
# ClickHouse table against PostgreSQL's, and for CSV the row count, checksums and a digest of
# the sorted, unquoted lines against the other method's file. A failure or mismatch is reported
# in the table and makes the exit status 1. Progress on stderr, the report on stdout.
set -Eeuo pipefail
trap 'echo "clickhouse.sh: stopped at line $LINENO: $BASH_COMMAND" >&2' ERR
caller=$(pwd)
cd "$(dirname "$0")/../.."
root=$(pwd)

ROWS=${ROWS:-10000000}
REPEAT=${REPEAT:-3}
ONLY=${ONLY:-"pg2ch ch2csv"}
VARIANTS=${VARIANTS-"--part-size 2MiB;--dst-opt format=rowbinary;--dst-opt dedup=none"}
CSV_VARIANTS=${CSV_VARIANTS:-}
SLUICE_FLAGS=${SLUICE_FLAGS:-}
TIMEOUT=${TIMEOUT:-1800}
PG_PORT=${SLUICE_PG_PORT:-55432}
CH_PORT=${SLUICE_CLICKHOUSE_PORT:-58123}
CH_TCP_PORT=${SLUICE_CLICKHOUSE_TCP_PORT:-59000}
if [ -n "${OUT:-}" ]; then [[ $OUT = /* ]] || OUT="$caller/$OUT"
else OUT="$root/bench/e2e/results/clickhouse-$(date -u +%Y-%m-%d-%H%M).md"; fi
if [ -n "${SLUICE_BIN:-}" ]; then sluice=$SLUICE_BIN; [[ $sluice = /* ]] || sluice="$caller/$sluice"
else sluice="$root/build/sluice"; fi
for v in ROWS REPEAT TIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer" >&2; exit 2; }
done
for s in $ONLY; do
  case $s in pg2ch | ch2csv) ;; *) echo "unknown scenario '$s' in ONLY (pg2ch ch2csv)" >&2; exit 2 ;; esac
done
want() { [[ " $ONLY " = *" $1 "* ]]; }

DB=sluice_ch_bench_$$          # the PostgreSQL database and the ClickHouse database
PG_URI="postgres://postgres@127.0.0.1:$PG_PORT/$DB"
CH_URI="clickhouse://default@127.0.0.1:$CH_PORT/$DB"

# ---------------------------------------------------------------------------
# tools and servers

[ -x "$sluice" ] || { echo "no sluice binary at $sluice (set SLUICE_BIN)" >&2; exit 1; }
[ -d /usr/lib/postgresql/15/bin ] && PATH="/usr/lib/postgresql/15/bin:$PATH"
for t in psql clickhouse-client python3 timeout; do
  command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 1; }

if [ "${SKIP_SERVICES:-0}" != 1 ]; then
  SLUICE_PG_PORT=$PG_PORT SLUICE_CLICKHOUSE_PORT=$CH_PORT SLUICE_CLICKHOUSE_TCP_PORT=$CH_TCP_PORT \
    scripts/services.sh up postgres clickhouse >/dev/null ||
    { echo "scripts/services.sh up postgres clickhouse failed (see above)" >&2; exit 1; }
fi

PSQL=(env PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres)
pgq() { "${PSQL[@]}" -d "$DB" -At "$@"; }
CHC=(clickhouse-client --host 127.0.0.1 --port "$CH_TCP_PORT")
chq() { "${CHC[@]}" --query "$1"; }

"${PSQL[@]}" -d postgres -At -c "SELECT 1" >/dev/null 2>&1 ||
  { echo "PostgreSQL is not reachable on port $PG_PORT (scripts/services.sh up postgres)" >&2; exit 1; }
chq "SELECT 1" >/dev/null 2>&1 ||
  { echo "ClickHouse is not reachable on port $CH_TCP_PORT (scripts/services.sh up clickhouse)" >&2; exit 1; }

work=$(mktemp -d "${BENCH_DIR:-/tmp}/sluice-ch-bench.XXXXXX")
results="$work/results.tsv"
commands="$work/commands.tsv"
extra="$work/extra.tsv"
: >"$results"
: >"$commands"
: >"$extra"

cleanup() {
  set +e
  if [ "${KEEP:-0}" != 1 ]; then
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
    chq "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
    rm -rf "$work"
  else
    echo "kept: PostgreSQL database $DB, ClickHouse database $DB, $work" >&2
  fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# data (not timed)

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
chq "DROP DATABASE IF EXISTS $DB"
chq "CREATE DATABASE $DB"

# The same generator as databases.sh and brokers.sh.
gen_pg() {
  "${PSQL[@]}" -d "$DB" -v rows="$ROWS" >/dev/null <<'EOF'
CREATE TABLE lineitem (
  l_orderkey bigint NOT NULL, l_partkey bigint NOT NULL, l_suppkey bigint NOT NULL,
  l_linenumber integer NOT NULL, l_quantity numeric(15,2) NOT NULL,
  l_extendedprice numeric(15,2) NOT NULL, l_discount numeric(15,2) NOT NULL,
  l_tax numeric(15,2) NOT NULL, l_returnflag char(1) NOT NULL, l_linestatus char(1) NOT NULL,
  l_shipdate date NOT NULL, l_commitdate date NOT NULL, l_receiptdate date NOT NULL,
  l_shipinstruct char(25) NOT NULL, l_shipmode char(10) NOT NULL, l_comment varchar(44) NOT NULL,
  PRIMARY KEY (l_orderkey, l_linenumber));
INSERT INTO lineitem
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
VACUUM (FREEZE, ANALYZE) lineitem;
EOF
}

# Checksums, computed alike by PostgreSQL and ClickHouse: rows | sum(l_orderkey) |
# sum(partkey+suppkey+linenumber) | sum(l_extendedprice) | sum(quantity+discount+tax) | sum of
# the 3 dates as days since 1970-01-01 | sum of the text lengths (char(n) trimmed) | sum of the
# first 32 bits of md5(the 5 texts, char(n) trimmed, concatenated).
# char(n) is compared trimmed: sluice and psql's text both keep PostgreSQL's padding, but a
# user's String columns need not. In ClickHouse the sluice table (18.16) holds dates as Int32
# days and the hand-made one as Date: toInt64() gives days for both; its hidden ledger columns
# are not summed, and every row counts (a duplicated or void attempt's rows would show).
PG_SUM="count(*) || '|' || sum(l_orderkey) || '|' || sum(l_partkey + l_suppkey + l_linenumber)
  || '|' || sum(l_extendedprice) || '|' || sum(l_quantity + l_discount + l_tax)
  || '|' || sum((l_shipdate - date '1970-01-01') + (l_commitdate - date '1970-01-01')
                + (l_receiptdate - date '1970-01-01'))
  || '|' || sum(char_length(l_returnflag) + char_length(l_linestatus) + char_length(rtrim(l_shipinstruct))
                + char_length(rtrim(l_shipmode)) + char_length(l_comment))
  || '|' || sum(('x' || left(md5(l_returnflag || l_linestatus || rtrim(l_shipinstruct)
                || rtrim(l_shipmode) || l_comment), 8))::bit(32)::bigint)"
rt() { echo "replaceRegexpOne($1, ' +\$', '')"; }   # 18.16 has no trimRight
CH_SUM="count(), sum(l_orderkey), sum(l_partkey + l_suppkey + l_linenumber),
  sum(l_extendedprice), sum(l_quantity + l_discount + l_tax),
  sum(toInt64(l_shipdate) + toInt64(l_commitdate) + toInt64(l_receiptdate)),
  sum(lengthUTF8(l_returnflag) + lengthUTF8(l_linestatus) + lengthUTF8($(rt l_shipinstruct))
      + lengthUTF8($(rt l_shipmode)) + lengthUTF8(l_comment)),
  sum(reinterpretAsUInt32(reverse(unhex(substring(hex(MD5(concat(l_returnflag, l_linestatus,
      $(rt l_shipinstruct), $(rt l_shipmode), l_comment))), 1, 8)))))"
pg_sum() { pgq -c "SELECT $PG_SUM FROM $1" 2>&1; }
# (TabSeparated, joined here: 18.16's toString() of a Decimal128 is garbled)
ch_sum() { chq "SELECT $CH_SUM FROM $DB.$1 FORMAT TabSeparated" 2>&1 | tr '\t' '|'; }

# CSV: rows | sum(l_orderkey) | sum(l_extendedprice) in cents | sum of the comment lengths, the
# matching fields 1, 2, 4 and a part of 7 of the checksum (no field of this table holds a comma
# or a quote, so quotes are dropped and lines split at commas). Prices are summed exactly.
csv_sum() {
  awk -F, 'NR > 1 { gsub(/"/, ""); n++; k += $1; p = $6; sub(/\./, "", p); c += p; l += length($16) }
           END { printf "%d|%d|%d.%02d|%d\n", n, k, int(c / 100), c % 100, l }' "$1"
}
src_csv_sum() { pgq -c "SELECT count(*) || '|' || sum(l_orderkey) || '|' || sum(l_extendedprice)
  || '|' || sum(char_length(l_comment)) FROM lineitem"; }
# Content digest of a CSV file independent of row order and quoting: the sorted lines without
# quotes (both are the same text otherwise, which is what this checks).
csv_digest() { tr -d '"' <"$1" | LC_ALL=C sort -S 25% -T "$work" | md5sum | cut -d' ' -f1; }

# ---------------------------------------------------------------------------
# measuring

failures=0
sflags=()
read -r -a sflags <<<"$SLUICE_FLAGS"

# tm LABEL CMD... — runs CMD under `timeout` and /usr/bin/time -v; its report goes to
# $work/time.LABEL (peak RSS, CPU).
tm() {
  local label=$1
  shift
  /usr/bin/time -v -o "$work/time.$label" timeout "$TIMEOUT" "$@"
}
time_field() { sed -n "s/^\s*$2: //p" "$1" 2>/dev/null | tail -1; }
# CPU seconds (user + system) the ClickHouse server has used so far: the work sluice's
# RowBinary inserts, its ledger and the merges cost there (the server is shared: other users'
# queries count too). Empty when the server's pid is unknown.
ch_pid=$(cat "${SLUICE_SERVICES_DIR:-/tmp/sluice-services}/clickhouse/clickhouse.pid" 2>/dev/null ||
  pgrep -o -x clickhouse-server || true)
ch_cpu() {
  [ -n "$ch_pid" ] && [ -r "/proc/$ch_pid/stat" ] || return 0
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$ch_pid/stat"
}

# Waits (up to 120 s) until the server runs no merge: a run's background merges go on after it
# ends and would otherwise land in the next case's wall time and server CPU (each case would pay
# for the one before it).
settle_merges() {
  local i
  for ((i = 0; i < 600; i++)); do
    [ "$(chq "SELECT count() FROM system.merges" 2>/dev/null)" = 0 ] && return 0
    sleep 0.2
  done
  echo "warning: merges still running after 120 s" >&2
}

# add_case SCENARIO NAME COMMAND_TEXT PREP RUN CHECK — one measured command: PREP (untimed)
# before every run, RUN timed (its processes wrapped in `tm`), CHECK prints "ok" or what differs.
declare -a case_scn case_name case_prep case_run case_check
add_case() {
  case_scn+=("$1")
  case_name+=("$2")
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$commands"
  case_prep+=("$4")
  case_run+=("$5")
  case_check+=("$6")
}

# results.tsv: scenario, name, rows, run, wall s, label=peak RSS KB,..., label=user+sys CPU s,...,
# ClickHouse server CPU s during the run, check
run_cases() {
  local rep i name wall rss cpu check t0 t1 rc f label kb u s c0 c1 srv
  for ((rep = 1; rep <= REPEAT; rep++)); do
    for i in "${!case_name[@]}"; do
      name=${case_name[$i]}
      ${case_prep[$i]} >/dev/null
      settle_merges
      rm -f "$work"/time.*
      c0=$(ch_cpu)
      t0=$(date +%s.%N)
      rc=0
      ${case_run[$i]} >"$work/out" 2>"$work/err" || rc=$?
      t1=$(date +%s.%N)
      c1=$(ch_cpu)
      srv=$(awk -v a="$c0" -v b="$c1" 'BEGIN { if (a == "" || b == "") print "nan"; else printf "%.2f", b - a }')
      wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
      rss="" cpu=""
      for f in "$work"/time.*; do
        [ -e "$f" ] || continue
        label=${f##*/time.}
        kb=$(time_field "$f" "Maximum resident set size (kbytes)")
        u=$(time_field "$f" "User time (seconds)")
        s=$(time_field "$f" "System time (seconds)")
        rss+="${rss:+,}$label=${kb:-0}"
        cpu+="${cpu:+,}$label=$(awk -v u="${u:-0}" -v s="${s:-0}" 'BEGIN { printf "%.2f", u + s }')"
      done
      if [ "$rc" != 0 ]; then
        [ "$rc" = 124 ] && echo "killed after TIMEOUT=$TIMEOUT s" >>"$work/err"
        check="FAILED (exit $rc): $(grep -v '^\s*$' "$work/err" | tail -1 | tr '\t' ' ')"
        wall=nan
        failures=$((failures + 1))
        { echo "FAILED: $name (exit $rc); stderr:"; cat "$work/err"; } >&2
      else
        check=$(${case_check[$i]} 2>&1) || check="check failed: $check"
        check=${check//$'\t'/ }
        check=${check//$'\n'/ }
        if [ "$check" != ok ]; then
          failures=$((failures + 1))
          echo "MISMATCH: $name: $check" >&2
        fi
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${case_scn[$i]}" "$name" "$ROWS" "$rep" "$wall" \
        "$rss" "$cpu" "$srv" "$check" >>"$results"
      printf '[%s %d/%d] %-44s %8s s  rss %s  cpu %s  server cpu %s s  %s\n' "${case_scn[$i]}" "$rep" "$REPEAT" \
        "$name" "$wall" "$rss" "$cpu" "$srv" "$check" >&2
    done
  done
  case_scn=() case_name=() case_prep=() case_run=() case_check=()
}

# variant_list "a;b" -> one trimmed flag set per line
variant_list() { tr ';' '\n' <<<"$1" | sed 's/^ *//; s/ *$//' | grep -v '^$' || true; }

expect() { # expect WHAT GOT WANT
  if [ "$2" = "$3" ]; then echo ok; else echo "$1: got $2, source $3"; fi
}

# ---------------------------------------------------------------------------
# machine

report="$work/report.md"
{
  echo "# sluice end-to-end benchmark (ClickHouse)"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
  echo "- cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
  echo "- os: $(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "- $("$sluice" version | head -1) ($sluice)"
  echo "- PostgreSQL server $(pgq -c 'SHOW server_version'), psql $(psql --version | awk '{print $3}')"
  echo "- ClickHouse server $(chq 'SELECT version()') (HTTP $CH_PORT for sluice), clickhouse-client $("${CHC[@]}" --version 2>/dev/null | sed -n 's/.*version \([0-9.]*[0-9]\).*/\1/p' | head -1) (native $CH_TCP_PORT)"
  echo "- rows: $ROWS; runs per measurement: $REPEAT (interleaved); sluice extra flags: ${SLUICE_FLAGS:-none}; pg2ch variants: ${VARIANTS:-none}; ch2csv variants: ${CSV_VARIANTS:-none}"
  echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$report"

echo "generating $ROWS rows in PostgreSQL ($DB.public.lineitem) ..." >&2
t_gen=$SECONDS
gen_pg
src_sum=$(pg_sum lineitem)
[ "${src_sum%%|*}" = "$ROWS" ] || { echo "PostgreSQL source has ${src_sum%%|*} rows, expected $ROWS" >&2; exit 1; }
pg_size=$(pgq -c "SELECT pg_size_pretty(pg_table_size('lineitem'))")
echo "  $((SECONDS - t_gen)) s, $pg_size, checksum $src_sum" >&2
{
  echo "- PostgreSQL source: $DB.public.lineitem, $pg_size"
  echo "- source checksum: \`$src_sum\`"
  echo
} >>"$report"

SRC_PG="$PG_URI?table=public.lineitem"

# The table a user creates by hand for the pipe: the same column types in ClickHouse terms
# (18.16: Date holds 1970..2105, enough for lineitem; String for char(n)/varchar, as
# ClickHouse recommends; no Nullable), MergeTree ordered by the primary key.
native_ddl() {
  echo "CREATE TABLE $DB.$1 (
    l_orderkey Int64, l_partkey Int64, l_suppkey Int64, l_linenumber Int32,
    l_quantity Decimal(15,2), l_extendedprice Decimal(15,2), l_discount Decimal(15,2),
    l_tax Decimal(15,2), l_returnflag String, l_linestatus String,
    l_shipdate Date, l_commitdate Date, l_receiptdate Date,
    l_shipinstruct String, l_shipmode String, l_comment String)
  ENGINE = MergeTree ORDER BY (l_orderkey, l_linenumber)"
}
pipe_into() { # pipe_into TABLE (the shell pipe, each process under `tm`)
  tm psql "${PSQL[@]}" -d "$DB" -c "\\copy public.lineitem to stdout" |
    tm clickhouse_client "${CHC[@]}" --query "INSERT INTO $DB.$1 FORMAT TabSeparated"
}

# ---------------------------------------------------------------------------
# PG -> ClickHouse

if want pg2ch; then
  prep_sluice_ch() { chq "DROP TABLE IF EXISTS $DB.lineitem_sluice" && chq "DROP TABLE IF EXISTS $DB._sluice_ledger"; }
  run_sluice_ch() { # run_sluice_ch [FLAGS...]
    tm sluice "$sluice" copy "$SRC_PG" "$CH_URI?table=lineitem_sluice" -q --progress never \
      "$@" ${sflags[@]+"${sflags[@]}"}
  }
  check_sluice_ch() { expect checksum "$(ch_sum lineitem_sluice)" "$src_sum"; }
  # ... and what the sink made with its defaults: the table, its parts and the ledger's
  check_sluice_ch_defaults() {
    chq "SHOW CREATE TABLE $DB.lineitem_sluice" 2>/dev/null | sed 's/\\n/ /g; s/\\'"'"'/'"'"'/g' | tr -s ' ' >"$work/sluice_ddl"
    chq "SELECT table, sum(rows), sum(bytes_on_disk), count() FROM system.parts WHERE database = '$DB'
      AND table IN ('lineitem_sluice', '_sluice_ledger') AND active GROUP BY table ORDER BY table
      FORMAT TabSeparated" | tr '\t\n' ' ;' >"$work/sluice_sizes"
    check_sluice_ch
  }
  add_case pg2ch "sluice copy (defaults)" \
    "sluice copy '\$PG?table=public.lineitem' 'clickhouse://default@127.0.0.1:$CH_PORT/\$DB?table=lineitem_sluice' -q --progress never${SLUICE_FLAGS:+ $SLUICE_FLAGS} (fresh target: table and ledger dropped before each run; the sink creates the table)" \
    prep_sluice_ch run_sluice_ch check_sluice_ch_defaults
  while read -r v; do
    [ -n "$v" ] && add_case pg2ch "sluice copy $v" "the same with $v" prep_sluice_ch "run_sluice_ch $v" check_sluice_ch
  done < <(variant_list "$VARIANTS")

  prep_pipe() { chq "DROP TABLE IF EXISTS $DB.lineitem_pipe" && chq "$(native_ddl lineitem_pipe)"; }
  run_pipe() { pipe_into lineitem_pipe; }
  check_pipe() { expect checksum "$(ch_sum lineitem_pipe)" "$src_sum"; }
  add_case pg2ch "psql \\copy | clickhouse-client" \
    "psql -c '\\copy public.lineitem to stdout' | clickhouse-client --port $CH_TCP_PORT --query 'INSERT INTO \$DB.lineitem_pipe FORMAT TabSeparated' (table pre-created before each run: $(native_ddl lineitem_pipe | tr -s ' \n' ' '))" \
    prep_pipe run_pipe check_pipe
  echo "PostgreSQL -> ClickHouse ..." >&2
  run_cases
  {
    [ -s "$work/sluice_ddl" ] && printf 'pg2ch\tsluice_ddl\t%s\n' "$(cat "$work/sluice_ddl")"
    [ -s "$work/sluice_sizes" ] && printf 'pg2ch\tsizes\t%s\n' "$(cat "$work/sluice_sizes")"
    printf 'pg2ch\tpipe_sizes\t%s\n' "$(chq "SELECT table, sum(rows), sum(bytes_on_disk), count() FROM system.parts
      WHERE database = '$DB' AND table = 'lineitem_pipe' AND active GROUP BY table FORMAT TabSeparated" | tr '\t\n' ' ;')"
  } >>"$extra"
  chq "DROP TABLE IF EXISTS $DB.lineitem_sluice"
  chq "DROP TABLE IF EXISTS $DB.lineitem_pipe"
fi

# ---------------------------------------------------------------------------
# ClickHouse -> CSV

if want ch2csv; then
  echo "loading the ClickHouse source ($DB.lineitem) with the shell pipe ..." >&2
  chq "DROP TABLE IF EXISTS $DB.lineitem"
  chq "$(native_ddl lineitem)"
  pipe_into lineitem
  chq "OPTIMIZE TABLE $DB.lineitem FINAL"   # one part, as a table at rest
  got=$(ch_sum lineitem)
  [ "$got" = "$src_sum" ] || { echo "ClickHouse source: got $got, PostgreSQL $src_sum" >&2; exit 1; }
  csv_want=$(src_csv_sum)

  prep_sluice_csv() { rm -f "$work/sluice.csv"; }
  run_sluice_csv() { # run_sluice_csv [FLAGS...]
    tm sluice "$sluice" copy "$CH_URI?table=lineitem" "file://$work/sluice.csv" -q --progress never \
      "$@" ${sflags[@]+"${sflags[@]}"}
  }
  check_sluice_csv() { expect "CSV rows|orderkey|price|comment" "$(csv_sum "$work/sluice.csv")" "$csv_want"; }
  prep_client_csv() { rm -f "$work/client.csv"; }
  run_client_csv() {
    tm clickhouse_client "${CHC[@]}" --query "SELECT * FROM $DB.lineitem FORMAT CSVWithNames" >"$work/client.csv"
  }
  check_client_csv() { expect "CSV rows|orderkey|price|comment" "$(csv_sum "$work/client.csv")" "$csv_want"; }
  add_case ch2csv "sluice copy -> CSV" \
    "sluice copy 'clickhouse://default@127.0.0.1:$CH_PORT/\$DB?table=lineitem' file://\$DIR/sluice.csv -q --progress never${SLUICE_FLAGS:+ $SLUICE_FLAGS}" \
    prep_sluice_csv run_sluice_csv check_sluice_csv
  while read -r v; do
    [ -n "$v" ] && add_case ch2csv "sluice copy -> CSV $v" "the same with $v" prep_sluice_csv "run_sluice_csv $v" check_sluice_csv
  done < <(variant_list "$CSV_VARIANTS")
  add_case ch2csv "clickhouse-client FORMAT CSVWithNames" \
    "clickhouse-client --port $CH_TCP_PORT --query 'SELECT * FROM \$DB.lineitem FORMAT CSVWithNames' > \$DIR/client.csv" \
    prep_client_csv run_client_csv check_client_csv
  echo "ClickHouse -> CSV ..." >&2
  run_cases
  # Both files of the last run: sizes, lines, and whether they hold the same text once quotes
  # are dropped and lines sorted (sluice writes its splits in parallel, quotes only when needed;
  # clickhouse-client quotes every string and date).
  if [ -e "$work/sluice.csv" ] && [ -e "$work/client.csv" ]; then
    echo "comparing the two CSV files ..." >&2
    d1=$(csv_digest "$work/sluice.csv")
    d2=$(csv_digest "$work/client.csv")
    same=$([ "$d1" = "$d2" ] && echo same || echo DIFFERENT)
    if [ "$same" != same ]; then
      failures=$((failures + 1))
      echo "MISMATCH: the CSV files differ after normalisation (sorted, unquoted): $d1 vs $d2" >&2
      { echo "sluice:"; head -3 "$work/sluice.csv"; echo "clickhouse-client:"; head -3 "$work/client.csv"; } >&2
    fi
    printf 'ch2csv\tfiles\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(stat -c %s "$work/sluice.csv")" "$(wc -l <"$work/sluice.csv")" \
      "$(stat -c %s "$work/client.csv")" "$(wc -l <"$work/client.csv")" "$same" "$d1" >>"$extra"
    printf 'ch2csv\tsample\t%s\t%s\n' "$(sed -n 2p "$work/sluice.csv")" "$(sed -n 2p "$work/client.csv")" >>"$extra"
  fi
  rm -f "$work/sluice.csv" "$work/client.csv"
  chq "DROP TABLE IF EXISTS $DB.lineitem"
fi

# ---------------------------------------------------------------------------
# report

echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg); total $SECONDS s" >>"$report"
echo >>"$report"
python3 bench/e2e/ch_report.py "$results" "$commands" "$extra" >>"$report"
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
