"""Parts through the real RabbitMQ of scripts/services.sh (127.0.0.1:55672).

SQLite → RabbitMQ queue → SQLite with several workers; two importers
competing on one queue (work sharing) → exact; importers SIGKILLed at random
moments and re-run → exact (unacked parts return to the queue, the sink's
ledger skips what was applied). Targets are compared with Python's sqlite3.
A broker that is down fails the module (it does not skip).
"""

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.parse
import uuid

import pytest

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


def test_two_importers_share_a_queue_and_survive_kills(broker, tmp_path):
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_source(src, 120_000)
    queue = f"sluice-kill-{uuid.uuid4().hex[:8]}"
    export(src, queue)
    uri = queue_uri(queue, idle_ms="500")
    rng = random.Random(20261121)
    kills = 0
    for _ in range(6):
        procs = [subprocess.Popen([SLUICE, "import", uri, "--into", f"sqlite://{dst}?table=t",
                                   "--workers", "2", "-q"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for _ in range(2)]
        time.sleep(rng.uniform(0.2, 1.5))
        victim = procs[rng.randrange(2)]
        if victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
            kills += 1
        for p in procs:
            p.wait(timeout=120)
    # Two importers to the end: the union is exact.
    procs = [subprocess.Popen([SLUICE, "import", uri, "--into", f"sqlite://{dst}?table=t",
                               "--workers", "2", "-q"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert kills > 0
    assert table_state(dst) == table_state(src)


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
