"""Kafka beyond native parts, against the real broker of scripts/services.sh.

* --message-format json: one JSON object per row, read back by two
  independent clients (kcat and kafka-python); messages written by a
  kafka-python producer in the reference 004 style (epoch float timestamps)
  imported into PostgreSQL; the JSON importer killed with SIGKILL at random
  moments and restarted → every row exactly once (no primary key: only the
  part ledger and the committed batch bounds stand between a redelivery and
  a duplicate).
* One export spread over a topic's partitions, imported by three processes
  of one consumer group started before the export with --until-end → each
  waits for the end and the union is exact.

Targets are compared with sqlite3 / psycopg2, never with sluice. A broker
that is down fails the module (it does not skip).
"""

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
import uuid

import pytest

from runner import SLUICE, run

BROKER = os.environ.get("SLUICE_KAFKA_URI", "kafka://127.0.0.1:59092").removeprefix("kafka://")
PG_URI = os.environ.get("SLUICE_PG_URI", "postgres://postgres@127.0.0.1:55432/sluice_test")


@pytest.fixture(scope="module")
def broker():
    r = subprocess.run(["kcat", "-b", BROKER, "-L", "-m", "10"], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0 or "broker" not in r.stdout:
        pytest.fail(f"Kafka at {BROKER} is unreachable ({r.stderr.strip()}): "
                    "run scripts/services.sh up kafka", pytrace=False)
    return BROKER


def topic_uri(topic, **opts):
    q = "&".join(f"{k}={v}" for k, v in opts.items())
    return f"kafka://{BROKER}/{topic}" + (f"?{q}" if q else "")


def new_topic(kind):
    return f"sluice-{kind}-{uuid.uuid4().hex[:8]}"


def make_source(path, rows):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount REAL, note TEXT)")
    rng = random.Random(11)
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)",
                    ((i, f"имя-{i} 🚀" if i % 7 == 0 else f"name-{i}", rng.random() * 1000,
                      None if i % 11 == 0 else "x" * (i % 200)) for i in range(1, rows + 1)))
    con.commit()
    con.close()


def table_state(path, table="t"):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(f"SELECT count(*), count(DISTINCT id), total(id), "
                           f"total(length(note)), sum(CAST(amount * 1e6 AS INTEGER)) FROM {table}").fetchone()
    finally:
        con.close()


def table_state_if_any(path, table="t"):
    """table_state, or None while there is no table yet: the SQLite sink creates
    the file before the table, and a kill can fall between the two."""
    if not path.exists():
        return None
    try:
        return table_state(path, table)
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return None
        raise


def source_rows(path):
    con = sqlite3.connect(path)
    try:
        return {r[0]: r for r in con.execute("SELECT id, name, amount, note FROM t")}
    finally:
        con.close()


def test_json_rows_are_read_by_kcat_and_kafka_python(broker, tmp_path):
    from kafka import KafkaConsumer

    src = tmp_path / "src.db"
    make_source(src, 20_000)
    topic = new_topic("json")
    st = json.loads(run("export", f"sqlite://{src}?table=t", "--to",
                        topic_uri(topic, create_topic="true", partitions="2"),
                        "--message-format", "json", "-q", "--stats-json", "-", check=True).stdout)
    assert st["rows"] == 20_000
    want = source_rows(src)

    # kcat: one message per row, the primary key as the message key.
    k = subprocess.run(["kcat", "-C", "-b", BROKER, "-t", topic, "-e", "-q", "-f", "%k\t%s\n"],
                       capture_output=True, text=True, timeout=120)
    assert k.returncode == 0, k.stderr
    lines = [x for x in k.stdout.split("\n") if x]
    assert len(lines) == 20_000
    seen = set()
    for line in lines:
        key, value = line.split("\t", 1)
        row = json.loads(value)
        assert list(row) == ["id", "name", "amount", "note"]
        assert key == str(row["id"])
        assert (row["id"], row["name"], row["amount"], row["note"]) == want[row["id"]]
        seen.add(row["id"])
    assert seen == set(want)

    # kafka-python (the reference 004 client) as a consumer group member.
    consumer = KafkaConsumer(topic, bootstrap_servers=BROKER, group_id=f"py-{topic}",
                             auto_offset_reset="earliest", consumer_timeout_ms=10_000,
                             value_deserializer=lambda v: json.loads(v.decode("utf-8")))
    got = {}
    try:
        for msg in consumer:
            headers = dict(msg.headers)
            assert headers["content-type"] == b"application/json"
            got[msg.value["id"]] = msg.value
            if len(got) == 20_000:
                break
    finally:
        consumer.close()
    assert {i: (v["id"], v["name"], v["amount"], v["note"]) for i, v in got.items()} == want


def test_reference_004_messages_import_into_postgres(broker, tmp_path):
    """A kafka-python producer sends one JSON message per row with an epoch
    float timestamp (reference 004); sluice batches them into parts."""
    import psycopg2
    from kafka import KafkaProducer

    topic = new_topic("ref004")
    subprocess.run(["kcat", "-b", BROKER, "-L", "-t", topic], capture_output=True, timeout=30)
    rows = 30_000
    base = 1672531200.0
    producer = KafkaProducer(bootstrap_servers=BROKER, acks="all",
                             value_serializer=lambda v: json.dumps(v).encode("utf-8"))
    for i in range(rows):
        producer.send(topic, {"user": f"user{i % 97}", "event": "login" if i % 3 else "logout",
                              "timestamp": base + i + (i % 1000) / 1000.0, "id": i})
    producer.flush()
    producer.close()

    table = f"user_logins_{uuid.uuid4().hex[:6]}"
    schema = "id:int64:key,user:string,event:string,timestamp:timestamp"
    r = run("import", topic_uri(topic, schema=schema, batch_rows="4000"), "--message-format",
            "json", "--group", f"g-{topic}", "--into", f"{PG_URI}?table={table}", "--workers", "2",
            "-q", "--stats-json", "-", check=True)
    st = json.loads(r.stdout)
    assert st["rows"] == rows and st["parts"] >= rows // 4000
    con = psycopg2.connect(PG_URI.replace("postgres://", "postgresql://"))
    try:
        cur = con.cursor()
        cur.execute(f"SELECT count(*), count(DISTINCT id), min(timestamp), max(timestamp), "
                    f"sum(extract(epoch from timestamp)) FROM {table}")
        count, distinct, lo, hi, total = cur.fetchone()
        assert count == distinct == rows
        assert str(lo) == "2023-01-01 00:00:00"
        assert str(hi) == "2023-01-01 08:19:59.999000"
        expect = sum(base + i + (i % 1000) / 1000.0 for i in range(rows))
        assert abs(float(total) - expect) < 1e-3
        cur.execute(f"SELECT \"user\", event FROM {table} WHERE id = 4")
        assert cur.fetchone() == ("user4", "login")
        cur.execute(f"DROP TABLE {table}")
        con.commit()
    finally:
        con.close()


def test_json_importer_killed_at_random_moments_is_exact(broker, tmp_path):
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    rows = 200_000
    make_source(src, rows)
    topic = new_topic("jsonkill")
    run("export", f"sqlite://{src}?table=t", "--to",
        topic_uri(topic, create_topic="true", partitions="3"), "--message-format", "json", "-q",
        check=True)
    # The target has no primary key (the schema is inferred): a batch applied
    # twice would show up as duplicate ids. Small batches: many commits to hit.
    uri = topic_uri(topic, group=f"g-{topic}", session_timeout="6s", batch_rows="1500")
    rng = random.Random(4004)
    kills = partial = 0
    for _ in range(10):
        state = table_state_if_any(dst)
        before = state[0] if state else 0
        # Killed once it has applied a few more batches (or at once, at random).
        target = before + rng.choice([0, 1, 3, 8, 20]) * 1500
        p = subprocess.Popen([SLUICE, "import", uri, "--message-format", "json", "--into",
                              f"sqlite://{dst}?table=t", "--workers", "3", "-q"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while p.poll() is None and time.time() < deadline:
            state = table_state_if_any(dst)
            if state and state[0] >= target:
                break
            time.sleep(0.02)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        err = p.communicate(timeout=120)[1].decode()
        assert p.returncode in (0, -signal.SIGKILL), err
        state = table_state_if_any(dst)
        if state:
            count, distinct = state[:2]
            partial += 0 < count < rows
            assert count == distinct, "a row was applied twice"
    assert kills > 0 and partial > 0
    for _ in range(3):
        r = run("import", uri, "--message-format", "json", "--into", f"sqlite://{dst}?table=t",
                "--workers", "3", "-q", timeout=300)
        assert r.returncode == 0, r.stderr
        if table_state(dst)[0] == rows:
            break
    assert table_state(dst) == table_state(src)


def test_one_export_is_shared_by_three_importers_waiting_until_the_end(broker, tmp_path):
    src = tmp_path / "src.db"
    rows = 150_000
    make_source(src, rows)
    topic = new_topic("spread")
    # The topic exists (empty) before the importers join; the export spreads
    # its parts over the 3 partitions and closes the stream in each.
    from kafka.admin import KafkaAdminClient, NewTopic
    admin = KafkaAdminClient(bootstrap_servers=BROKER)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1,
                                  topic_configs={"max.message.bytes": str(8 << 20)})])
    admin.close()
    dsts = [tmp_path / f"dst{i}.db" for i in range(3)]
    group = f"g-{topic}"
    procs = [subprocess.Popen([SLUICE, "import", topic_uri(topic, session_timeout="6s"),
                               "--group", group, "--until-end", "--into",
                               f"sqlite://{d}?table=t", "--workers", "2", "-q", "--stats-json",
                               "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for d in dsts]
    time.sleep(8)  # the members join and wait: the big stream has not started
    assert all(p.poll() is None for p in procs), "an importer ended before the export ran"
    run("export", f"sqlite://{src}?table=t", "--to", topic_uri(topic), "--part-size", "64KiB",
        "-q", check=True)
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    stats = [json.loads(out) for out, _ in outs]
    # The work was shared, and the union of the three targets is the source.
    assert sum(s["rows"] for s in stats) >= rows
    assert sum(1 for s in stats if s["parts"] > 0) >= 2, stats
    union = tmp_path / "union.db"
    con = sqlite3.connect(union)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount REAL, note TEXT)")
    for d in dsts:
        if d.exists():
            con.execute("ATTACH ? AS s", (str(d),))
            con.execute("INSERT INTO t SELECT id, name, amount, note FROM s.t")
            con.commit()
            con.execute("DETACH s")
    con.commit()
    con.close()
    # Each part went to exactly one member (a duplicate id would fail the
    # PRIMARY KEY insert above).
    assert table_state(union) == table_state(src)


AMQP = os.environ.get("SLUICE_AMQP_URI", "amqp://guest:guest@127.0.0.1:55672/%2f")


def amqp_bodies(queue, count):
    """The bodies of `count` messages of `queue`, read by amqp-consume (rabbitmq-c's
    command-line client, not sluice), one line each."""
    base = AMQP.rsplit("/", 1)[0]
    r = subprocess.run(["amqp-consume", "-u", base, "-q", queue, "-c", str(count), "-p", "100",
                        "--", "sh", "-c", "cat; echo"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return [x for x in r.stdout.split("\n") if x]


def test_rabbitmq_json_rows_and_tdtp_packets(tmp_path):
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_source(src, 3_000)
    want = source_rows(src)
    queue = f"json-{uuid.uuid4().hex[:8]}"
    run("export", f"sqlite://{src}?table=t", "--to", f"{AMQP}?queue={queue}",
        "--message-format", "json", "-q", check=True)
    rows = [json.loads(b) for b in amqp_bodies(queue, 3_000)]
    assert len(rows) == 3_000
    assert {r["id"]: (r["id"], r["name"], r["amount"], r["note"]) for r in rows} == want

    # TDTP packets through a queue come back exactly (TDTP framework consumers read them too).
    queue = f"tdtp-{uuid.uuid4().hex[:8]}"
    run("export", f"sqlite://{src}?table=t", "--to", f"{AMQP}?queue={queue}",
        "--message-format", "tdtp", "--part-size", "64KiB", "-q", check=True)
    run("import", f"{AMQP}?queue={queue}", "--into", f"sqlite://{dst}?table=t", "-q", check=True)
    assert table_state(dst) == table_state(src)


def test_rabbitmq_json_rows_import_with_competing_consumers(tmp_path):
    """JSON messages through a queue, imported by two competing processes
    into a keyed table (mode=upsert: RabbitMQ row batches are at-least-once,
    the key makes a redelivered row harmless)."""
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_source(src, 40_000)
    queue = f"jsonin-{uuid.uuid4().hex[:8]}"
    run("export", f"sqlite://{src}?table=t", "--to", f"{AMQP}?queue={queue}",
        "--message-format", "json", "-q", check=True)
    uri = f"{AMQP}?queue={queue}&batch_rows=3000&schema=id:int64:key,name:string," \
          f"amount:float64,note:string"
    procs = [subprocess.Popen([SLUICE, "import", uri, "--message-format", "json", "--into",
                               f"sqlite://{dst}?table=t&mode=upsert", "--workers", "2", "-q",
                               "--stats-json", "-"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    stats = [json.loads(o) for o, _ in outs]
    assert table_state(dst) == table_state(src), stats
    # At least once: a batch requeued by a member that stopped may be applied twice.
    assert sum(s["rows"] for s in stats) >= 40_000, stats


def test_kafka_poison_part_goes_to_the_dead_letter_topic_and_is_reported(broker, tmp_path):
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_source(src, 20_000)
    topic, dlq = new_topic("poison"), new_topic("poison-dlq")
    from kafka.admin import KafkaAdminClient, NewTopic
    admin = KafkaAdminClient(bootstrap_servers=BROKER)
    admin.create_topics([NewTopic(dlq, num_partitions=1, replication_factor=1,
                                  topic_configs={"max.message.bytes": str(8 << 20)})])
    admin.close()
    run("export", f"sqlite://{src}?table=t", "--to", topic_uri(topic, create_topic="true"),
        "--part-size", "64KiB", "-q", check=True)
    # A poison message among the parts: bytes no decoder accepts.
    p = subprocess.run(["kcat", "-P", "-b", BROKER, "-t", topic, "-k", "poison"],
                       input=b"\x00garbage, not a part", capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    uri = topic_uri(topic, dead_letter_topic=dlq)
    # Default policy: the run fails naming the message, and commits nothing past it.
    r = run("import", uri, "--group", f"g-{topic}", "--into", f"sqlite://{dst}?table=t", "-q")
    assert r.returncode == 1 and f"{topic}[0]@" in r.stderr, r.stderr
    # skip-part: the part goes to the dead-letter topic and the reject dir, and is reported.
    rejects = tmp_path / "rejects"
    r = run("import", uri, "--group", f"g-{topic}", "--into", f"sqlite://{dst}?table=t",
            "--on-error", "skip-part", "--reject-dir", str(rejects), "--stats-json", "-", "-q")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["skipped_parts"] == 1, st
    assert table_state(dst) == table_state(src)
    k = subprocess.run(["kcat", "-C", "-b", BROKER, "-t", dlq, "-e", "-q", "-f", "%h|%s\n"],
                       capture_output=True, timeout=60)
    assert k.returncode == 0, k.stderr
    assert k.stdout.count(b"garbage, not a part") == 1
    assert f"sluice-origin={topic}[0]@".encode() in k.stdout
    assert len(list(rejects.iterdir())) == 1


def test_relay_forwards_parts_unchanged(broker, tmp_path):
    """parts directory -> Kafka byte for byte: the same part ids, so a second
    relay of the same directory is recognized by the destination's ledger."""
    src, dst, parts = tmp_path / "src.db", tmp_path / "dst.db", tmp_path / "parts"
    make_source(src, 30_000)
    run("export", f"sqlite://{src}?table=t", "--to", f"parts://{parts}", "--part-size", "64KiB",
        "-q", check=True)
    files = sorted(p.read_bytes() for p in parts.iterdir() if p.suffix == ".part")
    topic = new_topic("relay")
    for _ in range(2):
        st = json.loads(run("relay", f"parts://{parts}", "--to",
                            topic_uri(topic, create_topic="true", partitions="2"), "-q",
                            "--stats-json", "-", check=True).stdout)
        assert st["rows"] == 30_000 and st["parts"] == len(files) - 1  # + the end part
    # The topic holds the directory's bytes twice, unchanged (the end part
    # once per partition each time).
    from kafka import KafkaConsumer
    consumer = KafkaConsumer(topic, bootstrap_servers=BROKER, auto_offset_reset="earliest",
                             consumer_timeout_ms=10_000, group_id=None)
    got = sorted(m.value for m in consumer)
    consumer.close()
    assert sorted(set(got)) == sorted(set(files))
    assert len(got) == 2 * (len(files) - 1) + 2 * 2
    st = json.loads(run("import", topic_uri(topic), "--into", f"sqlite://{dst}?table=t", "-q",
                        "--stats-json", "-", check=True).stdout)
    assert st["rows"] == 30_000 and st["duplicates"] == len(files) - 1, st
    assert table_state(dst) == table_state(src)


def test_follow_import_stopped_by_sigint_commits_the_destination(broker, tmp_path):
    """--follow ends with SIGINT: the PostgreSQL table it created still gets
    the primary key the sink adds when the load commits."""
    import psycopg2
    src = tmp_path / "src.db"
    make_source(src, 20_000)
    topic = new_topic("follow")
    run("export", f"sqlite://{src}?table=t", "--to", topic_uri(topic, create_topic="true"), "-q",
        check=True)
    table = f"follow_{uuid.uuid4().hex[:6]}"
    p = subprocess.Popen([SLUICE, "import", topic_uri(topic, lag_interval="1s"), "--follow",
                          "--into", f"{PG_URI}?table={table}", "-q"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    con = psycopg2.connect(PG_URI.replace("postgres://", "postgresql://"))
    con.autocommit = True
    cur = con.cursor()
    try:
        deadline = time.time() + 60
        count = 0
        while time.time() < deadline and count < 20_000:
            time.sleep(0.2)
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
            if cur.fetchone()[0]:
                cur.execute(f"SELECT count(*) FROM {table}")
                count = cur.fetchone()[0]
        assert count == 20_000 and p.poll() is None, "the follower did not import and keep going"
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 128 + signal.SIGINT, err
        cur.execute("SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass AND indisprimary",
                    (table,))
        assert cur.fetchone()[0] == 1, "no primary key after the follower stopped"
        cur.execute(f"SELECT count(*), count(DISTINCT id) FROM {table}")
        assert cur.fetchone() == (20_000, 20_000)
        cur.execute(f"DROP TABLE {table}")
    finally:
        con.close()
