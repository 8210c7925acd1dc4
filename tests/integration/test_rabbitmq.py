"""Parts through the real RabbitMQ of scripts/services.sh (127.0.0.1:55672).

SQLite → RabbitMQ queue → SQLite with several workers; two importers
competing on one queue (work sharing), one of them SIGKILLed 20 times while
they apply parts → exact (unacked parts return to the queue, the sink's
ledger skips what was applied); the same PostgreSQL → queue → PostgreSQL.
Targets are compared with Python's sqlite3 / psql, never with sluice. A
broker or PostgreSQL that is down fails the module (it does not skip).
TLS: test_rabbitmq_tls.py; the broker restarted mid-run:
test_broker_restart.py (both on private nodes).
"""

import json
import os
import random
import socket
import sqlite3
import subprocess
import urllib.parse
import uuid

import pytest

from brokers import (PgCounter, assert_pg_tables_equal, kill_cycles, pg_ledger_consistent,
                     pg_make_source, pg_server, sqlite_count, sqlite_ledger_consistent,
                     summarize_kills)
from runner import SLUICE, run

AMQP = os.environ.get("SLUICE_AMQP_URI", "amqp://guest:guest@127.0.0.1:55672/%2f")


@pytest.fixture(scope="module")
def broker():
    u = urllib.parse.urlsplit(AMQP)
    try:
        socket.create_connection((u.hostname, u.port or 5672), timeout=5).close()
    except OSError as e:
        pytest.fail(f"RabbitMQ at {u.hostname}:{u.port} is unreachable ({e}): "
                    "run scripts/services.sh up rabbitmq", pytrace=False)
    return AMQP


def make_source(path, rows):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, note TEXT)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)",
                    ((i, f"name-{i}", None if i % 13 == 0 else "y" * (i % 400))
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


def queue_uri(queue, **opts):
    q = "&".join([f"queue={queue}"] + [f"{k}={v}" for k, v in opts.items()])
    return f"{AMQP}?{q}"


def export(src, queue):
    r = run("export", f"sqlite://{src}?table=t", "--to", queue_uri(queue), "--part-size",
            "128KiB", "-q", "--stats-json", "-", check=True)
    return json.loads(r.stdout)


def test_export_then_parallel_import(broker, tmp_path):
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_source(src, 80_000)
    queue = f"sluice-e2e-{uuid.uuid4().hex[:8]}"
    st = export(src, queue)
    assert st["rows"] == 80_000 and st["parts"] > 3
    r = run("import", queue_uri(queue, idle_ms="500"), "--into", f"sqlite://{dst}?table=t",
            "--workers", "3", "-q", "--stats-json", "-", check=True)
    assert json.loads(r.stdout)["rows"] == 80_000
    assert table_state(dst) == table_state(src)
    # The queue is drained: a second import finds nothing, which is not an error.
    again = json.loads(run("import", queue_uri(queue, idle_ms="300"), "--into",
                           f"sqlite://{dst}?table=t", "-q", "--stats-json", "-",
                           check=True).stdout)
    assert again["rows"] == 0


KILL_CYCLES = 20


def test_two_importers_share_a_queue_and_survive_kills(broker, tmp_path):
    rows = 400_000
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_source(src, rows)
    queue = f"sluice-kill-{uuid.uuid4().hex[:8]}"
    run("export", f"sqlite://{src}?table=t", "--to", queue_uri(queue), "--part-size", "16KiB",
        "-q", check=True)
    uri = queue_uri(queue, idle_ms="500")
    rng = random.Random(20261121)

    # Two importers compete for the queue at all times; 20 times one of them,
    # chosen at random, is SIGKILLed while they apply parts and a new one takes
    # its place: each kill leaves parts delivered but unacked (the broker
    # requeues them) and parts committed but unacked (redelivered, skipped by
    # the sink's ledger).
    def start():
        # One worker each: a slower pair, so that 20 kills fit in the table.
        return subprocess.Popen([SLUICE, "import", uri, "--into", f"sqlite://{dst}?table=t",
                                 "--workers", "1", "-q"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)

    def check(cycle):
        assert sqlite_ledger_consistent(dst), f"cycle {cycle}: table rows != ledger rows"

    kills, last = kill_cycles(KILL_CYCLES, start, lambda: sqlite_count(dst), rows, rng, check,
                              pool=2, early_max=0.05)
    print("kills:", summarize_kills(kills))
    # The kills landed while the imports were running and applying parts,
    # not after they ended (importing this queue takes about a second).
    assert sum(k["alive"] for k in kills) >= KILL_CYCLES - 1, summarize_kills(kills)
    assert sum(k["applying"] for k in kills) >= KILL_CYCLES * 2 // 3, summarize_kills(kills)
    # The two importers left run to the end: the union is exact.
    for p in last:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert table_state(dst) == table_state(src)
    assert sqlite_ledger_consistent(dst)


def test_poison_part_goes_to_the_dead_letter_queue_and_is_reported(broker, tmp_path):
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_source(src, 20_000)
    queue = f"sluice-poison-{uuid.uuid4().hex[:8]}"
    export(src, queue)
    # A message that is not a part, published by an independent client.
    u = urllib.parse.urlsplit(AMQP)
    amqp_url = f"amqp://{u.username}:{u.password}@{u.hostname}:{u.port}"
    p = subprocess.run(["amqp-publish", "-u", amqp_url, "-r", queue, "-p",
                        "-b", "definitely not an Arrow stream"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    rejects = tmp_path / "rejects"
    r = run("import", queue_uri(queue, idle_ms="500"), "--into", f"sqlite://{dst}?table=t",
            "--workers", "2", "--on-error", "skip-part", "--reject-dir", rejects, "-q",
            "--stats-json", "-")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["skipped_parts"] == 1 and len(st["skipped"]) == 1, st
    assert table_state(dst) == table_state(src)
    # The poison message is in <queue>.dead, byte for byte, and in the reject dir.
    g = subprocess.run(["amqp-get", "-u", amqp_url, "-q", f"{queue}.dead"], capture_output=True,
                       timeout=30)
    assert g.returncode == 0, g.stderr
    assert g.stdout == b"definitely not an Arrow stream"
    assert [f.read_bytes() for f in rejects.iterdir()] == [b"definitely not an Arrow stream"]


def test_exporter_killed_and_rerun_leaves_no_duplicates(broker, tmp_path):
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_source(src, 200_000)
    queue = f"sluice-reexport-{uuid.uuid4().hex[:8]}"
    # Killed right after its third part is published (debug log line), mid-stream; the
    # re-run uses the same --part-size, so it cuts the same parts with the same ids.
    p = subprocess.Popen([SLUICE, "export", f"sqlite://{src}?table=t", "--to", queue_uri(queue),
                          "--part-size", "128KiB", "--workers", "1", "-v", "--progress", "never"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    published = 0
    for line in p.stderr:
        if " published " in line:
            published += 1
            if published == 3:
                break
    killed = p.poll() is None
    p.kill()
    p.wait(timeout=60)
    assert published == 3
    export(src, queue)  # the re-run publishes every part again, with the same ids
    r = run("import", queue_uri(queue, idle_ms="500"), "--into", f"sqlite://{dst}?table=t",
            "--workers", "3", "-q", "--stats-json", "-", check=True)
    st = json.loads(r.stdout)
    assert table_state(dst) == table_state(src)
    assert killed, "the first export finished before the kill: make the source bigger"
    # The killed run's parts came again from the re-run: the ledger skipped them.
    assert st["duplicates"] > 0, st


@pytest.fixture(scope="module")
def pg():
    server = pg_server("amqp")
    yield server
    server.drop_scratch()


def test_postgres_to_rabbitmq_to_postgres_with_kills(broker, pg, tmp_path):
    """PG → queue → PG: an importer SIGKILLed while applying, then two
    competing importers, one of them SIGKILLed while they apply parts, 5
    times. Compared in PostgreSQL: state and a row-by-row diff against the
    source."""
    rows = 300_000
    pg_make_source(pg, "src", rows)
    queue = f"sluice-pg-{uuid.uuid4().hex[:8]}"
    run("export", pg.sluice_uri("src"), "--to", queue_uri(queue), "--part-size", "64KiB", "-q",
        check=True)
    uri = queue_uri(queue, idle_ms="500")
    dst = pg.sluice_uri("dst")
    count = PgCounter(pg, "dst")

    def start():
        return subprocess.Popen([SLUICE, "import", uri, "--into", dst, "--workers", "2", "-q"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def check(cycle):
        assert pg_ledger_consistent(pg, "dst"), f"cycle {cycle}: table rows != ledger rows"

    rng = random.Random(7)
    # Two competing importers from the start: both find no table and no
    # ledger, and the sink's setup lock lets them create them one after the
    # other (CREATE TABLE IF NOT EXISTS alone races in PostgreSQL).
    kills, last = kill_cycles(6, start, count, rows, rng, check, pool=2, early=0)
    print("kills:", summarize_kills(kills))
    assert sum(k["applying"] for k in kills) >= 5, summarize_kills(kills)
    for p in last:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert_pg_tables_equal(pg, "src", "dst")
    assert pg_ledger_consistent(pg, "dst")
    count.close()
