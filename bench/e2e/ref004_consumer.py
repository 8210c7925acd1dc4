#!/usr/bin/env python3
"""Baseline A of bench/e2e/brokers.sh: the consumer of reference 004 (Kafka -> database),
written from its description (/work/shared/reference/004_*.txt, "Consumer (consumer.py)"):

* subscribes to the topic in a consumer group, reading from the start (auto_offset_reset =
  'earliest'), offsets committed automatically (kafka-python's enable_auto_commit, every 5 s);
* creates the target table if it does not exist;
* for each message: converts the epoch timestamps back to dates and writes the row with one
  INSERT — one statement and one commit per message (the reference inserts each message into
  ClickHouse on its own; here the target is PostgreSQL through psycopg2, so each INSERT is
  committed on its own), and prints "Received: {...}".

The reference consumer runs forever; for the benchmark it exits once it has written EXPECTED
rows (or after IDLE_S seconds without a message). It writes READY once the group has assigned
it its partitions, so the producer can be started after that.

Usage: ref004_consumer.py DSN TABLE TOPIC BOOTSTRAP GROUP EXPECTED READY [IDLE_S]
"""
import datetime
import json
import sys
import time

import psycopg2
from kafka import KafkaConsumer, ConsumerRebalanceListener

COLUMNS = ["l_orderkey", "l_partkey", "l_suppkey", "l_linenumber", "l_quantity",
           "l_extendedprice", "l_discount", "l_tax", "l_returnflag", "l_linestatus",
           "l_shipdate", "l_commitdate", "l_receiptdate", "l_shipinstruct", "l_shipmode",
           "l_comment"]
DATES = {"l_shipdate", "l_commitdate", "l_receiptdate"}

CREATE = """CREATE TABLE IF NOT EXISTS {t} (
  l_orderkey bigint NOT NULL, l_partkey bigint NOT NULL, l_suppkey bigint NOT NULL,
  l_linenumber integer NOT NULL, l_quantity numeric(15,2) NOT NULL,
  l_extendedprice numeric(15,2) NOT NULL, l_discount numeric(15,2) NOT NULL,
  l_tax numeric(15,2) NOT NULL, l_returnflag char(1) NOT NULL, l_linestatus char(1) NOT NULL,
  l_shipdate date NOT NULL, l_commitdate date NOT NULL, l_receiptdate date NOT NULL,
  l_shipinstruct char(25) NOT NULL, l_shipmode char(10) NOT NULL, l_comment varchar(44) NOT NULL,
  PRIMARY KEY (l_orderkey, l_linenumber))"""


class Ready(ConsumerRebalanceListener):
    def __init__(self, path):
        self.path = path

    def on_partitions_assigned(self, assigned):
        if assigned:
            open(self.path, "w").close()

    def on_partitions_revoked(self, revoked):
        pass


def from_json_value(name, v):
    if name in DATES:
        return datetime.datetime.fromtimestamp(v, tz=datetime.timezone.utc).date()
    return v


def main(dsn, table, topic, bootstrap, group, expected, ready, idle_s="60"):
    expected = int(expected)
    conn = psycopg2.connect(dsn)
    cursor = conn.cursor()
    cursor.execute(CREATE.format(t=table))
    conn.commit()
    insert = (f"INSERT INTO {table} ({', '.join(COLUMNS)}) "
              f"VALUES ({', '.join(['%s'] * len(COLUMNS))})")

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=True,
                             value_deserializer=lambda m: json.loads(m.decode("utf-8")),
                             consumer_timeout_ms=int(float(idle_s) * 1000))
    consumer.subscribe([topic], listener=Ready(ready))
    written = 0
    for message in consumer:  # ends after idle_s without a message (consumer_timeout_ms)
        data = message.value
        cursor.execute(insert, [from_json_value(c, data[c]) for c in COLUMNS])
        conn.commit()
        print(f"Received: {data}")
        written += 1
        if written >= expected:
            break
    consumer.close()  # commits the offsets consumed (auto commit)
    cursor.close()
    conn.close()
    if written < expected:
        sys.exit(f"ref004_consumer: only {written} of {expected} rows arrived")


if __name__ == "__main__":
    if len(sys.argv) not in (8, 9):
        sys.exit(__doc__)
    main(*sys.argv[1:])
