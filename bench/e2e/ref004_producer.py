#!/usr/bin/env python3
"""Baseline A of bench/e2e/brokers.sh: the producer of reference 004 (PostgreSQL -> Kafka),
written from its description (/work/shared/reference/004_*.txt, "Producer (producer.py)"):

* connects to PostgreSQL and reads the rows WHERE sent_to_kafka = FALSE;
* sends each row to the topic as ONE JSON message (kafka-python, value_serializer = json.dumps,
  dates as epoch-second floats "for compatibility", as the reference does with its timestamp);
* flushes, then sets sent_to_kafka = TRUE for that row and commits: "a commit after every
  record" (the reference's duplicate protection);
* prints "Sent: {...}" per row.

Differences, all in the baseline's favour: the reference sleeps 0.5 s between sends (that would
cap it at 2 rows/s; omitted here), and its table is user_logins(id, username, event_type,
event_time); here it is the benchmark's lineitem columns plus sent_to_kafka, keyed by
(l_orderkey, l_linenumber). Producer settings are kafka-python's defaults (acks=1), as in the
reference.

Usage: ref004_producer.py DSN TABLE TOPIC BOOTSTRAP
"""
import datetime
import json
import sys

import psycopg2
from kafka import KafkaProducer

COLUMNS = ["l_orderkey", "l_partkey", "l_suppkey", "l_linenumber", "l_quantity",
           "l_extendedprice", "l_discount", "l_tax", "l_returnflag", "l_linestatus",
           "l_shipdate", "l_commitdate", "l_receiptdate", "l_shipinstruct", "l_shipmode",
           "l_comment"]
DATES = {"l_shipdate", "l_commitdate", "l_receiptdate"}
DECIMALS = {"l_quantity", "l_extendedprice", "l_discount", "l_tax"}
EPOCH = datetime.date(1970, 1, 1)


def to_json_value(name, v):
    if name in DATES:  # epoch seconds as a float, like the reference's 'timestamp'
        return float((v - EPOCH).days * 86400)
    if name in DECIMALS:
        return float(v)
    return v


def main(dsn, table, topic, bootstrap):
    conn = psycopg2.connect(dsn)
    cursor = conn.cursor()
    producer = KafkaProducer(bootstrap_servers=bootstrap,
                             value_serializer=lambda v: json.dumps(v).encode("utf-8"))

    cursor.execute(f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE sent_to_kafka = FALSE")
    rows = cursor.fetchall()
    for row in rows:
        data = {name: to_json_value(name, v) for name, v in zip(COLUMNS, row)}
        producer.send(topic, value=data)
        producer.flush()
        cursor.execute(f"UPDATE {table} SET sent_to_kafka = TRUE "
                       "WHERE l_orderkey = %s AND l_linenumber = %s", (row[0], row[3]))
        conn.commit()
        print(f"Sent: {data}")
        # time.sleep(0.5)  -- the reference's pause between sends, left out
    producer.close()
    cursor.close()
    conn.close()


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
