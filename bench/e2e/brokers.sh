#!/usr/bin/env bash
# End-to-end benchmark of the `sluice` binary through Kafka, with baselines, on the same
# machine, data and run (issue 5, item 7):
#
#   e2e        SQLite -> Kafka -> PostgreSQL, SQLite -> Kafka -> SQLite, PostgreSQL -> Kafka ->
#              PostgreSQL: `sluice import kafka://…?until_end=true` started first (and assigned
#              its partition), then `sluice export … --to kafka://…`; both run concurrently.
#              End to end = exporter start -> importer exit. Also: time to the first part
#              readable on the broker (a `kcat -C -c1` poller), first part on the broker ->
#              first rows visible in the sink (a poller on the target table), peak RSS of both.
#   baseline A the reference-004 pipeline in Python (ref004_producer.py / ref004_consumer.py:
#              one JSON message per row with kafka-python, per-row flush + UPDATE + commit;
#              consumer INSERTs and commits row by row with psycopg2), PostgreSQL -> PostgreSQL,
#              on BASE_ROWS rows.
#   baseline B kcat -P publishing the parts files (one file = one message, acks=all,
#              idempotent) vs `sluice relay` publishing the same files unchanged, and vs
#              `sluice export` publishing the same table's parts: MB/s of part bytes.
#   memory     `sluice import` of a topic that already holds every part (a backlog), per worker
#              count: peak RSS vs workers x part size x 4; and an importer's RSS with nothing to do.
#
#   bench/e2e/brokers.sh                          1M rows, 3 interleaved runs (~3 min on 2 cores)
#   ROWS=10000000 REPEAT=1 bench/e2e/brokers.sh   10M rows (~9 min, 3 of them making the data)
#   ROWS=100000 REPEAT=1 BASE_ROWS=1000 bench/e2e/brokers.sh    smoke test (~40 s)
#
# Environment:
#   SLUICE_BIN=path    the binary (default build/sluice; never built by this script)
#   ROWS=n             rows of the table (default 1000000)
#   REPEAT=n           interleaved runs of every measurement (default 3; medians reported)
#   ONLY="..."         any of: lite2pg lite2lite pg2pg baseA baseB backlog (default: all)
#   WORKERS=n          import --workers of the e2e runs (default: cores)
#   BACKLOG_WORKERS="1 2 4"  worker counts of the backlog imports
#   BACKLOG_PREFETCH=s one more backlog import (2 workers) with the kafka option prefetch=s
#                      (default 24MiB, the default before 2026-11-21; sluice's is auto: 2 MiB per worker;
#                      0 = skip): shows what a deeper prefetch costs in RSS and gains in time
#   PARTITIONS=n       partitions of every topic (default 1; the export spreads its parts)
#   BASE_ROWS=n        rows of baseline A (default 20000: ~1 min at ~400 rows/s)
#   BASE_REPEAT=n      runs of baseline A (default 1)
#   SLUICE_FLAGS="..." extra flags for every sluice export (e.g. "--part-size 4MiB")
#   OUT=file           Markdown report (default bench/e2e/results/brokers-<date>.md, git-ignored;
#                      raw runs next to it as .tsv)
#   BENCH_DIR=dir      scratch directory parent (default /tmp): SQLite files and parts
#   KEEP=1             keep the database, topics and scratch files
#   SKIP_SERVICES=1    do not run scripts/services.sh up postgres kafka
#   SLUICE_PG_PORT, SLUICE_KAFKA_PORT   ports (defaults 55432, 59092, as services.sh)
#   TIMEOUT=s          a run that takes longer is killed and reported failed (default 1800)
#
# Needs psql (PostgreSQL 15 client), kcat, python3 with kafka-python and psycopg2, sqlite3,
# /usr/bin/time (GNU). Every topic and group name is new (bench-<time>-<pid>-…), the data lives
# in its own database (sluice_brokers_bench_<pid>): other users of the same servers are not
# disturbed. Every run is checked (row count and checksums of the target against the source,
# messages in the topic); a failure makes the exit status 1.
set -Eeuo pipefail
trap 'echo "brokers.sh: stopped at line $LINENO: $BASH_COMMAND" >&2' ERR
caller=$(pwd)
cd "$(dirname "$0")/../.."
root=$(pwd)

ROWS=${ROWS:-1000000}
REPEAT=${REPEAT:-3}
ONLY=${ONLY:-"lite2pg lite2lite pg2pg baseA baseB backlog"}
WORKERS=${WORKERS:-$(nproc)}
BACKLOG_WORKERS=${BACKLOG_WORKERS:-"1 2 4"}
BACKLOG_PREFETCH=${BACKLOG_PREFETCH:-24MiB}
PARTITIONS=${PARTITIONS:-1}
BASE_ROWS=${BASE_ROWS:-20000}
BASE_REPEAT=${BASE_REPEAT:-1}
SLUICE_FLAGS=${SLUICE_FLAGS:-}
PG_PORT=${SLUICE_PG_PORT:-55432}
KAFKA_PORT=${SLUICE_KAFKA_PORT:-59092}
TIMEOUT=${TIMEOUT:-1800}
MAX_MSG=8388608   # max.message.bytes of every topic (what create_topic=true gives)
if [ -n "${OUT:-}" ]; then [[ $OUT = /* ]] || OUT="$caller/$OUT"
else OUT="$root/bench/e2e/results/brokers-$(date -u +%Y-%m-%d-%H%M).md"; fi
if [ -n "${SLUICE_BIN:-}" ]; then sluice=$SLUICE_BIN; [[ $sluice = /* ]] || sluice="$caller/$sluice"
else sluice="$root/build/sluice"; fi
for v in ROWS REPEAT WORKERS PARTITIONS BASE_ROWS TIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer" >&2; exit 2; }
done
[[ $BASE_REPEAT =~ ^[0-9]+$ ]] || { echo "BASE_REPEAT must be an integer" >&2; exit 2; }
for s in $ONLY; do
  case $s in lite2pg | lite2lite | pg2pg | baseA | baseB | backlog) ;;
  *) echo "unknown item '$s' in ONLY (lite2pg lite2lite pg2pg baseA baseB backlog)" >&2; exit 2 ;; esac
done
want() { [[ " $ONLY " = *" $1 "* ]]; }

BROKER=127.0.0.1:$KAFKA_PORT
DB=sluice_brokers_bench_$$
PG_URI="postgres://postgres@127.0.0.1:$PG_PORT/$DB"
PG_DSN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=$DB"
tag="bench-$(date -u +%H%M%S)-$$"   # prefix of every topic and group
probe() { python3 "$root/bench/e2e/broker_probe.py" "$@"; }

# ---------------------------------------------------------------------------
# tools and servers

[ -x "$sluice" ] || { echo "no sluice binary at $sluice (set SLUICE_BIN)" >&2; exit 1; }
[ -d /usr/lib/postgresql/15/bin ] && PATH="/usr/lib/postgresql/15/bin:$PATH"
for t in psql kcat sqlite3 python3; do
  command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 1; }
done
python3 -c 'import kafka, psycopg2' 2>/dev/null ||
  { echo "needs the Python packages kafka-python and psycopg2" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 1; }

if [ "${SKIP_SERVICES:-0}" != 1 ]; then
  SLUICE_PG_PORT=$PG_PORT SLUICE_KAFKA_PORT=$KAFKA_PORT scripts/services.sh up postgres kafka >/dev/null ||
    { echo "scripts/services.sh up postgres kafka failed (see above)" >&2; exit 1; }
fi

PSQL=(env PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres)
pgq() { "${PSQL[@]}" -d "$DB" -At "$@"; }
"${PSQL[@]}" -d postgres -At -c "SELECT 1" >/dev/null 2>&1 ||
  { echo "PostgreSQL is not reachable on port $PG_PORT (scripts/services.sh up postgres)" >&2; exit 1; }
kcat -b "$BROKER" -L -m 10 >/dev/null 2>&1 ||
  { echo "Kafka is not reachable at $BROKER (scripts/services.sh up kafka)" >&2; exit 1; }

work=$(mktemp -d "${BENCH_DIR:-/tmp}/sluice-broker-bench.XXXXXX")
results="$work/results.tsv"
: >"$results"
topics=()

cleanup() {
  set +e
  local p
  for p in $(jobs -p); do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
  if [ "${KEEP:-0}" != 1 ]; then
    [ ${#topics[@]} -gt 0 ] && probe delete-topics "$BROKER" "${topics[@]}" >/dev/null 2>&1
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
    rm -rf "$work"
  else
    echo "kept: database $DB, topics ${topics[*]-}, $work" >&2
  fi
}
trap cleanup EXIT

new_topic() { # new_topic NAME -> creates $tag-NAME with PARTITIONS partitions, prints it
  local t="$tag-$1"
  probe create-topic "$BROKER" "$t" "$PARTITIONS" "$MAX_MSG" >&2
  echo "$t"
}
drop_topics_now() { # frees the broker's disk as we go (10M rows: ~400 MB per topic)
  [ "${KEEP:-0}" = 1 ] || probe delete-topics "$BROKER" "$@" >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------------------
# data (not timed): the lineitem table of bench/e2e/databases.sh, generated in PostgreSQL,
# copied into SQLite by sluice.

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
echo "generating $ROWS rows in PostgreSQL ($DB.public.lineitem) ..." >&2
t_gen=$SECONDS
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

# Checksums (as databases.sh): rows | keys | prices | dates | flags and trimmed char(n) | comment
# lengths | first 32 bits of md5(l_comment). SQLite has no md5: its checksum sums other digits of
# the comment; SQLite targets are compared with the SQLite source, PostgreSQL ones with PostgreSQL.
PG_SUM="count(*) || '|' || sum(l_orderkey) || '|' || sum(l_partkey + l_suppkey + l_linenumber)
  || '|' || sum(l_extendedprice) || '|' || sum(l_quantity + l_discount + l_tax)
  || '|' || sum((l_shipdate - date '1970-01-01') + (l_commitdate - date '1970-01-01')
                + (l_receiptdate - date '1970-01-01'))
  || '|' || sum(ascii(l_returnflag) + ascii(l_linestatus) + char_length(rtrim(l_shipinstruct))
                + char_length(rtrim(l_shipmode)))
  || '|' || sum(char_length(l_comment)) || '|' || sum(('x' || left(md5(l_comment), 8))::bit(32)::bigint)"
LITE_SUM="count(*) || '|' || sum(l_orderkey) || '|' || sum(l_partkey + l_suppkey + l_linenumber)
  || '|' || sum(CAST(round(l_extendedprice * 100) AS INTEGER))
  || '|' || sum(CAST(round((l_quantity + l_discount + l_tax) * 100) AS INTEGER))
  || '|' || sum(CAST(julianday(l_shipdate) + julianday(l_commitdate) + julianday(l_receiptdate)
                     - 3 * 2440587.5 AS INTEGER))
  || '|' || sum(unicode(l_returnflag) + unicode(l_linestatus) + length(rtrim(l_shipinstruct))
                + length(rtrim(l_shipmode)))
  || '|' || sum(length(l_comment)) || '|' || sum(unicode(substr(l_comment, 5, 1)) * length(l_comment)
                + unicode(substr(l_comment, -1)))"
pg_sum() { pgq -c "SELECT $PG_SUM FROM $1" 2>&1; }
lite_sum() { sqlite3 "$1" "SELECT $LITE_SUM FROM lineitem" 2>&1; }

src_sum=$(pg_sum lineitem)
[ "${src_sum%%|*}" = "$ROWS" ] || { echo "PostgreSQL source has ${src_sum%%|*} rows, expected $ROWS" >&2; exit 1; }
pg_size=$(pgq -c "SELECT pg_size_pretty(pg_table_size('lineitem'))")
echo "  $((SECONDS - t_gen)) s, $pg_size, checksum $src_sum" >&2

lite_src="$work/source.db"
if want lite2pg || want lite2lite || want baseB || want backlog; then
  echo "copying it into SQLite ($lite_src) ..." >&2
  "$sluice" copy "$PG_URI?table=public.lineitem" "sqlite://$lite_src?table=lineitem" -q
  sqlite3 "$lite_src" "DROP TABLE IF EXISTS sluice_run_log; DROP TABLE IF EXISTS _sluice_ledger; DROP TABLE IF EXISTS sluice_state; VACUUM"
  lite_src_sum=$(lite_sum "$lite_src")
  [ "${lite_src_sum%%|*}" = "$ROWS" ] || { echo "SQLite source: $lite_src_sum" >&2; exit 1; }
  echo "  SQLite source $(($(stat -c %s "$lite_src") / 1048576)) MB, checksum $lite_src_sum" >&2
fi
SRC_LITE="sqlite://$lite_src?table=lineitem"
SRC_PG="$PG_URI?table=public.lineitem"

# ---------------------------------------------------------------------------
# measuring

failures=0
sflags=()
read -r -a sflags <<<"$SLUICE_FLAGS"
now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "nan"; else printf "%.0f", (b - a) * 1000 }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "nan"; else printf "%.3f", b - a }'; }
rss_kb() { sed -n 's/^\s*Maximum resident set size (kbytes): //p' "$1" 2>/dev/null | tail -1; }
json_num() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$1" "$2" 2>/dev/null || echo nan; }
readf() { [ -s "$1" ] && head -1 "$1" || echo ""; }
record() { # record KIND NAME ROWS REP METRICS CHECK
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"
  if [ "$6" != ok ]; then
    failures=$((failures + 1))
    echo "FAILED: $1 $2 (run $4): $6" >&2
  fi
  printf '[%s %s] %-34s %s  %s\n' "$1" "$4" "$2" "$5" "$6" >&2
}
# wait_file FILE SECONDS: waits for FILE to exist
wait_file() {
  local i
  for ((i = 0; i < $2 * 20; i++)); do [ -e "$1" ] && return 0; sleep 0.05; done
  return 1
}
# wait_pid PID SECONDS: waits for a background job, kills it (and fails) after SECONDS
wait_pid() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }; sleep 0.1; done
  pkill -P "$1" 2>/dev/null || true; kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true
  return 1
}
# A background poller that writes the time the first message of TOPIC is readable to FILE.
start_first_msg_poller() { # TOPIC FILE
  # the time is taken when kcat prints the offset (-u: unbuffered), not when it exits (its
  # shutdown takes up to fetch.wait.max.ms)
  ( kcat -u -C -b "$BROKER" -t "$1" -o beginning -c 1 -q -f '%o\n' 2>/dev/null |
      { read -r _ && now >"$2"; cat >/dev/null; } ) &
  poller_pid=$!
}
stop_pollers() {
  local p
  for p in "$@"; do
    pkill -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
  done
  return 0
}

# ---- e2e: SRC -> Kafka -> DST, importer first -------------------------------------------
# e2e_run SCN REP: SCN lite2pg | lite2lite | pg2pg
e2e_run() {
  local scn=$1 rep=$2 d="$work/run" src dst sink_kind sink_where sink_table topic group check
  rm -rf "$d"; mkdir -p "$d"
  case $scn in
    lite2pg) src=$SRC_LITE; dst="$PG_URI?table=public.t_lite2pg"; sink_kind=pg sink_where=$PG_DSN sink_table=public.t_lite2pg ;;
    pg2pg) src=$SRC_PG; dst="$PG_URI?table=public.t_pg2pg"; sink_kind=pg sink_where=$PG_DSN sink_table=public.t_pg2pg ;;
    lite2lite) src=$SRC_LITE; dst="sqlite://$d/target.db?table=lineitem"; sink_kind=sqlite sink_where="$d/target.db" sink_table=lineitem ;;
  esac
  [ "$sink_kind" = pg ] && pgq -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS $sink_table, public._sluice_ledger" >/dev/null
  topic=$(new_topic "$scn-$rep"); topics+=("$topic"); group="$topic-g"

  probe first-rows "$d/first_rows" "$d/probe_ready" "$sink_kind" "$sink_where" "$sink_table" &
  local probe_pid=$!
  start_first_msg_poller "$topic" "$d/first_msg"; local kpid=$poller_pid
  ( /usr/bin/time -v -o "$d/imp.time" "$sluice" import \
      "kafka://$BROKER/$topic?group=$group&until_end=true&session_timeout=6s" --into "$dst" \
      --workers "$WORKERS" --progress never --stats-json "$d/imp.json" >"$d/imp.out" 2>"$d/imp.err"
    echo $? >"$d/imp.rc"; now >"$d/imp_end" ) &
  local imp_pid=$!
  # start the export once the importer owns the partitions and the pollers are ready
  local i ok=0
  for ((i = 0; i < 600; i++)); do
    if grep -q "assigned partition" "$d/imp.err" 2>/dev/null && [ -e "$d/probe_ready" ]; then ok=1; break; fi
    kill -0 "$imp_pid" 2>/dev/null || break
    sleep 0.05
  done
  sleep 0.2   # kcat's fetcher
  local t0; t0=$(now)
  local erc=0
  if [ "$ok" = 1 ]; then
    /usr/bin/time -v -o "$d/exp.time" timeout "$TIMEOUT" "$sluice" export "$src" --to "kafka://$BROKER/$topic" \
      --progress never --stats-json "$d/exp.json" ${sflags[@]+"${sflags[@]}"} >"$d/exp.out" 2>"$d/exp.err" || erc=$?
  else
    erc=99; echo "the importer never got its partitions" >"$d/exp.err"
  fi
  local t_exp; t_exp=$(now)
  wait_pid "$imp_pid" "$TIMEOUT" || echo 124 >"$d/imp.rc"
  wait_file "$d/first_rows" 2 || true
  stop_pollers "$kpid" "$probe_pid"
  local irc; irc=$(readf "$d/imp.rc")
  local t_imp t_msg t_rows
  t_imp=$(readf "$d/imp_end"); t_msg=$(readf "$d/first_msg"); t_rows=$(readf "$d/first_rows")
  if [ "$erc" != 0 ]; then check="export FAILED (exit $erc): $(grep -v '^\s*$' "$d/exp.err" | tail -1)"
  elif [ "$irc" != 0 ]; then check="import FAILED (exit $irc): $(grep -v '^\s*$' "$d/imp.err" | tail -1)"
  else
    local got want_sum
    if [ "$sink_kind" = pg ]; then got=$(pg_sum "$sink_table"); want_sum=$src_sum
    else got=$(lite_sum "$d/target.db"); want_sum=$lite_src_sum; fi
    if [ "$got" = "$want_sum" ]; then check=ok; else check="checksum: got $got, source $want_sum"; fi
    if [ "$sink_kind" = pg ] && [ "$check" = ok ]; then
      # the sink adds the primary key at the end of the load (defer_keys): it must be there
      [ "$(pgq -c "SELECT count(*) FROM pg_constraint WHERE conrelid = '$sink_table'::regclass AND contype = 'p'")" = 1 ] ||
        check="no primary key on $sink_table after the import"
    fi
  fi
  local parts bytes
  parts=$(json_num "$d/exp.json" parts); bytes=$(json_num "$d/exp.json" bytes)
  record e2e "$scn" "$ROWS" "$rep" "e2e_s=$(secs "$t0" "$t_imp");export_s=$(secs "$t0" "$t_exp");first_msg_ms=$(ms "$t0" "$t_msg");msg_to_rows_ms=$(ms "$t_msg" "$t_rows");first_rows_ms=$(ms "$t0" "$t_rows");exp_first_part_ms=$(json_num "$d/exp.json" first_part_ms);exp_rss_kb=$(rss_kb "$d/exp.time");imp_rss_kb=$(rss_kb "$d/imp.time");imp_workers=$WORKERS;parts=$parts;bytes=$bytes" "$check"
  [ "$sink_kind" = pg ] && pgq -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS $sink_table, public._sluice_ledger" >/dev/null
  drop_topics_now "$topic"
  return 0
}

# ---- baseline A: reference 004 in Python, PostgreSQL -> Kafka -> PostgreSQL ----------------
base_a_run() {
  local rep=$1 d="$work/run" topic group check
  rm -rf "$d"; mkdir -p "$d"
  pgq -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS ref_src, ref_dst" \
    -c "CREATE TABLE ref_src AS SELECT *, FALSE AS sent_to_kafka FROM lineitem ORDER BY l_orderkey, l_linenumber LIMIT $BASE_ROWS" \
    -c "ALTER TABLE ref_src ADD PRIMARY KEY (l_orderkey, l_linenumber)" -c "VACUUM ANALYZE ref_src" >/dev/null
  topic=$(new_topic "ref004-$rep"); topics+=("$topic"); group="$topic-g"
  ( /usr/bin/time -v -o "$d/imp.time" python3 -W ignore "$root/bench/e2e/ref004_consumer.py" "$PG_DSN" ref_dst "$topic" \
      "$BROKER" "$group" "$BASE_ROWS" "$d/consumer_ready" 60 >/dev/null 2>"$d/imp.err"
    echo $? >"$d/imp.rc"; now >"$d/imp_end" ) &
  local imp_pid=$!
  wait_file "$d/consumer_ready" 60 || true
  probe first-rows "$d/first_rows" "$d/probe_ready" pg "$PG_DSN" ref_dst &
  local probe_pid=$!
  start_first_msg_poller "$topic" "$d/first_msg"; local kpid=$poller_pid
  wait_file "$d/probe_ready" 30 || true
  sleep 0.2
  local t0 erc=0; t0=$(now)
  /usr/bin/time -v -o "$d/exp.time" timeout "$TIMEOUT" python3 -W ignore "$root/bench/e2e/ref004_producer.py" "$PG_DSN" ref_src \
    "$topic" "$BROKER" >/dev/null 2>"$d/exp.err" || erc=$?
  local t_exp; t_exp=$(now)
  wait_pid "$imp_pid" "$TIMEOUT" || echo 124 >"$d/imp.rc"
  wait_file "$d/first_rows" 2 || true
  stop_pollers "$kpid" "$probe_pid"
  local irc t_imp t_msg t_rows; irc=$(readf "$d/imp.rc")
  t_imp=$(readf "$d/imp_end"); t_msg=$(readf "$d/first_msg"); t_rows=$(readf "$d/first_rows")
  if [ "$erc" != 0 ]; then check="producer FAILED (exit $erc): $(tail -1 "$d/exp.err")"
  elif [ "$irc" != 0 ]; then check="consumer FAILED (exit $irc): $(tail -1 "$d/imp.err")"
  else
    local got want_sum unsent
    got=$(pg_sum ref_dst); want_sum=$(pg_sum ref_src)
    unsent=$(pgq -c "SELECT count(*) FROM ref_src WHERE NOT sent_to_kafka")
    if [ "$got" != "$want_sum" ]; then check="checksum: got $got, source $want_sum"
    elif [ "$unsent" != 0 ]; then check="$unsent rows still sent_to_kafka = false"
    else check=ok; fi
  fi
  record baseA "reference 004 (Python)" "$BASE_ROWS" "$rep" "e2e_s=$(secs "$t0" "$t_imp");export_s=$(secs "$t0" "$t_exp");first_msg_ms=$(ms "$t0" "$t_msg");msg_to_rows_ms=$(ms "$t_msg" "$t_rows");first_rows_ms=$(ms "$t0" "$t_rows");exp_rss_kb=$(rss_kb "$d/exp.time");imp_rss_kb=$(rss_kb "$d/imp.time")" "$check"
  pgq -c "DROP TABLE IF EXISTS ref_src, ref_dst" >/dev/null
  drop_topics_now "$topic"
  return 0
}

# ---- baseline B: kcat -P of the parts files vs sluice export publishing the same parts -----
parts_dir="$work/parts"
parts_sid=""
make_parts() { # the parts kcat publishes: sluice's own export of the SQLite table
  rm -rf "$parts_dir"
  "$sluice" export "$SRC_LITE" --to "parts://$parts_dir" --progress never --stats-json "$work/parts.json" \
    ${sflags[@]+"${sflags[@]}"} 2>"$work/parts.log" || { cat "$work/parts.log" >&2; exit 1; }
  # the runtime logs its target part size: "parts of up to N bytes" (uncompressed)
  part_target=$(sed -n 's/.*parts of up to \([0-9]*\) bytes.*/\1/p' "$work/parts.log" | sed -n 1p)
  parts_sid=$(ls "$parts_dir" | sed -n 1p | sed 's/_part_.*//')
  parts_files=$(ls "$parts_dir" | wc -l)
  parts_bytes=$(find "$parts_dir" -name '*.part' -printf '%s\n' | awk '{ s += $1 } END { print s }')
  parts_max=$(find "$parts_dir" -name '*.part' -printf '%s\n' | sort -n | tail -1)
  echo "parts: $parts_files files, $parts_bytes bytes (largest $parts_max), stream $parts_sid" >&2
  record meta parts "$ROWS" 0 "part_target=${part_target:-nan};files=$parts_files;bytes=$parts_bytes;largest=$parts_max" ok
}
backlog_topic=""
base_b_run() {
  local rep=$1 d="$work/run" topic t0 t1 rc check n name
  rm -rf "$d"; mkdir -p "$d"
  # kcat: one message per file, the key sluice uses (the stream id), acks=all, idempotent
  topic=$(new_topic "kcat-$rep"); topics+=("$topic")
  t0=$(now); rc=0
  /usr/bin/time -v -o "$d/kcat.time" kcat -P -b "$BROKER" -t "$topic" -k "$parts_sid" -X acks=all \
    -X enable.idempotence=true -X message.max.bytes="$MAX_MSG" -X linger.ms=5 \
    -H content-type=application/vnd.apache.arrow.stream "$parts_dir"/*.part 2>"$d/kcat.err" || rc=$?
  t1=$(now)
  n=$(probe messages "$BROKER" "$topic")
  if [ "$rc" != 0 ]; then check="kcat FAILED (exit $rc): $(tail -1 "$d/kcat.err")"
  elif [ "$n" != "$parts_files" ]; then check="$n messages in the topic, $parts_files files"
  else check=ok; fi
  record baseB "kcat -P (parts files)" "$ROWS" "$rep" "wall_s=$(secs "$t0" "$t1");bytes=$parts_bytes;messages=$n;rss_kb=$(rss_kb "$d/kcat.time")" "$check"
  drop_topics_now "$topic"

  # sluice relay: the same files published unchanged (the like-for-like comparison with kcat)
  topic=$(new_topic "relay-$rep"); topics+=("$topic")
  t0=$(now); rc=0
  /usr/bin/time -v -o "$d/relay.time" "$sluice" relay "parts://$parts_dir" --to "kafka://$BROKER/$topic" \
    -q --stats-json "$d/relay.json" 2>"$d/relay.err" || rc=$?
  t1=$(now)
  n=$(probe messages "$BROKER" "$topic")
  if [ "$rc" != 0 ]; then check="relay FAILED (exit $rc): $(tail -1 "$d/relay.err")"
  elif [ "$n" != $((parts_files - 1 + PARTITIONS)) ]; then check="$n messages in the topic, $parts_files files"
  else check=ok; fi
  record baseB "sluice relay parts dir -> kafka" "$ROWS" "$rep" "wall_s=$(secs "$t0" "$t1");bytes=$parts_bytes;messages=$n;rss_kb=$(rss_kb "$d/relay.time")" "$check"
  drop_topics_now "$topic"

  # sluice export -> kafka, from the parts directory (decoded and re-encoded) and from the table
  local src
  for name in "sluice export parts dir -> kafka" "sluice export SQLite -> kafka"; do
    case $name in *parts*) src="parts://$parts_dir" ;; *) src=$SRC_LITE ;; esac
    topic=$(new_topic "sx-$rep-$RANDOM"); topics+=("$topic")
    t0=$(now); rc=0
    /usr/bin/time -v -o "$d/exp.time" "$sluice" export "$src" --to "kafka://$BROKER/$topic" -q \
      --stats-json "$d/exp.json" ${sflags[@]+"${sflags[@]}"} 2>"$d/exp.err" || rc=$?
    t1=$(now)
    n=$(probe messages "$BROKER" "$topic")
    local parts bytes; parts=$(json_num "$d/exp.json" parts); bytes=$(json_num "$d/exp.json" bytes)
    if [ "$rc" != 0 ]; then check="export FAILED (exit $rc): $(tail -1 "$d/exp.err")"
    elif [ "$n" != $((parts + PARTITIONS)) ]; then check="$n messages in the topic, $parts parts + $PARTITIONS end part(s) exported"
    else check=ok; fi
    record baseB "$name" "$ROWS" "$rep" "wall_s=$(secs "$t0" "$t1");bytes=$bytes;messages=$n;parts=$parts;rss_kb=$(rss_kb "$d/exp.time");first_part_ms=$(json_num "$d/exp.json" first_part_ms)" "$check"
    if [[ $name = *SQLite* ]] && want backlog && [ -z "$backlog_topic" ] && [ "$check" = ok ]; then
      backlog_topic=$topic   # kept for the backlog imports
    else
      drop_topics_now "$topic"
    fi
  done

  # the same exports without a broker (to a parts directory), to see what the broker adds
  for name in "sluice export parts dir -> parts dir" "sluice export SQLite -> parts dir"; do
    case $name in *"parts dir ->"*) src="parts://$parts_dir" ;; *) src=$SRC_LITE ;; esac
    rm -rf "$d/out"
    t0=$(now); rc=0
    /usr/bin/time -v -o "$d/exp.time" "$sluice" export "$src" --to "parts://$d/out" -q \
      --stats-json "$d/exp.json" ${sflags[@]+"${sflags[@]}"} 2>"$d/exp.err" || rc=$?
    t1=$(now)
    if [ "$rc" != 0 ]; then check="export FAILED (exit $rc): $(tail -1 "$d/exp.err")"; else check=ok; fi
    record baseB "$name" "$ROWS" "$rep" "wall_s=$(secs "$t0" "$t1");bytes=$(json_num "$d/exp.json" bytes);rss_kb=$(rss_kb "$d/exp.time")" "$check"
    rm -rf "$d/out"
  done
  return 0
}

# ---- memory: import a topic that holds every part already (a backlog) --------------------
backlog_run() { # backlog_run REP WORKERS [PREFETCH]
  local rep=$1 w=$2 pf=${3:-} d="$work/run" t0 t1 rc check opt="" label
  rm -rf "$d"; mkdir -p "$d"
  label="import backlog -> PostgreSQL, --workers $w"
  if [ -n "$pf" ]; then
    opt="&prefetch=$pf"
    label+=", prefetch=$pf"
  fi
  pgq -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS t_backlog, public._sluice_ledger" >/dev/null
  t0=$(now); rc=0
  /usr/bin/time -v -o "$d/imp.time" "$sluice" import "kafka://$BROKER/$backlog_topic?group=$tag-backlog-$rep-$w-$pf$opt" \
    --into "$PG_URI?table=public.t_backlog" --workers "$w" -q --stats-json "$d/imp.json" 2>"$d/imp.err" || rc=$?
  t1=$(now)
  if [ "$rc" != 0 ]; then check="import FAILED (exit $rc): $(tail -1 "$d/imp.err")"
  else
    local got; got=$(pg_sum t_backlog)
    if [ "$got" = "$src_sum" ]; then check=ok; else check="checksum: got $got, source $src_sum"; fi
  fi
  record backlog "$label" "$ROWS" "$rep" "wall_s=$(secs "$t0" "$t1");rss_kb=$(rss_kb "$d/imp.time");workers=$w;parts=$(json_num "$d/imp.json" parts);bytes=$(json_num "$d/imp.json" bytes)" "$check"
  pgq -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS t_backlog, public._sluice_ledger" >/dev/null
  return 0
}
idle_run() { # an importer with nothing to import: its RSS is the floor under every figure
  local d="$work/run" topic rc=0
  rm -rf "$d"; mkdir -p "$d"
  topic=$(new_topic "idle"); topics+=("$topic")
  "$sluice" import "kafka://$BROKER/$topic?group=$topic-g" --into "$PG_URI?table=public.t_idle" -q 2>/dev/null || true # warm-up
  /usr/bin/time -v -o "$d/imp.time" "$sluice" import "kafka://$BROKER/$topic?group=$topic-g2" \
    --into "$PG_URI?table=public.t_idle" -q 2>"$d/imp.err" || rc=$?
  record idle "import of an empty topic" 0 1 "rss_kb=$(rss_kb "$d/imp.time")" \
    "$([ "$rc" = 0 ] && echo ok || echo "import FAILED (exit $rc): $(tail -1 "$d/imp.err")")"
  pgq -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS public.t_idle, public._sluice_ledger" >/dev/null
  drop_topics_now "$topic"
}

# ---------------------------------------------------------------------------
# machine

report="$work/report.md"
{
  echo "# sluice end-to-end benchmark (Kafka transport)"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
  echo "- cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
  echo "- os: $(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "- $("$sluice" version | sed -n 1p) ($sluice)"
  echo "- PostgreSQL $(pgq -c 'SHOW server_version') (fsync=$(pgq -c 'SHOW fsync'), synchronous_commit=$(pgq -c 'SHOW synchronous_commit')); Kafka broker at $BROKER ($(kcat -b "$BROKER" -L -m 10 2>/dev/null | grep -c 'broker [0-9]* at' || true) broker(s)); kcat $(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\) .*librdkafka \([^ ]*\).*/\1 (librdkafka \2)/p'); kafka-python $(python3 -c 'import kafka; print(kafka.__version__)'), psycopg2 $(python3 -c 'import psycopg2; print(psycopg2.__version__.split()[0])')"
  echo "- rows: $ROWS (baseline A: $BASE_ROWS); runs: $REPEAT interleaved (baseline A: $BASE_REPEAT); import workers: $WORKERS; topic partitions: $PARTITIONS; sluice export flags: ${SLUICE_FLAGS:-none}"
  echo "- PostgreSQL source: $pg_size; SQLite source: $( [ -e "$lite_src" ] && echo "$(($(stat -c %s "$lite_src") / 1048576)) MB" || echo none)"
  echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$report"

# ---------------------------------------------------------------------------
# runs, interleaved

t_start=$SECONDS
if want baseB || want backlog; then make_parts; fi
want backlog && idle_run
for ((rep = 1; rep <= REPEAT; rep++)); do
  for scn in lite2pg lite2lite pg2pg; do
    want "$scn" && e2e_run "$scn" "$rep"
  done
  if want baseB || want backlog; then base_b_run "$rep"; fi
  if want backlog && [ -n "$backlog_topic" ]; then
    for w in $BACKLOG_WORKERS; do backlog_run "$rep" "$w"; done
    [ "$BACKLOG_PREFETCH" != 0 ] && backlog_run "$rep" 2 "$BACKLOG_PREFETCH"
  fi
  if want baseA && [ "$rep" -le "$BASE_REPEAT" ]; then base_a_run "$rep"; fi
done
[ -n "$backlog_topic" ] && drop_topics_now "$backlog_topic"

# ---------------------------------------------------------------------------
# report

{
  echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg); measuring took $((SECONDS - t_start)) s"
  if [ -n "$parts_sid" ]; then
    echo "- parts (baseline B, export of the SQLite table, --part-size ${SLUICE_FLAGS:+as flagged}${SLUICE_FLAGS:-2MiB}): $parts_files files (with the end part), $parts_bytes bytes, largest $parts_max bytes"
  fi
  echo
} >>"$report"
python3 bench/e2e/broker_report.py "$results" >>"$report"
mkdir -p "$(dirname "$OUT")"
case $OUT in "$root"/bench/e2e/results/*) [ -e bench/e2e/results/.gitignore ] || echo '*' >bench/e2e/results/.gitignore ;; esac
cp "$report" "$OUT"
cp "$results" "${OUT%.md}.tsv"
cat "$report"
echo "report written to $OUT (raw runs: ${OUT%.md}.tsv); total $SECONDS s" >&2
if [ "$failures" != 0 ]; then
  echo "$failures run(s) failed or did not match the source (see the check column)" >&2
  exit 1
fi
