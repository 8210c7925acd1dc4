"""ClickHouse as a source (the server of `scripts/services.sh up clickhouse`,
Debian's 18.16): `sluice copy` / `export` out of ClickHouse into PostgreSQL,
CSV, JSONL and parts, compared exactly with what went in.

What goes in is either gen:// data (re-implemented independently by
`e2e.gen_rows`) loaded through PostgreSQL or straight into ClickHouse by the
sink, or rows inserted with clickhouse-client from SQL literals written here.
What comes out is read with psql (dbs.py), Python's csv/json readers and
sqlite3 (e2e.py): nothing is read back through sluice.

The server comes from SLUICE_CLICKHOUSE_URI (default
clickhouse://default@127.0.0.1:58123/sluice_test) and SLUICE_CLICKHOUSE_TCP_PORT
(clickhouse-client's port, default 59000). The tests fail, never skip, when
it (or PostgreSQL, for the round trips) is down. Each session works in a
database of its own, dropped at the end.
"""

import json
import os
import random
import re
import statistics
import subprocess
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

ALL_ROWS = 3000
MIXED_ROWS = 200_000


class ClickHouseError(AssertionError):
    pass


def ch(sql, timeout=120):
    """Runs `sql` with clickhouse-client; rows of TabSeparated fields."""
    r = subprocess.run(["clickhouse-client", "--host", CH_HOST, "--port", CH_TCP_PORT,
                        "--allow_experimental_low_cardinality_type", "1", "--query", sql],
                       capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise ClickHouseError(f"clickhouse-client failed on {sql[:300]!r}: "
                              f"{r.stderr.decode(errors='replace')}")
    out = r.stdout.decode("utf-8")
    return [line.split("\t") for line in out.split("\n") if line]


def ident(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def ch_uri(db, **opts):
    q = "&".join(f"{k}={urllib.parse.quote(str(v), safe='')}" for k, v in opts.items())
    return f"clickhouse://{_U.netloc}/{urllib.parse.quote(db, safe='')}?{q}"


@pytest.fixture(scope="module")
def chdb():
    """A scratch database; its name."""
    try:
        ch("SELECT 1", timeout=20)
    except (ClickHouseError, subprocess.TimeoutExpired, FileNotFoundError) as err:
        pytest.fail(f"ClickHouse at {CH_HOST}:{CH_TCP_PORT} is unreachable "
                    f"(run `scripts/services.sh up clickhouse`): {err}", pytrace=False)
    name = f"e2e_src_{os.getpid()}_{random.Random().getrandbits(24):06x}"
    ch(f"CREATE DATABASE {ident(name)}")
    yield name
    ch(f"DROP DATABASE IF EXISTS {ident(name)}")


@pytest.fixture(scope="module")
def pg():
    server = dbs.Postgres()
    try:
        server.ping()
    except dbs.SqlError as err:
        pytest.fail(f"PostgreSQL at {server.host}:{server.port} is unreachable "
                    f"(run `scripts/services.sh up postgres`): {err}", pytrace=False)
    server.create_scratch(f"ch_src_{os.getpid()}")
    yield server
    server.drop_scratch()


@pytest.fixture(scope="module")
def ch_all_types(chdb):
    """gen all_types written into ClickHouse by the sink (18.16 mapping: dates as
    Int32 days, times/timestamps as Int64 µs, bools UInt8, hidden ledger columns)."""
    run("copy", f"gen:///?rows={ALL_ROWS}&schema=all_types", ch_uri(chdb, table="all_types"),
        "--part-size", "64KiB", "--workers", "3", "-q", check=True)
    return "all_types"


def names_types(cols):
    return [n for n, _ in cols], [t for _, t in cols]


def want_rows(schema):
    cols, key, _ = e2e.SCHEMAS[schema]
    rows = ALL_ROWS if schema == "all_types" else MIXED_ROWS
    return e2e.sort_rows(e2e.gen_rows(schema, rows), e2e.key_index(schema))


# ---------------------------------------------------------------------------
# round trips


def test_postgres_to_clickhouse_to_postgres_every_type(chdb, pg):
    """PostgreSQL -> ClickHouse (18.16) -> PostgreSQL: the same columns, types, NOT NULLs,
    primary key and values (NULLs, unicode, numeric(38,9) extremes, years 1 and 9999,
    timestamptz) as the first table, read in several splits."""
    run("copy", f"gen:///?rows={ALL_ROWS}&schema=all_types", pg.sluice_uri("pg_all"), "-q",
        check=True)
    r = run("copy", pg.sluice_uri("pg_all"), ch_uri(chdb, table="from_pg"), "--workers", "3",
            "--part-size", "64KiB", "-q")
    assert r.returncode == 0, r.stderr
    r = run("copy", ch_uri(chdb, table="from_pg", min_split_rows=500), pg.sluice_uri("back"),
            "--workers", "4")
    assert r.returncode == 0, r.stderr
    assert re.search(r"copy: [4-9] split\(s\)|copy: 1[0-6] split\(s\)", r.stderr), r.stderr
    assert pg.columns("back") == pg.columns("pg_all")
    assert pg.primary_key("back") == pg.primary_key("pg_all") == ["i64"]
    assert pg.count("back") == ALL_ROWS
    assert pg.diff("pg_all", "back", "i64") == 0
    got = pg.rows("back", e2e.ALL_TYPES, order_by="i64")
    names, types = names_types(e2e.ALL_TYPES)
    dbs.assert_rows_equal(got, dbs.normalize(types, want_rows("all_types")), names,
                          "PostgreSQL -> ClickHouse -> PostgreSQL")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_clickhouse_to_files_exact(chdb, ch_all_types, tmp_path, fmt):
    """A table the sink wrote, out to CSV / JSONL in splits: every value of every type."""
    out = tmp_path / f"out.{fmt}"
    r = run("copy", ch_uri(chdb, table=ch_all_types, min_split_rows=700), f"file://{out}",
            "--stats-json", "-", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] == ALL_ROWS
    names, types = names_types(e2e.ALL_TYPES)
    if fmt == "csv":
        header, rows = e2e.read_csv(out, types)
        assert header == names
    else:
        rows = e2e.read_jsonl(out, names, types)
    key = e2e.key_index("all_types")
    dbs.assert_rows_equal(e2e.sort_rows(rows, key), want_rows("all_types"), names,
                          f"ClickHouse -> {fmt}")


@pytest.mark.parametrize("split_by", ["partition", "key"])
def test_parallel_splits_give_the_same_rows(chdb, tmp_path, split_by):
    """The mixed schema in a partitioned table, read in parallel splits by partition
    and by key range: the exact multiset of rows, each key once."""
    table = "mixed_parts"
    if not ch(f"EXISTS TABLE {ident(chdb)}.{ident(table)}")[0][0] == "1":
        run("copy", f"gen:///?rows={MIXED_ROWS}&schema=mixed",
            ch_uri(chdb, table=table, partition_by="qty % 8"), "--workers", "4", "-q", check=True)
    out = tmp_path / "mixed.csv"
    r = run("copy", ch_uri(chdb, table=table, split_by=split_by, min_split_rows=10000),
            f"file://{out}", "--workers", "4")
    assert r.returncode == 0, r.stderr
    m = re.search(r"copy: (\d+) split\(s\)", r.stderr)
    assert m and int(m.group(1)) >= 4, r.stderr
    names, types = names_types(e2e.MIXED)
    header, rows = e2e.read_csv(out, types)
    assert header == names
    key = e2e.key_index("mixed")
    assert len({row[key] for row in rows}) == MIXED_ROWS
    dbs.assert_rows_equal(e2e.sort_rows(rows, key), want_rows("mixed"), names,
                          f"ClickHouse mixed ({split_by} splits) -> CSV")


def test_export_to_parts_then_import(chdb, ch_all_types, tmp_path):
    """`sluice export clickhouse://... --to parts://` then `import` into SQLite."""
    parts = tmp_path / "parts"
    r = run("export", ch_uri(chdb, table=ch_all_types), "--to", f"parts://{parts}",
            "--part-size", "64KiB", "-q")
    assert r.returncode == 0, r.stderr
    db = tmp_path / "t.db"
    r = run("import", f"parts://{parts}", "--into", f"sqlite://{db}?table=t", "--workers", "2",
            "-q")
    assert r.returncode == 0, r.stderr
    names, types = names_types(e2e.ALL_TYPES)
    cols, rows = e2e.read_sqlite(db, "t", types, order_by="i64")
    assert cols == names
    dbs.assert_rows_equal(rows, want_rows("all_types"), names, "ClickHouse -> parts -> SQLite")


# ---------------------------------------------------------------------------
# tables made natively in ClickHouse


NATIVE_COLUMNS = (
    "id UInt32, d Date, dt DateTime, dtz DateTime('Asia/Tokyo'), n Nullable(Int16), "
    "fs FixedString(3), e Enum8('red' = 1, 'зелёный' = -2), m Decimal(38, 10), u UUID, "
    "s String, lc LowCardinality(String), ns Nullable(String), "
    "lcn LowCardinality(Nullable(String))")
NATIVE_ROWS = (
    "(1, '2105-12-31', '2021-03-28 01:30:00', '2021-03-28 01:30:00', NULL, 'ab', 'зелёный', "
    "'-1234567890123456789012345678.0123456789', '00112233-4455-6677-8899-aabbccddeeff', "
    "'Привет, 東京 🚀', 'x', NULL, 'y'), "
    "(2, '1970-01-02', '1970-01-01 00:00:01', '2000-01-01 09:00:00', -32768, 'abc', 'red', "
    "'0.0000000001', '00000000-0000-0000-0000-000000000000', '', '', 'tab\\there \"q\"', NULL)")


@pytest.fixture(scope="module")
def native(chdb):
    ch(f"CREATE TABLE {ident(chdb)}.native ({NATIVE_COLUMNS}) ENGINE = MergeTree ORDER BY id")
    ch(f"INSERT INTO {ident(chdb)}.native VALUES {NATIVE_ROWS}")
    return "native"


def test_native_table_to_jsonl(chdb, native, tmp_path):
    """Date/DateTime (with and without a zone)/Nullable/FixedString/Enum8/Decimal/UUID/
    LowCardinality as the default mapping says (docs/connectors/clickhouse.md)."""
    out = tmp_path / "native.jsonl"
    r = run("copy", ch_uri(chdb, table=native), f"file://{out}", "-q")
    assert r.returncode == 0, r.stderr
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert got == [
        {"id": 1, "d": "2105-12-31", "dt": "2021-03-28T01:30:00Z", "dtz": "2021-03-27T16:30:00Z",
         "n": None, "fs": "YWIA", "e": "зелёный", "m": "-1234567890123456789012345678.0123456789",
         "u": "00112233-4455-6677-8899-aabbccddeeff", "s": "Привет, 東京 🚀", "lc": "x",
         "ns": None, "lcn": "y"},
        {"id": 2, "d": "1970-01-02", "dt": "1970-01-01T00:00:01Z", "dtz": "2000-01-01T00:00:00Z",
         "n": -32768, "fs": "YWJj", "e": "red", "m": "0.0000000001",
         "u": "00000000-0000-0000-0000-000000000000", "s": "", "lc": "", "ns": 'tab\there "q"',
         "lcn": None},
    ]
    # FixedString as text (padding dropped), DateTime as the server's own text.
    r = run("copy", ch_uri(chdb, table=native, types="fs:string,dt:string", columns="id,fs,dt"),
            f"file://{tmp_path / 'native.csv'}", "-q")
    assert r.returncode == 0, r.stderr
    _, rows = e2e.read_csv(tmp_path / "native.csv", ["uint32", "string", "string"])
    assert rows == [(1, "ab", "2021-03-28 01:30:00"), (2, "abc", "1970-01-01 00:00:01")]


def test_native_table_to_postgres(chdb, native, pg):
    """The same table into PostgreSQL: created types and values via psql."""
    r = run("copy", ch_uri(chdb, table=native), pg.sluice_uri("native"), "-q")
    assert r.returncode == 0, r.stderr
    cols = {n: (t, nn) for n, t, nn in pg.columns("native")}
    assert cols["d"] == ("date", True)
    assert cols["dt"][0] == "timestamp with time zone"
    assert cols["dtz"][0] == "timestamp with time zone"
    assert cols["n"] == ("smallint", False)
    assert cols["fs"][0] == "bytea" and cols["e"][0] == "text"
    assert cols["m"][0] == "numeric(38,10)" and cols["u"][0] == "uuid"
    rows = pg.sql(f"SELECT id, d, extract(epoch FROM dt)::bigint, extract(epoch FROM dtz)::bigint, "
                  f"coalesce(n::text, 'NULL'), encode(fs, 'hex'), e, m, u, s, lc "
                  f"FROM {pg.qualified('native')} ORDER BY id;")
    assert rows == [
        ["1", "2105-12-31", "1616895000", "1616862600", "NULL", "616200", "зелёный",
         "-1234567890123456789012345678.0123456789", "00112233-4455-6677-8899-aabbccddeeff",
         "Привет, 東京 🚀", "x"],
        ["2", "1970-01-02", "1", "946684800", "-32768", "616263", "red", "0.0000000001",
         "00000000-0000-0000-0000-000000000000", "", ""],
    ]


def test_zero_rows_and_names_that_need_quoting(chdb, tmp_path):
    """Table and column names with spaces, quotes, backquotes and unicode; 0 rows, then
    rows; a canary table survives."""
    ch(f"CREATE TABLE {ident(chdb)}.canary (x Int8) ENGINE = TinyLog")
    table = "we`ird \\ 'näme\"; DROP TABLE canary; --"
    cols = ["id`) x", "значение с пробелом", 'a"b\'c']
    ch(f"CREATE TABLE {ident(chdb)}.{ident(table)} ({ident(cols[0])} Int64, "
       f"{ident(cols[1])} Nullable(String), {ident(cols[2])} Int32) "
       f"ENGINE = MergeTree ORDER BY {ident(cols[0])}")
    out = tmp_path / "empty.csv"
    r = run("copy", ch_uri(chdb, table=table), f"file://{out}", "-q")
    assert r.returncode == 0, r.stderr
    header, rows = e2e.read_csv(out, ["int64", "string", "int32"])
    assert header == cols and rows == []
    ch(f"INSERT INTO {ident(chdb)}.{ident(table)} SELECT number, "
       f"if(number % 3 = 0, NULL, concat('ü ', toString(number))), -number FROM system.numbers "
       f"LIMIT 5000")
    out = tmp_path / "q.csv"
    r = run("copy", ch_uri(chdb, table=table, min_split_rows=1000), f"file://{out}",
            "--workers", "3", "-q")
    assert r.returncode == 0, r.stderr
    header, rows = e2e.read_csv(out, ["int64", "string", "int32"])
    assert header == cols
    assert sorted(rows) == [(i, None if i % 3 == 0 else f"ü {i}", -i) for i in range(5000)]
    assert ch(f"EXISTS TABLE {ident(chdb)}.canary")[0][0] == "1"


# ---------------------------------------------------------------------------
# errors


def test_errors_name_the_server_table_and_column(chdb):
    r = run("copy", ch_uri(chdb, table="nope"), "file:///dev/null.csv")
    assert r.returncode == 1
    assert f"clickhouse {CH_HTTP} table `{chdb}`.`nope`: table does not exist on {CH_HTTP}" \
        in r.stderr, r.stderr
    r = run("copy", f"clickhouse://sluice:wrong@{CH_HTTP}/{chdb}?table=x", "file:///dev/null.csv")
    assert r.returncode == 2, r.stderr
    assert "authentication failed for user 'sluice'" in r.stderr, r.stderr
    assert "wrong" not in r.stderr.replace("Wrong password", ""), "password leaked"
    r = run("copy", f"clickhouse://127.0.0.1:9/{chdb}?table=x&retries=0", "file:///dev/null.csv")
    assert r.returncode == 1
    assert "cannot connect to 127.0.0.1:9" in r.stderr, r.stderr
    r = run("copy", ch_uri(chdb, table="x", colour="blue"), "file:///dev/null.csv")
    assert r.returncode == 2 and "colour" in r.stderr, r.stderr
    r = run("copy", ch_uri(chdb, query="SELECT 1 AS a, [1, 2] AS arr"), "file:///dev/null.csv")
    assert r.returncode == 1
    assert 'column "arr": the ClickHouse type Array(UInt8) is not one the source reads ' \
        "(read it as text with types=arr:string" in r.stderr, r.stderr
    # A failure after HTTP 200 and megabytes of rows: the server's exception, not garbage.
    r = run("copy", ch_uri(chdb, query="SELECT number, toString(number) AS s, "
                                       "throwIf(number = 300000) AS t FROM system.numbers "
                                       "LIMIT 1000000 SETTINGS max_block_size = 1000"),
            "file:///dev/null.csv")
    assert r.returncode == 1
    assert f"clickhouse {CH_HTTP} query" in r.stderr, r.stderr
    assert "the server failed after sending 300000 rows: server error 395: Value passed to " \
        "'throwIf' function is non zero" in r.stderr, r.stderr


# ---------------------------------------------------------------------------
# memory


def peak_rss(src, out, stats):
    """The run's own peak_rss_bytes (getrusage). Started from a forking sh: Linux
    carries ru_maxrss over execve, so a child started straight from this Python
    process would report Python's RSS as its peak (see test_memory.py)."""
    args = [SLUICE, "export", src, "--to", f"parts://{out}", "--part-size", "256KiB",
            "--stats-json", str(stats), "-q"]
    r = subprocess.run(["sh", "-c", '"$@"; exit $?', "sh", *args], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(stats.read_text())["peak_rss_bytes"]


def test_streaming_memory_does_not_grow_with_the_result(chdb, tmp_path):
    """A 10x larger result (~20 MB vs ~200 MB of rows) peaks within 10%: the stream is
    decoded as it arrives, never held whole."""
    def src(n):
        return ch_uri(chdb, query=f"SELECT number AS id, '{'x' * 150}' AS pad, "
                                  f"toString(number) AS s FROM system.numbers LIMIT {n}")
    peaks = {}
    for n in (120_000, 1_200_000):
        runs = [peak_rss(src(n), tmp_path / f"p{n}_{i}", tmp_path / f"s{n}_{i}.json")
                for i in range(3)]
        peaks[n] = statistics.median(runs)
    assert peaks[1_200_000] <= peaks[120_000] * 1.10, peaks
