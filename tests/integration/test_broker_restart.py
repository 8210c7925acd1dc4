"""The broker stopped and restarted in the middle of an export + import.

Each test runs a private broker (brokers.PrivateBroker: scripts/services.sh
with its own data dir under the test's tmp dir, own ports, for RabbitMQ its
own node name) so the shared brokers other tests use are never touched.

SQLite (200k rows) → broker → SQLite. The exporter is frozen (SIGSTOP) once
the broker holds some of its parts and the importer once it has applied
some: both are then certainly mid-run, whatever the machine's speed (both
would otherwise finish in about a second). The broker is stopped (Kafka:
SIGTERM or SIGKILL, parametrized; RabbitMQ: SIGKILL of the node), both
processes continue (SIGCONT) against the dead broker, and it is restarted
(same data dir; Kafka in KRaft mode keeps its metadata there) 3 s later.

Each process must then either recover (exit 0) or fail with exit 1 and an
error naming the broker (host:port) — never crash, never hang. Then the export
is re-run if it failed, and the import until the target is complete: the
target must equal the source exactly (count, distinct ids, sums; Python's
sqlite3). Seen so far: Kafka recovers (librdkafka reconnects; the import,
not following, may end at the end of the topic before the export does, and
the next import takes the rest); the RabbitMQ connector does not reconnect,
so both runs fail naming the broker and the re-runs are exact. Both outcomes
pass: the contract is exactness, not which one.
"""

import random
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

from brokers import PrivateBroker, sqlite_count, sqlite_state, wait_for_rows
from runner import SLUICE, run

ROWS = 200_000
OUTAGE_S = 3


def make_source(path, rows):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount REAL, note TEXT)")
    rng = random.Random(11)
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)",
                    ((i, f"name-{i}", round(rng.random() * 1000, 3),
                      None if i % 11 == 0 else "x" * (i % 300)) for i in range(1, rows + 1)))
    con.commit()
    con.close()


class Proc:
    """A sluice process whose stderr is drained by a thread (a full pipe
    would block it), with an event set once `marker` was seen `count` times."""

    def __init__(self, args, marker=None, count=0):
        self.p = subprocess.Popen([SLUICE, *map(str, args)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.seen = threading.Event()
        self.t = threading.Thread(target=self._drain, args=(marker, count), daemon=True)
        self.t.start()

    def _drain(self, marker, count):
        n = 0
        for line in self.p.stderr:
            self.lines.append(line)
            if marker and marker in line:
                n += 1
                if n >= count:
                    self.seen.set()

    def wait(self, timeout):
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError(f"sluice {' '.join(self.p.args[1:3])} hung: still running "
                                 f"{timeout} s after the broker restart")
        self.t.join(timeout=30)
        return rc

    @property
    def stderr(self):
        return "".join(self.lines)

    def errors(self):
        return "".join(x for x in self.lines if "error" in x.lower())[-2000:]


def restart_mid_run(tmp_path, broker, to_uri, from_uri, stop, on_broker=None):
    """Export + import with `stop(broker)` while both are mid-run; returns the
    outcome (exit codes and errors) after making the target exact.

    on_broker(): how many parts the broker holds, when "published" in the
    exporter's log does not mean that yet (Kafka: handed to librdkafka)."""
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_source(src, ROWS)
    export_args = ["export", f"sqlite://{src}?table=t", "--to", to_uri, "--part-size", "16KiB",
                   "--workers", "1", "-q"]
    procs = []
    try:
        return _restart_mid_run(broker, src, dst, export_args, from_uri, stop, on_broker, procs)
    finally:
        for p in procs:  # a failed test leaves no process behind, frozen or not
            if p.poll() is None:
                p.kill()
                p.wait()


def _restart_mid_run(broker, src, dst, export_args, from_uri, stop, on_broker, procs):
    ex = Proc([*export_args[:-1], "-v", "--progress", "never"], marker=" published ", count=40)
    procs.append(ex.p)
    assert ex.seen.wait(120), f"the export published no 40 parts:\n{ex.stderr[-3000:]}"
    ex.p.send_signal(signal.SIGSTOP)
    deadline = time.time() + 60
    while on_broker is not None and on_broker() < 20 and time.time() < deadline:
        ex.p.send_signal(signal.SIGCONT)  # let the producer deliver, then freeze again
        time.sleep(0.02)
        ex.p.send_signal(signal.SIGSTOP)
    assert ex.p.poll() is None, "the export ended before the broker stop: make the source bigger"
    im = Proc(["import", from_uri, "--into", f"sqlite://{dst}?table=t", "--workers", "3", "-q"])
    procs.append(im.p)
    applied = wait_for_rows(lambda: sqlite_count(dst), 1, im.p)
    im.p.send_signal(signal.SIGSTOP)
    try:
        assert im.p.poll() is None and applied > 0, (
            f"the import was not mid-run when frozen (rows {applied}):\n{im.stderr[-3000:]}")
        frozen_rows = sqlite_count(dst)
        assert 0 < frozen_rows < ROWS
        stop(broker)
    finally:
        for p in (ex.p, im.p):
            p.send_signal(signal.SIGCONT)
    time.sleep(OUTAGE_S)
    t0 = time.time()
    broker.up()
    outcome = {"restart_s": round(time.time() - t0, 1)}
    for name, proc in (("export", ex), ("import", im)):
        rc = proc.wait(timeout=300)
        # 0: recovered; 1: a runtime error naming the broker. A signal (< 0,
        # e.g. SIGPIPE or SIGSEGV) or a usage error (2) fails the test.
        assert rc in (0, 1), f"{name} exited {rc}:\n{proc.stderr[-3000:]}"
        if rc == 1:
            assert broker.address in proc.stderr, (
                f"the {name} error does not name the broker {broker.address}:\n"
                f"{proc.stderr[-3000:]}")
        outcome[name] = (rc, proc.errors())
    outcome["rows_after_the_runs"] = sqlite_count(dst)
    if outcome["export"][0] != 0:
        run(*export_args, check=True)  # the same part ids again: duplicates are skipped
    for _ in range(3):
        if sqlite_count(dst) == ROWS:
            break
        run("import", from_uri, "--into", f"sqlite://{dst}?table=t", "--workers", "3", "-q",
            check=True)
    assert sqlite_state(dst) == sqlite_state(src)
    outcome["frozen_rows"] = frozen_rows
    return outcome


def kafka_sigterm(broker):
    broker.down()  # SIGTERM: a controlled shutdown


def kafka_sigkill(broker):
    broker.kill(signal.SIGKILL)


@pytest.mark.parametrize("stop", [kafka_sigterm, kafka_sigkill], ids=["sigterm", "sigkill"])
def test_kafka_restarted_mid_run(tmp_path, stop):
    with PrivateBroker("kafka", tmp_path / "services") as broker:
        topic = "restart"
        to_uri = f"kafka://{broker.address}/{topic}?create_topic=true&partitions=2"
        from_uri = f"kafka://{broker.address}/{topic}?group=g-restart&session_timeout=6s"

        def on_broker():
            k = subprocess.run(["kcat", "-C", "-b", broker.address, "-t", topic, "-e", "-q",
                                "-f", "x\n"], capture_output=True, text=True, timeout=60)
            return k.stdout.count("x")

        outcome = restart_mid_run(tmp_path, broker, to_uri, from_uri, stop, on_broker)
        print(f"kafka restart ({stop.__name__}):", outcome)


def test_rabbitmq_restarted_mid_run(tmp_path):
    with PrivateBroker("rabbitmq", tmp_path / "services") as broker:
        uri = f"amqp://guest:guest@{broker.address}/%2f?queue=restart"
        outcome = restart_mid_run(tmp_path, broker, uri, uri + "&idle_ms=1000",
                                  lambda b: b.kill(signal.SIGKILL))
        # Today both fail (no reconnection, docs/connectors/rabbitmq.md); a
        # connector that reconnects would pass too.
        print("rabbitmq restart (SIGKILL):", outcome)
