"""ClickHouse as a destination (the server of `scripts/services.sh up clickhouse`,
Debian's 18.16): `sluice copy` from SQLite and PostgreSQL, read back with
clickhouse-client, and exactly-once under SIGKILL.

Nothing is read back through sluice. Values are selected by clickhouse-client
as text the server itself prints (strings and blobs as hex, NULL as \\N) and
compared, in e2e's canonical form, with `e2e.gen_rows` (the independent
re-implementation of gen://), which is what the sources were filled from.

The server comes from SLUICE_CLICKHOUSE_URI (default
clickhouse://default@127.0.0.1:58123/sluice_test) and SLUICE_CLICKHOUSE_TCP_PORT
(clickhouse-client's port, default 59000). The tests fail, never skip, when it
is down. Each session works in a database of its own, dropped at the end.
"""

import json
import os
import random
import signal
import subprocess
import time
import urllib.parse

import pytest

import dbs
import e2e
from runner import SLUICE, run

CH_URI = os.environ.get("SLUICE_CLICKHOUSE_URI", "clickhouse://default@127.0.0.1:58123/sluice_test")
CH_TCP_PORT = os.environ.get("SLUICE_CLICKHOUSE_TCP_PORT", "59000")
_U = urllib.parse.urlsplit(CH_URI)
CH_HOST = _U.hostname or "127.0.0.1"
CH_HTTP = f"{_U.hostname}:{_U.port or 8123}"

SEED = 20250607
KILL_ROWS = 150_000
KILL_PART_SIZE = "256KiB"   # the same in every run: part ids depend on it


class ClickHouseError(AssertionError):
    pass


def ch(sql, timeout=120):
    """Runs `sql` with clickhouse-client; rows of TabSeparated fields."""
    r = subprocess.run(["clickhouse-client", "--host", CH_HOST, "--port", CH_TCP_PORT,
                        "--query", sql], capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise ClickHouseError(f"clickhouse-client failed on {sql[:300]!r}: "
                              f"{r.stderr.decode(errors='replace')}")
    out = r.stdout.decode("utf-8")
    return [line.split("\t") for line in out.split("\n") if line]


def ident(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def lit(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@pytest.fixture(scope="module")
def chdb():
    """A scratch database; its name."""
    try:
        ch("SELECT 1", timeout=20)
    except (ClickHouseError, subprocess.TimeoutExpired, FileNotFoundError) as err:
        pytest.fail(f"ClickHouse at {CH_HOST}:{CH_TCP_PORT} is unreachable "
                    f"(run `scripts/services.sh up clickhouse`): {err}", pytrace=False)
    name = f"e2e_{os.getpid()}_{random.Random().getrandbits(24):06x}"
    ch(f"CREATE DATABASE {ident(name)}")
    yield name
    ch(f"DROP DATABASE IF EXISTS {ident(name)}")


def sink_uri(db, table, **opts):
    q = "&".join(f"{k}={urllib.parse.quote(str(v), safe='')}"
                 for k, v in {"table": table, **opts}.items())
    return f"clickhouse://{_U.netloc}/{urllib.parse.quote(db, safe='')}?{q}"


# ---------------------------------------------------------------------------
# reading back
#
# The 18.16 mapping (docs/connectors/clickhouse.md): dates are Int32 days,
# times and timestamps Int64 microseconds, bools UInt8, uuid UUID; strings,
# blobs and json String (selected as hex here, so that no escaping matters).


def select_expr(name, t):
    c = ident(name)
    if t in ("string", "binary", "json"):
        return f"hex({c})"
    return c


def canon(t, text):
    if text == "\\N":
        return None
    if t in ("string", "json"):
        s = bytes.fromhex(text).decode("utf-8")
        return e2e.canon_json(s) if t == "json" else s
    if t == "binary":
        return bytes.fromhex(text)
    if t in ("float32", "float64"):
        return e2e.parse_float(text, t == "float32")
    scale = e2e.decimal_scale(t)
    if scale is not None:
        return e2e.parse_decimal(text, scale)
    if t == "bool":
        return {"0": False, "1": True}[text]
    if t == "uuid":
        return e2e.parse_uuid(text)
    return int(text)   # ints, date (days), time / timestamp (µs)


def read_table(db, table, cols, key):
    exprs = ", ".join(select_expr(n, t) for n, t in cols)
    rows = ch(f"SELECT {exprs} FROM {ident(db)}.{ident(table)} ORDER BY {ident(key)}")
    return [tuple(canon(t, v) for (_, t), v in zip(cols, r)) for r in rows]


def assert_rows_equal(got, want, cols, what):
    assert len(got) == len(want), f"{what}: {len(got)} rows, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            for (name, _), a, b in zip(cols, g, w):
                assert a == b, f"{what}: row {i} column {name!r}: got {a!r}, expected {b!r}"


def counts(db, table):
    """(rows, distinct ids, ids seen more than once)."""
    q = f"{ident(db)}.{ident(table)}"
    rows, keys = (int(x) for x in ch(f"SELECT count(), uniqExact(id) FROM {q}")[0])
    dup = int(ch(f"SELECT count() FROM (SELECT id FROM {q} GROUP BY id HAVING count() > 1)")[0][0])
    return rows, keys, dup


def ledger_target(db, table):
    """The name the ledger knows `table` by: the comment of its `_sluice_part` column
    (docs/connectors/clickhouse.md)."""
    comment = ch(f"SELECT comment FROM system.columns WHERE database = {lit(db)} "
                 f"AND table = {lit(table)} AND name = '_sluice_part'")[0][0]
    prefix = "sluice ledger target: "
    assert comment.startswith(prefix + db + "."), comment
    return comment[len(prefix):]


def ledger_rows(db, table):
    """Rows that the ledger's valid attempts (done, not voided) account for."""
    q = (f"SELECT sum(r) FROM (SELECT max(rows) AS r, groupArray(event) AS ev "
         f"FROM {ident(db)}.`_sluice_ledger` WHERE target = {lit(ledger_target(db, table))} "
         f"GROUP BY part_id, attempt) WHERE has(ev, 2) AND NOT has(ev, 3)")
    return int(ch(q)[0][0])


def checksum(db, table):
    # 18.16's cityHash64 takes no Decimal: those go in as text.
    cols = ", ".join(f"toString({ident(n)})" if e2e.decimal_scale(t) is not None else ident(n)
                     for n, t in e2e.MIXED)
    return ch(f"SELECT sum(cityHash64({cols})) FROM {ident(db)}.{ident(table)}")[0][0]


# ---------------------------------------------------------------------------
# sources


@pytest.fixture(scope="module")
def sqlite_sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("ch_src")
    out = {}
    for schema, rows in (("all_types", 2000), ("mixed", KILL_ROWS)):
        db = d / f"{schema}.db"
        run("copy", f"gen:///?rows={rows}&schema={schema}", f"sqlite://{db}?table=t", "-q",
            check=True)
        out[schema] = (db, rows)
    return out


@pytest.fixture(scope="module")
def pg():
    server = dbs.Postgres()
    try:
        server.ping()
    except dbs.SqlError as err:
        pytest.fail(f"PostgreSQL at {server.host}:{server.port} is unreachable "
                    f"(run `scripts/services.sh up postgres`): {err}", pytrace=False)
    server.create_scratch(f"ch_e2e_{os.getpid()}")
    yield server
    server.drop_scratch()


# ---------------------------------------------------------------------------
# values


def test_sqlite_all_types_to_clickhouse(chdb, sqlite_sources):
    src, rows = sqlite_sources["all_types"]
    r = run("copy", f"sqlite://{src}?table=t", sink_uri(chdb, "all_types"), "--workers", "3",
            "--part-size", "64KiB", "--stats-json", "-", "-q")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["rows"] == rows and st["parts"] > 3, st
    got = read_table(chdb, "all_types", e2e.ALL_TYPES, "i64")
    want = e2e.sort_rows(e2e.gen_rows("all_types", rows), e2e.key_index("all_types"))
    assert_rows_equal(got, want, e2e.ALL_TYPES, "SQLite all_types -> ClickHouse")
    types = dict((n, t) for n, t in ch(
        f"SELECT name, type FROM system.columns WHERE database = {lit(chdb)} "
        f"AND table = 'all_types'"))
    assert types["i64"] == "Int64" and types["tstz"] == "Nullable(Int64)", types
    assert types["d"] == "Nullable(Int32)" and types["b"] == "Nullable(UInt8)", types
    assert types["dec38"] == "Nullable(Decimal(38, 9))", types


def test_postgres_to_clickhouse(chdb, pg):
    rows = 20_000
    run("copy", f"gen:///?rows={rows}&schema=mixed", pg.sluice_uri("mixed"), "-q", check=True)
    r = run("copy", pg.sluice_uri("mixed"), sink_uri(chdb, "from_pg", partition_by="qty % 8"),
            "--workers", "4", "--part-size", "128KiB", "-q")
    assert r.returncode == 0, r.stderr
    got = read_table(chdb, "from_pg", e2e.MIXED, "id")
    assert_rows_equal(got, e2e.gen_rows("mixed", rows), e2e.MIXED, "PostgreSQL -> ClickHouse")
    assert counts(chdb, "from_pg") == (rows, rows, 0)


def test_errors_name_the_server_and_table(chdb, sqlite_sources):
    src, _ = sqlite_sources["all_types"]
    r = run("copy", f"sqlite://{src}?table=t", sink_uri(chdb, "missing", create="false"))
    assert r.returncode == 1
    assert f"table `{chdb}`.`missing`: table does not exist (create=false)" in r.stderr, r.stderr
    r = run("copy", f"sqlite://{src}?table=t",
            f"clickhouse://sluice:wrong@{CH_HTTP}/{chdb}?table=x")
    assert r.returncode == 2, r.stderr
    assert "authentication failed for user 'sluice'" in r.stderr, r.stderr
    assert "wrong" not in r.stderr.replace("Wrong password", ""), "password leaked into the error"
    r = run("copy", f"sqlite://{src}?table=t", f"clickhouse://127.0.0.1:9/{chdb}?table=x&retries=0")
    assert r.returncode == 1
    assert "cannot connect to 127.0.0.1:9" in r.stderr, r.stderr
    r = run("copy", f"sqlite://{src}?table=t", sink_uri(chdb, "x", colour="blue"))
    assert r.returncode == 2
    assert "colour" in r.stderr, r.stderr


# ---------------------------------------------------------------------------
# SIGKILL mid-copy, then a re-run: exactly once, per key


def test_copy_chunks_follow_the_sinks_part_size_unless_given(chdb):
    """`copy` cuts chunks of the sink's part_size (8 MiB by default) unless
    --part-size is given, and sends consecutive chunks in one INSERT up to
    insert_rows: the rows are the same either way."""
    src = "gen:///?rows=120000&schema=mixed"

    def parts(table, *extra):
        r = run("copy", src, sink_uri(chdb, table), "--workers", "2", "--stats-json", "-", "-q",
                *extra)
        assert r.returncode == 0, r.stderr
        st = json.loads(r.stdout)
        assert st["rows"] == 120000, st
        (n, distinct, inserts), = ch(f"SELECT count(), uniqExact(_sluice_part), "
                                     f"uniqExact(_sluice_attempt) FROM {ident(chdb)}.{ident(table)}")
        assert int(n) == 120000, (table, n)
        return int(distinct), int(inserts)

    default, _ = parts("by_default")
    small, small_inserts = parts("by_flag", "--part-size", "256KiB")
    option, _ = parts("by_option_small", "--dst-opt", "part_size=256KiB")
    one_each, one_each_inserts = parts("one_each", "--part-size", "256KiB", "--dst-opt",
                                       "insert_rows=0")
    assert default < small, (default, small)
    assert option == small == one_each, (option, small, one_each)
    # Grouped: at most one INSERT per writer for 120k rows; insert_rows=0: one per chunk.
    assert small_inserts <= 2 < small, (small_inserts, small)
    assert one_each_inserts == one_each, (one_each_inserts, one_each)
    assert (checksum(chdb, "by_default") == checksum(chdb, "by_flag")
            == checksum(chdb, "by_option_small") == checksum(chdb, "one_each"))


def copy_args(src, dst, *extra):
    return [SLUICE, "copy", src, dst, "--part-size", KILL_PART_SIZE, "--progress", "never",
            "--workers", "4", *extra]


def kill_after(proc, delay):
    time.sleep(delay)
    alive = proc.poll() is None
    if alive:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return alive


def import_args(src, dst, *extra):
    return [SLUICE, "import", src, "--into", dst, "--progress", "never", "--workers", "4", *extra]


def run_kill_cycles(db, src, prefix, cycles, rng, reference, rows, capsys, what, args=copy_args,
                    sink_opts=None):
    sink_opts = sink_opts or {}
    # One full run to learn the duration (and the reference checksum).
    t0 = time.monotonic()
    r = subprocess.run(args(src, sink_uri(db, reference, **sink_opts), "-q"), capture_output=True,
                       text=True, timeout=600)
    duration = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert counts(db, reference) == (rows, rows, 0)
    want_sum = checksum(db, reference)
    log, partial = [], 0
    for cycle in range(cycles):
        table = f"{prefix}{cycle:02d}"
        dst = sink_uri(db, table, **sink_opts)
        kills = 2 if cycle % 3 == 2 else 1   # one cycle in three: the re-run is killed too
        states = []
        for _ in range(kills):
            delay = rng.uniform(0.05, 0.95) * duration
            proc = subprocess.Popen(args(src, dst, "-q"), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            killed = kill_after(proc, delay)
            exists = ch(f"EXISTS TABLE {ident(db)}.{ident(table)}")[0][0] == "1"
            n = int(ch(f"SELECT count() FROM {ident(db)}.{ident(table)}")[0][0]) if exists else 0
            states.append((round(delay, 2), killed, n))
            if killed and 0 < n < rows:
                partial += 1
        r = subprocess.run(args(src, dst, "-q", "--stats-json", "-"), capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, f"{what} cycle {cycle}: re-run failed:\n{r.stderr}"
        st = json.loads(r.stdout)
        assert st["rows"] + st["duplicate_rows"] == rows, f"{what} cycle {cycle}: {st}"
        assert counts(db, table) == (rows, rows, 0), f"{what} cycle {cycle}: (rows, keys, dups)"
        assert checksum(db, table) == want_sum, f"{what} cycle {cycle}: content differs"
        assert ledger_rows(db, table) == rows, f"{what} cycle {cycle}: ledger disagrees"
        log.append(f"cycle {cycle:2d}: (delay s, killed, rows after kill) {states}; re-run "
                   f"applied {st['parts']} parts, skipped {st['duplicates']}")
        ch(f"DROP TABLE {ident(db)}.{ident(table)}")
    with capsys.disabled():
        print(f"\n{what}: {rows} rows, full copy {duration:.2f} s, {partial} kills left a "
              f"partial table")
        for line in log:
            print(line)
    assert partial >= cycles // 3, f"only {partial} kills interrupted a partial copy"


def test_sqlite_copy_killed_repeatedly_ends_exactly_once(chdb, sqlite_sources, capsys):
    src, rows = sqlite_sources["mixed"]
    # The reference run itself equals the generator's rows.
    # Grouped INSERTs of up to 12,000 rows (about 5 chunks of 256 KiB): with
    # 4 writers, kills land before, inside and between groups.
    run_kill_cycles(chdb, f"sqlite://{src}?table=t", "sqlite_kill", 8, random.Random(SEED),
                    "sqlite_ref", rows, capsys, "SQLite -> ClickHouse SIGKILL",
                    sink_opts={"insert_rows": 12000})
    got = read_table(chdb, "sqlite_ref", e2e.MIXED, "id")
    assert_rows_equal(got, e2e.gen_rows("mixed", rows), e2e.MIXED, "SQLite reference copy")


def test_postgres_export_import_killed_repeatedly_ends_exactly_once(chdb, pg, tmp_path, capsys):
    # A PostgreSQL source's part ids follow its snapshot's xmax, which moves with every
    # transaction anywhere in the cluster (docs/connectors/postgres.md): a killed *copy*
    # re-run against a busy server reads a new snapshot under new part ids. What is made
    # exactly-once is a part: here the table is exported once, and the import of its
    # parts into ClickHouse is killed and re-run.
    rows = 100_000
    run("copy", f"gen:///?rows={rows}&schema=mixed", pg.sluice_uri("kill_src"), "-q", check=True)
    parts = tmp_path / "parts"
    run("export", pg.sluice_uri("kill_src"), "--to", f"parts://{parts}", "--part-size", "128KiB",
        "-q", check=True)
    run_kill_cycles(chdb, f"parts://{parts}", "pg_kill", 6, random.Random(SEED + 1), "pg_ref",
                    rows, capsys, "PostgreSQL -> parts -> ClickHouse SIGKILL", args=import_args)
    got = read_table(chdb, "pg_ref", e2e.MIXED, "id")
    assert_rows_equal(got, e2e.gen_rows("mixed", rows), e2e.MIXED, "PostgreSQL reference import")
