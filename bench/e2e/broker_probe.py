#!/usr/bin/env python3
"""Helpers of bench/e2e/brokers.sh (not timed themselves; they run beside the timed processes).

  broker_probe.py create-topic  BOOTSTRAP TOPIC PARTITIONS MAX_MESSAGE_BYTES
  broker_probe.py delete-topics BOOTSTRAP TOPIC...
  broker_probe.py messages      BOOTSTRAP TOPIC          # messages in the topic (sum of end offsets)
  broker_probe.py first-rows    OUT READY (pg DSN TABLE | sqlite PATH TABLE) [INTERVAL_S]

first-rows polls the sink every INTERVAL_S (default 0.01 s) until the table has a row, then
writes the wall-clock time (time.time(), seconds) to OUT and exits. It writes READY once its
connection is open, so the caller can start the timed processes only after that. One open
connection and `SELECT 1 FROM t LIMIT 1` per poll: negligible beside the import it watches.
"""
import sys
import time


def admin(bootstrap):
    from kafka.admin import KafkaAdminClient
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="sluice-bench-probe")


def create_topic(bootstrap, topic, partitions, max_message_bytes):
    from kafka.admin import NewTopic
    a = admin(bootstrap)
    a.create_topics([NewTopic(topic, int(partitions), 1,
                              topic_configs={"max.message.bytes": str(max_message_bytes)})])
    # Wait until the topic's metadata shows every partition with a leader.
    from kafka import KafkaConsumer
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    deadline = time.time() + 30
    while time.time() < deadline:
        parts = c.partitions_for_topic(topic)
        if parts and len(parts) == int(partitions):
            break
        time.sleep(0.05)
    else:
        sys.exit(f"topic {topic} did not appear")
    c.close()
    a.close()


def delete_topics(bootstrap, *topics):
    if not topics:
        return
    a = admin(bootstrap)
    try:
        a.delete_topics(list(topics))
    except Exception as e:  # already gone, or never created
        print(f"delete-topics: {e}", file=sys.stderr)
    a.close()


def messages(bootstrap, topic):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    parts = c.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in parts]
    ends = c.end_offsets(tps) if tps else {}
    begins = c.beginning_offsets(tps) if tps else {}
    print(sum(ends[tp] - begins[tp] for tp in tps))
    c.close()


def first_rows(out, ready, kind, where, table, interval="0.01"):
    interval = float(interval)
    if kind == "pg":
        import psycopg2
        conn = psycopg2.connect(where)
        conn.autocommit = True
        cur = conn.cursor()
        errors = (psycopg2.Error,)
        q = f"SELECT 1 FROM {table} LIMIT 1"
    elif kind == "sqlite":
        import sqlite3
        conn = None
        errors = (sqlite3.Error,)
        q = f'SELECT 1 FROM "{table}" LIMIT 1'
    else:
        sys.exit(f"unknown sink kind {kind}")
    open(ready, "w").close()
    while True:
        try:
            if kind == "sqlite":
                import os
                if conn is None:
                    if not os.path.exists(where):
                        time.sleep(interval)
                        continue
                    conn = sqlite3.connect(f"file:{where}?mode=ro", uri=True, timeout=0.05)
                row = conn.execute(q).fetchone()
            else:
                cur.execute(q)
                row = cur.fetchone()
            if row:
                t = time.time()
                with open(out, "w") as f:
                    f.write(f"{t:.6f}\n")
                return
        except errors:
            pass  # the table does not exist yet, or is locked: try again
        time.sleep(interval)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"create-topic": create_topic, "delete-topics": delete_topics, "messages": messages,
          "first-rows": first_rows}.get(cmd)
    if fn is None:
        sys.exit(__doc__)
    fn(*args)


if __name__ == "__main__":
    main()
