#!/usr/bin/env bash
# Reference 004 with sluice: PostgreSQL `user_logins` -> Kafka -> ClickHouse,
# with reference 001's per-country aggregate kept by a materialized view.
# Needs the services of scripts/services.sh (postgres kafka clickhouse), psql,
# curl and a built sluice. Every endpoint can be changed by the environment:
#
#   examples/ref004_pg_kafka_clickhouse/run.sh                 # native parts
#   FORMAT=json examples/ref004_pg_kafka_clickhouse/run.sh     # one JSON object per row
#
# Ends with exit 0 when ClickHouse holds every row once and the view's
# per-country numbers equal PostgreSQL's, 1 otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SLUICE=${SLUICE:-$HERE/../../build/sluice}
PG=${PG:-postgres://postgres@127.0.0.1:55432/sluice_test}
PG_SCHEMA=${PG_SCHEMA:-public}
ROWS=${ROWS:-100000}
KAFKA=${KAFKA:-127.0.0.1:59092}
FORMAT=${FORMAT:-parts}                      # parts | json
RUN=$(date +%s)
# A new topic and group per run: the demo starts from nothing each time.
TOPIC=${TOPIC:-user_events_${FORMAT}_$RUN}
GROUP=${GROUP:-user_logins_consumer_$RUN}
CH_HTTP=${CH_HTTP:-127.0.0.1:58123}
CH_DB=${CH_DB:-sluice_test}
CH_TABLE=${CH_TABLE:-user_logins}

ch() {  # one query over ClickHouse's HTTP interface; TabSeparated out
  curl -sS --fail-with-body "http://$CH_HTTP/?database=$CH_DB" --data-binary "$1"
}

echo "== 0. ClickHouse: drop what an earlier run of the demo left ($CH_DB.$CH_TABLE and its views)"
for t in user_logins_by_country user_logins_by_country_mv "$CH_TABLE"; do
  ch "DROP TABLE IF EXISTS \`$t\`"
done

echo "== 1. PostgreSQL: $ROWS rows in $PG_SCHEMA.user_logins"
psql -X -q "$PG" -v schema="$PG_SCHEMA" -v rows="$ROWS" -f "$HERE/seed.sql"

SRC="$PG?table=$PG_SCHEMA.user_logins"
# The ClickHouse table is created by the first import: login times become
# DateTime('UTC') (timestamps=datetime: whole seconds 1970..2105, anything else
# is refused naming the row and column), and init_sql creates the views.
DST="clickhouse://default@$CH_HTTP/$CH_DB?table=$CH_TABLE&timestamps=datetime&init_sql=$HERE/views.sql"

if [ "$FORMAT" = json ]; then
  echo "== 2. export: one JSON message per row, epoch timestamps (what the reference's consumer reads)"
  "$SLUICE" export "$SRC" --to "kafka://$KAFKA/$TOPIC?create_topic=true&partitions=3&timestamps=epoch" \
      --message-format json
  echo "== 3. import: rows batched into parts, exactly once (batch bounds kept in the group's offsets)"
  "$SLUICE" import "kafka://$KAFKA/$TOPIC?schema=id:int64:key,user_id:int64:notnull,username:string,event_type:string:notnull,event_time:timestamp,country:string,ip:string,session_seconds:int32" \
      --message-format json --group "$GROUP" --into "$DST" --workers 4
else
  echo "== 2. export: parts spread over 3 partitions, sent while the table is read"
  "$SLUICE" export "$SRC" --to "kafka://$KAFKA/$TOPIC?create_topic=true&partitions=3"
  echo "== 2b. export again: same snapshot, same stream id and part ids; the import skips them"
  "$SLUICE" export "$SRC" --to "kafka://$KAFKA/$TOPIC"
  echo "== 3. import: until both streams have ended, 4 parallel writers"
  "$SLUICE" import "kafka://$KAFKA/$TOPIC" --group "$GROUP" --until-end --into "$DST" --workers 4
fi

echo "== 4. ClickHouse"
ch "SELECT count() AS rows, uniqExact(id) AS ids, min(event_time), max(event_time) FROM $CH_TABLE FORMAT PrettyCompact"
ch "SELECT * FROM user_logins_by_country ORDER BY country FORMAT PrettyCompact"

echo "== 5. compared with PostgreSQL"
want=$(psql -X -q -A -t -F $'\t' "$PG" -c "SELECT count(*), count(DISTINCT id) FROM $PG_SCHEMA.user_logins")
got=$(ch "SELECT count(), uniqExact(id) FROM $CH_TABLE")
# Per country: count and the average rounded to 6 digits (float sums differ in the last bits).
want_c=$(psql -X -q -A -t -F $'\t' "$PG" -c "SELECT coalesce(country, ''), count(*), round(avg(session_seconds), 6)
    FROM $PG_SCHEMA.user_logins GROUP BY 1 ORDER BY convert_to(coalesce(country, ''), 'UTF8')")
got_c=$(ch "SELECT country, logins, toDecimal64(round(avg_session_seconds, 6), 6) FROM user_logins_by_country ORDER BY country")
if [ "$want" != "$got" ] || [ "$want_c" != "$got_c" ]; then
  echo "MISMATCH: PostgreSQL rows/ids $want, ClickHouse $got"
  diff <(echo "$want_c") <(echo "$got_c") || true
  exit 1
fi
echo "OK: $got rows, each once; the per-country view equals PostgreSQL"
