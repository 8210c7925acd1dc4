"""Parts through the real Kafka broker of scripts/services.sh (KRaft, 127.0.0.1:59092).

SQLite → Kafka → SQLite with several import workers; the importer killed with
SIGKILL 20 times while applying parts and restarted (the same consumer group)
→ the target equals the source; the same PostgreSQL → Kafka → PostgreSQL;
three importers in one group share a topic → exact; messages carry their
headers (read back with kcat, an independent client). Targets are compared
with Python's sqlite3 / psql, never with sluice. A broker or PostgreSQL that
is down fails the module (it does not skip). The broker restarted mid-run:
test_broker_restart.py (on a private broker).
"""

import os
import random
import signal
import sqlite3
import subprocess
import time
import uuid

import pytest

from brokers import (PgCounter, assert_pg_tables_equal, kill_cycles, pg_ledger_consistent,
                     pg_make_source, pg_server, sqlite_count, sqlite_ledger_consistent,
                     summarize_kills)
from runner import SLUICE, run

BROKER = os.environ.get("SLUICE_KAFKA_URI", "kafka://127.0.0.1:59092").removeprefix("kafka://")


@pytest.fixture(scope="module")
def broker():
    r = subprocess.run(["kcat", "-b", BROKER, "-L", "-m", "10"], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0 or "broker" not in r.stdout:
        pytest.fail(f"Kafka at {BROKER} is unreachable ({r.stderr.strip()}): "
                    "run scripts/services.sh up kafka", pytrace=False)
    return BROKER


def make_source(path, rows):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount REAL, note TEXT)")
    rng = random.Random(7)
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)",
                    ((i, f"name-{i}", rng.random() * 1000, None if i % 11 == 0 else "x" * (i % 300))
                     for i in range(1, rows + 1)))
    con.commit()
    con.close()


def table_state(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT count(*), count(DISTINCT id), total(id), total(length(note)) "
                           "FROM t").fetchone()
    finally:
        con.close()


def topic_uri(topic, **opts):
    q = "&".join(f"{k}={v}" for k, v in opts.items())
    return f"kafka://{BROKER}/{topic}" + (f"?{q}" if q else "")


def test_export_then_parallel_import_with_headers(broker, tmp_path):
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_source(src, 100_000)
    topic = f"sluice-e2e-{uuid.uuid4().hex[:8]}"
    r = run("export", f"sqlite://{src}?table=t", "--to", topic_uri(topic, create_topic="true"),
            "--part-size", "256KiB", "-q", "--stats-json", "-", check=True)
    import json
    st = json.loads(r.stdout)
    assert st["rows"] == 100_000 and st["parts"] > 3
    r = run("import", topic_uri(topic), "--into", f"sqlite://{dst}?table=t", "--workers", "3",
            "-q", "--stats-json", "-", check=True)
    assert json.loads(r.stdout)["rows"] == 100_000
    assert table_state(dst) == table_state(src)
    # Nothing new for the group: a normal outcome (0 rows, exit 0), not an error.
    again = json.loads(run("import", topic_uri(topic), "--into", f"sqlite://{dst}?table=t",
                           "-q", "--stats-json", "-", check=True).stdout)
    assert again["rows"] == 0 and again["duplicates"] == 0
    # An independent client sees one message per part plus the end part, with headers.
    k = subprocess.run(["kcat", "-C", "-b", BROKER, "-t", topic, "-e", "-q", "-f", "%h\\n"],
                       capture_output=True, text=True, timeout=60)
    assert k.returncode == 0, k.stderr
    lines = [x for x in k.stdout.splitlines() if x]
    assert len(lines) == st["parts"] + 1
    assert all("sluice-stream-id=" in x and "content-type=application/vnd.apache.arrow.stream" in x
               for x in lines)
    assert sum("sluice-end=1" in x for x in lines) == 1


KILL_CYCLES = 20


def test_importer_killed_at_random_moments_ends_exactly_once(broker, tmp_path):
    rows = 250_000
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_source(src, rows)
    topic = f"sluice-kill-{uuid.uuid4().hex[:8]}"
    run("export", f"sqlite://{src}?table=t", "--to",
        topic_uri(topic, create_topic="true", partitions="3"), "--part-size", "16KiB",
        "--workers", "2", "-q", check=True)
    # The same consumer group every time: a restarted importer resumes from
    # the committed offsets; parts applied but not committed are redelivered
    # and skipped by the sink's ledger. Static membership (group.instance.id)
    # lets the restarted importer take over the killed one's partitions at
    # once instead of after session_timeout (6 s, the broker's minimum) —
    # 20 cycles in seconds. The dynamic-membership path (waiting for the dead
    # member's session to expire) is the PostgreSQL variant below.
    uri = topic_uri(topic, group=f"g-{topic}", session_timeout="6s",
                    properties=f"group.instance.id%3Dkill-{topic}")
    rng = random.Random(20261121)

    def start():
        return subprocess.Popen([SLUICE, "import", uri, "--into", f"sqlite://{dst}?table=t",
                                 "--workers", "3", "-q"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)

    def check(cycle):
        assert sqlite_ledger_consistent(dst), f"cycle {cycle}: table rows != ledger rows"

    kills, (last,) = kill_cycles(KILL_CYCLES, start, lambda: sqlite_count(dst), rows, rng, check)
    print("kills:", summarize_kills(kills))
    # The kills landed while the import was running and applying parts, not
    # after it ended (an import of this table takes well under a second).
    assert sum(k["alive"] for k in kills) >= KILL_CYCLES - 1, summarize_kills(kills)
    assert sum(k["applying"] for k in kills) >= KILL_CYCLES * 2 // 3, summarize_kills(kills)
    # The importer started after the last kill runs to its end; then more runs
    # until the table is complete (a run that finds nothing left exits 0).
    _, err = last.communicate(timeout=300)
    assert last.returncode == 0, err
    for _ in range(3):
        if table_state(dst)[0] == rows:
            break
        r = run("import", uri, "--into", f"sqlite://{dst}?table=t", "--workers", "3", "-q",
                timeout=300)
        assert r.returncode == 0, r.stderr
    assert table_state(dst) == table_state(src)
    assert sqlite_ledger_consistent(dst)


def test_three_importers_in_one_group_share_the_topic(broker, tmp_path):
    src = tmp_path / "src.db"
    make_source(src, 120_000)
    topic = f"sluice-group-{uuid.uuid4().hex[:8]}"
    run("export", f"sqlite://{src}?table=t", "--to",
        topic_uri(topic, create_topic="true", partitions="3"), "--part-size", "128KiB", "-q",
        check=True)
    uri = topic_uri(topic, group=f"g-{topic}", session_timeout="6s")
    dst = tmp_path / "dst.db"
    procs = [subprocess.Popen([SLUICE, "import", uri, "--into", f"sqlite://{dst}?table=t",
                               "--workers", "2", "-q"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    # Each member imported its share (or found nothing left: also exit 0).
    for p, e in zip(procs, errs):
        assert p.returncode == 0, e
    if table_state(dst)[0] != 120_000:  # a member that ended early leaves the rest committed-free
        r = run("import", uri, "--into", f"sqlite://{dst}?table=t", "-q", timeout=300)
        assert r.returncode == 0, r.stderr
    assert table_state(dst) == table_state(src)


def test_exporter_killed_and_rerun_leaves_no_duplicates(broker, tmp_path):
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_source(src, 600_000)
    topic = f"sluice-reexport-{uuid.uuid4().hex[:8]}"
    args = ["--part-size", "16KiB", "--workers", "1"]
    # Frozen (SIGSTOP) right after its third part is handed to the producer,
    # killed once the broker holds some of its parts (counted with kcat): a
    # stream cut short. The re-run uses the same --part-size, so it cuts the
    # same parts with the same ids.
    p = subprocess.Popen([SLUICE, "export", f"sqlite://{src}?table=t", "--to",
                          topic_uri(topic, create_topic="true"), *args, "-v", "--progress",
                          "never"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    published = 0
    for line in p.stderr:
        if " published " in line:
            published += 1
            if published == 3:
                p.send_signal(signal.SIGSTOP)
                break
    alive = p.poll() is None
    on_broker = 0
    deadline = time.time() + 20
    while alive and on_broker == 0 and time.time() < deadline:
        k = subprocess.run(["kcat", "-C", "-b", BROKER, "-t", topic, "-e", "-q", "-f", "x\n"],
                           capture_output=True, text=True, timeout=30)
        on_broker = k.stdout.count("x")
        if on_broker == 0:  # let the producer thread deliver, then freeze again
            p.send_signal(signal.SIGCONT)
            time.sleep(0.01)
            p.send_signal(signal.SIGSTOP)
    p.kill()
    p.wait(timeout=60)
    assert alive and 1 <= on_broker, "the first export ended before the kill"
    run("export", f"sqlite://{src}?table=t", "--to", topic_uri(topic), *args, "-q", check=True)
    import json
    r = run("import", topic_uri(topic), "--into", f"sqlite://{dst}?table=t", "--workers", "3",
            "-q", "--stats-json", "-", check=True)
    st = json.loads(r.stdout)
    assert table_state(dst) == table_state(src)
    # The killed run's parts on the broker were applied once, their copies skipped.
    assert st["duplicates"] >= on_broker, st


@pytest.fixture(scope="module")
def pg():
    server = pg_server("kafka")
    yield server
    server.drop_scratch()


def test_postgres_to_kafka_to_postgres_with_kills(broker, pg, tmp_path):
    """PG → Kafka → PG, the importer SIGKILLed while applying, 3 times, in the
    same consumer group with dynamic membership: each restarted importer
    waits for the killed member's session to expire (session_timeout 6 s)
    before it gets the partition, then resumes from the committed offset.
    Compared in PostgreSQL: state and a row-by-row diff against the source."""
    rows = 120_000
    pg_make_source(pg, "src", rows)
    topic = f"sluice-pg-{uuid.uuid4().hex[:8]}"
    run("export", pg.sluice_uri("src"), "--to", topic_uri(topic, create_topic="true"),
        "--part-size", "64KiB", "-q", check=True)
    uri = topic_uri(topic, group=f"g-{topic}", session_timeout="6s")
    dst = pg.sluice_uri("dst")
    count = PgCounter(pg, "dst")

    def start():
        return subprocess.Popen([SLUICE, "import", uri, "--into", dst, "--workers", "3", "-q"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def check(cycle):
        assert pg_ledger_consistent(pg, "dst"), f"cycle {cycle}: table rows != ledger rows"

    kills, (last,) = kill_cycles(3, start, count, rows,
                                 random.Random(7), check, early=0)
    print("kills:", summarize_kills(kills))
    assert all(k["applying"] for k in kills), summarize_kills(kills)
    _, err = last.communicate(timeout=300)
    assert last.returncode == 0, err
    for _ in range(3):
        if count() == rows:
            break
        r = run("import", uri, "--into", dst, "--workers", "3", "-q", timeout=300)
        assert r.returncode == 0, r.stderr
    assert_pg_tables_equal(pg, "src", "dst")
    assert pg_ledger_consistent(pg, "dst")
    count.close()
