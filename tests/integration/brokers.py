"""Private Kafka / RabbitMQ instances for tests that stop or reconfigure a broker.

Tests that restart a broker, or need a listener the shared one lacks (TLS),
must never touch the shared brokers of scripts/services.sh: other test files
use them at the same time. A PrivateBroker runs a second, independent instance
through the same script, pointed elsewhere by its environment: its own
SLUICE_SERVICES_DIR (under the test's tmp dir), its own free ports, and for
RabbitMQ its own Erlang node name and epmd. `with PrivateBroker(...) as b:`
starts it and always stops it (down, then SIGKILL of whatever is left).

Also: sqlite / PostgreSQL table states compared with independent clients
(Python's sqlite3, psql via dbs.py), and a poller for a target's row count
(used to land kills and broker stops while an import is really applying
parts), and the kill-cycle loop of the broker tests.
"""

import os
import random
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

import dbs

REPO = Path(__file__).resolve().parents[2]
SERVICES_SH = REPO / "scripts" / "services.sh"


def free_ports(n):
    """n distinct TCP ports free on 127.0.0.1 right now (the kernel's picks)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1].split()[0] != "Z"
    except OSError:
        return False


class PrivateBroker:
    """One private `kafka` or `rabbitmq` instance run by scripts/services.sh."""

    def __init__(self, kind, base_dir, extra_env=None):
        assert kind in ("kafka", "rabbitmq")
        self.kind = kind
        self.base = Path(base_dir)
        self.base.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, SLUICE_SERVICES_DIR=str(self.base),
                        SLUICE_SERVICES_TIMEOUT="90")
        if kind == "kafka":
            self.port, ctrl = free_ports(2)
            self.env.update(SLUICE_KAFKA_PORT=str(self.port),
                            SLUICE_KAFKA_CONTROLLER_PORT=str(ctrl), SLUICE_KAFKA_HEAP="384m")
            self.pidfile = self.base / "kafka" / "kafka.pid"
        else:
            self.port, dist, epmd = free_ports(3)
            self.env.update(SLUICE_RABBITMQ_PORT=str(self.port),
                            SLUICE_RABBITMQ_DIST_PORT=str(dist),
                            SLUICE_RABBITMQ_EPMD_PORT=str(epmd),
                            SLUICE_RABBITMQ_NODENAME=f"sluice-t{os.getpid()}-{self.port}@localhost")
            self.pidfile = self.base / "rabbitmq" / "rabbitmq.pid"
        self.env.update(extra_env or {})
        self.pids = set()  # every broker pid seen, for the last-resort cleanup

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def _services(self, action, timeout=180):
        r = subprocess.run(["bash", str(SERVICES_SH), action, self.kind], env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError(f"services.sh {action} {self.kind} (private, {self.base}) "
                                 f"exited {r.returncode}:\n{r.stderr[-3000:]}")
        return r

    def pid(self):
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def up(self):
        self._services("up")
        pid = self.pid()
        assert pid is not None, f"private {self.kind}: no live pid in {self.pidfile}"
        self.pids.add(pid)

    def down(self):
        self._services("down")

    def kill(self, sig=signal.SIGKILL):
        """Signals the broker process (not through services.sh): a crash."""
        pid = self.pid()
        assert pid is not None, f"private {self.kind} is not running"
        os.kill(pid, sig)
        deadline = time.time() + 60
        while _pid_alive(pid) and time.time() < deadline:
            time.sleep(0.05)
        assert not _pid_alive(pid), f"private {self.kind} pid {pid} survived signal {sig}"

    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        try:
            self._services("down")
        except Exception:
            pass
        finally:
            # Whatever `down` could not stop: the broker, and the RabbitMQ
            # node's private epmd (it outlives the node).
            for pid in self.pids | ({self.pid()} - {None}):
                if _pid_alive(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            if self.kind == "rabbitmq":
                subprocess.run(["epmd", "-port", self.env["SLUICE_RABBITMQ_EPMD_PORT"], "-kill"],
                               capture_output=True, timeout=30)
        return False


# ---------------------------------------------------------------------------
# tables


def sqlite_state(path):
    """(rows, distinct ids, sum of ids, sum of note lengths, sum of amounts) of table t."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT count(*), count(DISTINCT id), total(id), total(length(note)), "
                           "round(total(amount), 6) FROM t").fetchone()
    finally:
        con.close()


def sqlite_count(path):
    """Rows of table t so far (0 while the file or the table does not exist yet)."""
    if not Path(path).exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute("SELECT count(*) FROM t").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # no table t yet
        return 0


def pg_server(prefix):
    """The PostgreSQL of scripts/services.sh (SLUICE_PG_URI) with a fresh scratch
    schema; fails (never skips) when it is down. Drop it with drop_scratch()."""
    server = dbs.Postgres()
    try:
        server.ping()
    except dbs.SqlError as err:
        pytest.fail(f"PostgreSQL at {server.host}:{server.port} is unreachable "
                    f"({str(err).strip().splitlines()[0][:300]}): run scripts/services.sh up "
                    "postgres", pytrace=False)
    server.create_scratch(f"{prefix}_{os.getpid()}_{random.Random().getrandbits(24):06x}")
    return server


def pg_make_source(pg, table, rows):
    """The broker tests' table (id, name, amount, note) in PostgreSQL, made by SQL."""
    t = pg.qualified(table)
    pg.sql(f"""CREATE TABLE {t} (id bigint PRIMARY KEY, name text, amount double precision,
                                 note text);
               INSERT INTO {t} SELECT g, 'name-' || g, (g % 9973) * 0.125 + g / 8.0,
                   CASE WHEN g % 11 = 0 THEN NULL ELSE repeat('x', (g % 300)::int) END
               FROM generate_series(1, {rows}) g;""")


def pg_state(pg, table):
    """(rows, distinct ids, sum of ids, sum of note lengths, sum of amounts) as text."""
    return tuple(pg.sql(f"SELECT count(*), count(DISTINCT id), sum(id), sum(length(note)), "
                        f"sum(amount)::numeric(30,6) FROM {pg.qualified(table)};")[0])


class PgCounter:
    """Rows committed into a table so far, polled fast, so that a kill lands
    within a few ms of the count it waited for: one psycopg2 connection
    (autocommit) instead of a psql process per poll (~30 ms), summing the
    sink's ledger (one row per part, committed with the part's rows) instead
    of count(*) over a table being loaded (up to 60 ms). 0 before the ledger
    exists. Final checks read the table itself (dbs.py)."""

    def __init__(self, pg, table, ledger="_sluice_ledger"):
        import psycopg2  # pip psycopg2-binary (scripts/install-deps.sh)
        self.query = (f"SELECT coalesce(sum(rows), 0) FROM {pg.qualified(ledger)} "
                      f"WHERE target = {pg.lit(pg.ledger_target(table))}")
        self.con = psycopg2.connect(host=pg.host, port=pg.port, user=pg.user,
                                    password=pg.password, dbname=pg.db, connect_timeout=10)
        self.con.autocommit = True

    def __call__(self):
        import psycopg2
        try:
            with self.con.cursor() as cur:
                cur.execute(self.query)
                return int(cur.fetchone()[0])
        except psycopg2.errors.UndefinedTable:
            return 0

    def close(self):
        self.con.close()


def pg_ledger_consistent(pg, table):
    """True when `table` holds exactly the rows its ledger entries record (one
    snapshot), or when table / ledger do not exist yet."""
    try:
        t, led = pg.sql(pg.table_and_ledger_sql(table))[0]
    except dbs.SqlError:
        return True
    return int(t) == int(led)


def assert_pg_tables_equal(pg, src, dst):
    """Same state and every row equal (both directions, NULLs equal)."""
    assert pg_state(pg, dst) == pg_state(pg, src)
    assert pg.diff(src, dst, "id") == 0 and pg.diff(dst, src, "id") == 0


def wait_for_rows(count, at_least, proc, timeout=120, poll=0.005):
    """Polls count() until it reaches `at_least` or `proc` exits; the last count."""
    deadline = time.time() + timeout
    n = count()
    while n < at_least and proc.poll() is None and time.time() < deadline:
        time.sleep(poll)
        n = count()
    return n


# ---------------------------------------------------------------------------
# importers killed at random moments


def kill_cycles(cycles, start_one, count, total, rng, check=None, pool=1, early=0.2,
                early_max=0.15):
    """Keeps `pool` importers running (start_one() -> Popen) and SIGKILLs one
    of them, chosen at random, `cycles` times, each time starting a
    replacement; returns (kills, the importers still running).

    The moment: for an importer started since the last kill, with probability
    `early`, right after its start (0..early_max s: connecting, joining, first
    fetch); otherwise once count() (the target's rows, read with an
    independent client) grew by a random share of what is left — spread so
    that the cycles do not finish the table — plus 0-5 ms. check(cycle) runs
    after each kill (e.g. table rows == ledger rows). Each kill is a dict:
    alive (the importer was still running when signalled), applying (the
    target grew during the cycle and is still incomplete after the kill: the
    import was really applying parts), rows (target rows after the kill)."""
    running = [start_one() for _ in range(pool)]
    fresh = set(range(pool))
    kills = []
    try:
        for cycle in range(cycles):
            before = count()
            victim = rng.randrange(pool)
            p = running[victim]
            if victim in fresh and rng.random() < early:
                time.sleep(rng.uniform(0.0, early_max))
            else:
                left = max(total - before, 1)
                share = left // (2 * (cycles - cycle) + 2)  # never the whole rest
                wait_for_rows(count, before + max(1, int(share * rng.uniform(0.3, 1.0))), p,
                              timeout=120)
                time.sleep(rng.uniform(0.0, 0.005))
            alive = p.poll() is None
            if alive:
                p.send_signal(signal.SIGKILL)
            p.wait(timeout=120)
            after = count()
            kills.append({"cycle": cycle, "alive": alive, "rows": after,
                          "applying": alive and before < after < total})
            if check is not None:
                check(cycle)
            running[victim] = start_one()
            fresh = {victim}
    except BaseException:
        for p in running:
            p.kill()
            p.wait()
        raise
    return kills, running


def sqlite_ledger_consistent(db):
    """True when table t holds exactly the rows of the parts the sink's ledger
    records (no half-applied part), read in one statement (one snapshot), or
    when the target has no table / ledger yet."""
    if not Path(db).exists():
        return True
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        if "t" not in names or "_sluice_ledger" not in names:
            return True
        t, led = con.execute("SELECT (SELECT count(*) FROM t), "
                             "(SELECT coalesce(sum(rows), 0) FROM _sluice_ledger)").fetchone()
        return t == led
    finally:
        con.close()


def summarize_kills(kills):
    """"cycle:<A applying | k killed after the table was complete | - had ended>rows, ..." """
    return ", ".join(f"{k['cycle']}:{'A' if k['applying'] else ('k' if k['alive'] else '-')}"
                     f"{k['rows']}" for k in kills)
