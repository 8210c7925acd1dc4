"""The `sluice` binary against real PostgreSQL and MariaDB servers.

Needs the servers of scripts/services.sh (SLUICE_PG_URI / SLUICE_MYSQL_URI);
an unreachable server FAILS the tests (it never skips them). Everything runs in
a scratch schema (PostgreSQL) and a scratch database (MariaDB) made for the
session and dropped at its end. Tables are created and filled, and every
result is read back, with psql / mariadb / sqlite3 / the csv, json and pyarrow
readers of e2e.py (dbs.py for the servers): nothing is checked with sluice.

1. Types: a table of every common type (extremes, NULLs, unicode with 4-byte
   emoji, numeric(38,10) extremes and 1e-10, a 1 MiB text and a 1 MiB binary
   value), a 0-row table, a table without a primary key (duplicate rows) and
   a table of float32 edge values in each server, copied PG->PG, PG->MariaDB,
   MariaDB->MariaDB, MariaDB->PG, and from each server to SQLite, CSV, JSONL
   and parts (export) and back (copy / import): column names, created types,
   primary key, NOT NULL and every value. Plus server-specific types
   (NaN/±Inf/-0, year 1, 24:00:00, interval, arrays, timetz, char(n); YEAR,
   BIT, SET, DECIMAL(65,30), latin1 text) within the same server and through
   files. Type changes across systems are listed in readback_type().
2. Hostile identifiers (spaces, quotes, backticks, mixed case, reserved
   words, SQL injection attempts) as table and column names, read in key-range
   splits: they stay names and a canary table survives.
3. SIGKILL mid-copy, 20 cycles per target server, then a re-run: the exact
   table (row count, no duplicate keys, every row equal to a verified copy;
   after each kill, the table holds exactly the rows its ledger records).
4. The target server stopped mid-copy (scripts/services.sh down): sluice exits
   1 with an error naming the server (no crash, no hang); after a restart the
   re-run gives the exact table. The server is brought back in a `finally`.
   services.sh is called with SLUICE_PG_PORT / SLUICE_MYSQL_PORT taken from
   the URIs and the caller's SLUICE_SERVICES_DIR, so the URIs must name
   servers that script runs. Stopping a server disturbs anything else using
   it at that moment (e.g. other ctest tests run in parallel with -j).

Float32 edge values (7-9 significant digits, FLT_MAX) have a table of their
own (floats) in every server direction.
"""

import json
import os
import random
import signal
import sqlite3
import struct
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field

import pytest

import dbs
import e2e
from runner import SLUICE, run

SEED = 20251121
TYPE_ROWS = 40
MIB = 1 << 20


# ---------------------------------------------------------------------------
# servers


def _connect(server):
    try:
        server.ping()
        return
    except dbs.SqlError as err:
        why = str(err).strip().splitlines()[0][:300]
    pytest.fail(f"{server.name} at {server.host}:{server.port} is unreachable ({why}): "
                f"run scripts/services.sh up", pytrace=False)


@pytest.fixture(scope="module")
def servers():
    pg, my = dbs.Postgres(), dbs.MariaDB()
    _connect(pg)
    _connect(my)
    scratch = f"e2e_{os.getpid()}_{random.Random().getrandbits(24):06x}"
    pg.create_scratch(scratch)
    my.create_scratch(scratch)
    yield {"pg": pg, "my": my}
    for s in (pg, my):
        # A server left down by a failed test: report it, do not hide that failure.
        try:
            s.drop_scratch()
        except dbs.SqlError as err:
            print(f"could not drop scratch namespace {scratch} on {s.name}: {err}")


# ---------------------------------------------------------------------------
# type mapping (docs/connectors/postgres.md, docs/connectors/mysql.md)

# The column type sluice creates for a sluice type, as the catalogs print it.
PG_CREATED = {
    "int8": "smallint", "uint8": "smallint", "int16": "smallint", "int32": "integer",
    "uint16": "integer", "int64": "bigint", "uint32": "bigint", "uint64": "numeric(20,0)",
    "float32": "real", "float64": "double precision", "bool": "boolean", "string": "text",
    "binary": "bytea", "date": "date", "time": "time without time zone",
    "timestamp": "timestamp without time zone",
    "timestamptz(UTC)": "timestamp with time zone", "uuid": "uuid", "json": "jsonb",
}
MY_CREATED = {
    "int8": "tinyint", "int16": "smallint", "int32": "int", "int64": "bigint",
    "uint8": "tinyint unsigned", "uint16": "smallint unsigned", "uint32": "int unsigned",
    "uint64": "bigint unsigned", "float32": "float", "float64": "double",
    "bool": "tinyint(1)", "string": "longtext", "binary": "longblob", "date": "date",
    "time": "time(6)", "timestamp": "datetime(6)", "timestamptz(UTC)": "datetime(6)",
    "uuid": "binary(16)",
    "json": "longtext",  # MariaDB's JSON is an alias of LONGTEXT with a json_valid check
}


def created_type(system, t):
    scale = e2e.decimal_scale(t)
    if scale is not None:
        return ("numeric" if system == "pg" else "decimal") + t[len("decimal"):]
    return (PG_CREATED if system == "pg" else MY_CREATED)[t]


def readback_type(system, t):
    """The sluice type a column of sluice type t has once written into `system` and read back.

    The only normalisations of this file, each a type the target system lacks:
    * PostgreSQL has no 8-bit or unsigned integers: the next wider signed type,
      uint64 -> numeric(20,0); same value.
    * MySQL has no timestamptz: a DATETIME(6) holding the UTC instant (same
      microseconds, no zone); no uuid: BINARY(16), the same 16 bytes
      (readback_value); no boolean: TINYINT(1) 0/1, read back as bool.
    * JSON compares as a document everywhere (dbs.unorder_json): jsonb
      reorders keys, drops whitespace and respells numbers (1e-10 ->
      0.0000000001); MariaDB keeps the text.
    Source-only types (varchar/char(n)/ENUM/SET -> string, MEDIUMINT -> int32,
    YEAR -> int16, ...) are read as their sluice type already (Col.type), and
    the target column is what sluice creates for that type (created_type).
    """
    if system == "pg":
        return {"int8": "int16", "uint8": "int16", "uint16": "int32", "uint32": "int64",
                "uint64": "decimal(20,0)"}.get(t, t)
    if system == "my":
        if t.startswith("timestamptz"):
            return "timestamp"
        return {"uuid": "binary"}.get(t, t)
    return t


def readback_value(system, t, v):
    # Canonical values already agree across those type changes (a decimal(20,0)
    # is its unscaled int, timestamps are micros), except uuid -> binary.
    if v is not None and system == "my" and t == "uuid":
        return bytes.fromhex(v)
    return v


# ---------------------------------------------------------------------------
# test tables


@dataclass
class Col:
    name: str
    type: str          # the sluice type the server's column reads as
    ddl: str           # the server's column type
    lo: int = None     # integer range of the server type
    hi: int = None
    read: str = None   # SQL reading the column as text of `type` (default: the column)


@dataclass
class Table:
    name: str
    cols: list
    key: str = None
    rows: list = field(default_factory=list)   # canonical values (json as text)
    inserts: list = field(default_factory=list)  # extra INSERT statements (native literals)

    @property
    def names(self):
        return [c.name for c in self.cols]

    @property
    def types(self):
        return [c.type for c in self.cols]

    def read_cols(self):
        return [(c.name, c.type, c.read) for c in self.cols]


def _i(bits, unsigned=False):
    return (0, (1 << bits) - 1) if unsigned else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


PG_TYPES = [
    Col("id", "int64", "bigint PRIMARY KEY"),
    Col("i16", "int16", "smallint", *_i(16)),
    Col("i32", "int32", "integer", *_i(32)),
    Col("i64", "int64", "bigint", *_i(64)),
    Col("f32", "float32", "real"),
    Col("f64", "float64", "double precision"),
    Col("dec", "decimal(38,10)", "numeric(38,10)"),
    Col("b", "bool", "boolean"),
    Col("s", "string", "text"),
    Col("vc", "string", "varchar(40)"),
    Col("bin", "binary", "bytea"),
    Col("d", "date", "date"),
    Col("t", "time", "time"),
    Col("ts", "timestamp", "timestamp"),
    Col("tstz", "timestamptz(UTC)", "timestamptz"),
    Col("u", "uuid", "uuid"),
    Col("js", "json", "jsonb"),
]

MY_TYPES = [
    Col("id", "int64", "BIGINT PRIMARY KEY"),
    Col("i8", "int8", "TINYINT", *_i(8)),
    Col("i16", "int16", "SMALLINT", *_i(16)),
    Col("i24", "int32", "MEDIUMINT", *_i(24)),
    Col("i32", "int32", "INT", *_i(32)),
    Col("i64", "int64", "BIGINT", *_i(64)),
    Col("u8", "uint8", "TINYINT UNSIGNED", *_i(8, True)),
    Col("u16", "uint16", "SMALLINT UNSIGNED", *_i(16, True)),
    Col("u32", "uint32", "INT UNSIGNED", *_i(32, True)),
    Col("u64", "uint64", "BIGINT UNSIGNED", *_i(64, True)),
    Col("f32", "float32", "FLOAT"),
    Col("f64", "float64", "DOUBLE"),
    Col("dec", "decimal(38,10)", "DECIMAL(38,10)"),
    Col("b", "bool", "TINYINT(1)"),
    Col("s", "string", "LONGTEXT"),
    Col("vc", "string", "VARCHAR(40)"),
    Col("bin", "binary", "LONGBLOB"),
    Col("u", "binary", "BINARY(16)"),
    Col("d", "date", "DATE"),
    Col("t", "time", "TIME(6)"),
    Col("ts", "timestamp", "DATETIME(6)"),
    # MySQL TIMESTAMP: 1970-01-01 00:00:01 .. 2038-01-19 03:14:07.999999 UTC.
    Col("tstz", "timestamptz(UTC)", "TIMESTAMP(6) NULL", 1_000_000, 2_147_483_647_999_999),
    Col("js", "json", "JSON"),
    Col("e", "string", "ENUM('a','b','ç')"),
]

WORDS = e2e.WORDS + [
    " lead and trail ", "NULL", "\\N", "null", "tab\tcr\r\nlf", "emoji 😀🎉👍🏽", "quote ' \"",
    "back`tick", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ZWJ 👨‍👩‍👧‍👦", "semi; -- comment", "%s %d {}",
]
JSON_DOCS = [
    '{"emoji": "🚀😀", "nested": {"a": [1, 2.5, null, true, false], "b": {}}, '
    '"big": 123456789012345678901234567890, "esc": "q\\"uote \\\\ back\\nline\\ttab"}',
    "[]",
    "{}",
    '{"tiny": 0.0000000001, "neg": -1e-10, "zero": 0}',
]
MIN_DATE = (dbs.datetime.date(1000, 1, 1) - dbs.EPOCH).days  # MySQL's DATE range
MAX_DATE = (dbs.datetime.date(9999, 12, 31) - dbs.EPOCH).days
DAY = e2e.MICROS_PER_DAY
F32_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]


def big_text():
    """About 1 MiB of UTF-8 mixing 1- to 4-byte characters and control characters."""
    chunk = "ascii Ünïcödé 東京 🚀😀 \t\\\"',;\n"
    s = chunk * (MIB // len(chunk.encode("utf-8")) + 1)
    return s[:MIB // 2] + "𝔘" * 8 + s[MIB // 2:MIB - 40]


def f32(x):
    return e2e.canon_float(x, True)


def f64(x):
    return e2e.canon_float(x, False)


def gen_value(col, kind, rng):
    """The value of `col` in a row of `kind` (max, min, zero, tiny, big or random)."""
    t = col.type
    if t.startswith("int") or t.startswith("uint"):
        lo, hi = (col.lo, col.hi) if col.lo is not None else _i(64)
        return {"max": hi, "min": lo, "zero": 0, "tiny": 1 if lo == 0 else -1}.get(
            kind, rng.randint(lo, hi))
    if t == "float32":
        # FLT_MAX and values needing 7-9 digits are in the `floats` table (see FLOATS).
        v = {"max": 3.4e38, "min": -3.4e38, "zero": 0.0, "tiny": 1e-37}.get(
            kind, rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30))
        return f32(float(f"{v:.5e}") if col.ddl == "FLOAT" else v)
    if t == "float64":
        return {"max": f64(1.7976931348623157e308), "min": f64(-1.7976931348623157e308),
                "zero": f64(0.0), "tiny": f64(5e-324)}.get(
            kind, f64(rng.uniform(-1, 1) * 10 ** rng.randint(-300, 300)))
    scale = e2e.decimal_scale(t)
    if scale is not None:
        top = 10 ** 38 - 1
        return {"max": top, "min": -top, "zero": 0, "tiny": 1}.get(
            kind, rng.randint(-top, top) // 10 ** rng.randint(0, 30))
    if t == "bool":
        return {"max": True, "min": False, "zero": False, "tiny": True}.get(
            kind, rng.random() < 0.5)
    if t == "string":
        if col.ddl.startswith("ENUM"):
            return {"max": "ç", "min": "a", "zero": "b"}.get(kind, rng.choice("abç"))
        limit = 40 if "40" in col.ddl else None
        v = {"max": "🚀 Привет 東京 😀 " * 4, "min": "", "zero": "0",
             "tiny": "\\N", "big": big_text()}.get(kind)
        if v is None:
            v = " | ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
        if limit and kind == "big":
            v = rng.choice(WORDS)
        return v[:limit] if limit else v
    if t == "binary":
        if "16" in col.ddl:
            return {"max": b"\xff" * 16, "min": bytes(16), "zero": bytes(16)}.get(
                kind, rng.randbytes(16))
        return {"max": bytes(range(256)), "min": b"", "zero": b"\x00",
                "tiny": b"\\N\t\n\r'\"`", "big": rng.randbytes(MIB)}.get(
            kind, rng.randbytes(rng.randint(0, 40)))
    if t == "date":
        return {"max": MAX_DATE, "min": MIN_DATE, "zero": 0}.get(
            kind, rng.randint(MIN_DATE, MAX_DATE))
    if t == "time":
        return {"max": DAY - 1, "min": 0, "tiny": 1}.get(kind, rng.randint(0, DAY - 1))
    if t.startswith("timestamp"):
        lo, hi = (col.lo, col.hi) if col.lo is not None else (MIN_DATE * DAY,
                                                              (MAX_DATE + 1) * DAY - 1)
        return {"max": hi, "min": lo, "zero": max(lo, 0), "tiny": max(lo, 1)}.get(
            kind, rng.randint(lo, hi))
    if t == "uuid":
        return {"max": "f" * 32, "min": "0" * 32}.get(kind, rng.randbytes(16).hex())
    if t == "json":
        if kind in ("max", "min", "zero", "tiny"):
            return JSON_DOCS[("max", "min", "zero", "tiny").index(kind)]
        doc = {"k": rng.randint(-10**6, 10**6), "s": rng.choice(WORDS),
               "l": [rng.randint(0, 9), None, rng.random() < 0.5]}
        return json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    raise AssertionError(t)


def gen_rows(cols, n, seed):
    """Rows: max, min, zero, all NULL, tiny, big (1 MiB text/binary), then random
    ones with ~10% NULLs; column 0 is the key."""
    rng = random.Random(seed)
    kinds = ["max", "min", "zero", "null", "tiny", "big"]
    rows = []
    for i in range(n):
        kind = kinds[i] if i < len(kinds) else "random"
        row = [i + 1]
        for c in cols[1:]:
            if kind == "null" or (kind == "random" and rng.random() < 0.1):
                row.append(None)
            else:
                row.append(gen_value(c, kind, rng))
        rows.append(tuple(row))
    return rows


def nopk_table(system):
    """No primary key: exact duplicate rows (all-NULL ones too) must all arrive."""
    cols = [Col("a", "int32", "integer" if system == "pg" else "INT"),
            Col("s", "string", "text" if system == "pg" else "LONGTEXT"),
            Col("n", "decimal(10,2)", "numeric(10,2)" if system == "pg" else "DECIMAL(10,2)")]
    rng = random.Random(SEED + 1)
    rows = [(rng.randint(0, 5), rng.choice(WORDS[:6]), rng.randint(-10**9, 10**9))
            for _ in range(20)]
    rows += rows[:5] + [(None, None, None)] * 3 + [(1, "", 0)] * 2
    return Table("nopk", cols, None, rows)


def empty_table(system):
    pg = system == "pg"
    return Table("empty", [
        Col("id", "int64", "bigint PRIMARY KEY" if pg else "BIGINT PRIMARY KEY"),
        Col("s", "string", "text" if pg else "LONGTEXT"),
        Col("x", "decimal(38,10)", "numeric(38,10)" if pg else "DECIMAL(38,10)"),
        Col("ts", "timestamptz(UTC)" if pg else "timestamp",
            "timestamptz" if pg else "DATETIME(6)"),
        Col("b", "binary", "bytea" if pg else "LONGBLOB"),
    ], "id")


def pg_special():
    """PostgreSQL-only values and types (read as: docs/connectors/postgres.md)."""
    cols = [
        Col("id", "int64", "bigint PRIMARY KEY"),
        Col("f32", "float32", "real"),
        Col("f64", "float64", "double precision"),
        Col("d", "date", "date"),
        Col("ts", "timestamp", "timestamp"),
        Col("tstz", "timestamptz(UTC)", "timestamptz"),
        Col("n", "decimal(38,9)", "numeric"),   # no typmod: decimal(38,9)
        Col("iv", "string", "interval"),        # ISO 8601 duration text
        Col("arr", "json", "integer[]"),        # to_json(col)
        Col("tz", "string", "timetz"),          # its text form
        # padding kept (bpchar::text would trim it; concat() uses bpcharout)
        Col("ch", "string", "char(5)", read='CASE WHEN "ch" IS NOT NULL THEN concat("ch") END'),
        Col("js", "json", "json"),
    ]
    vals = [
        "(1, 'NaN', 'NaN', '0001-01-01', '0001-01-01 00:00:00', '0001-01-01 00:00:00+00', "
        "99999999999999999999999999999.999999999, '1 year 2 mons 3 days 04:05:06.5', "
        "'{1,2,NULL}', '12:00:00+03', 'ab', '{\"b\": 1, \"a\": [true]}')",
        "(2, 'Infinity', 'Infinity', '9999-12-31', '9999-12-31 23:59:59.999999', "
        "'9999-12-31 23:59:59.999999+00', -99999999999999999999999999999.999999999, "
        "'-1 days', '{}', '00:00:00.000001-05:30', 'abcde', '[]')",
        "(3, '-Infinity', '-Infinity', '1970-01-01', '1970-01-01 00:00:00', "
        "'1969-12-31 23:59:59.999999+00', 0.000000001, '0 seconds', '{-2147483648}', "
        "'23:59:59.999999+14', '', '\"just a string\"')",
        "(4, '-0', '-0', '2000-02-29', '2000-02-29 12:34:56.789', "
        "'2000-02-29 12:34:56.789+05:45', -0.000000001, '1 mon -1 days', '{{1,2},{3,4}}', "
        "'00:00:00+00', 'Ü😀', '{\"k\": \"Ünï 😀\", \"n\": 1.50}')",
        "(5, '1e-45', '5e-324', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    ]
    return Table("special", cols, "id", inserts=[
        f"INSERT INTO {{t}} VALUES {', '.join(vals)};"])


def pg_time24():
    """PostgreSQL's time 24:00:00 (docs: kept as 86400000000 us)."""
    return Table("time24", [Col("id", "int64", "bigint PRIMARY KEY"), Col("t", "time", "time")],
                 "id", inserts=["INSERT INTO {t} VALUES (1, '24:00:00'), (2, '23:59:59.999999');"])


def my_special():
    """MariaDB-only types (docs/connectors/mysql.md)."""
    cols = [
        Col("id", "int64", "BIGINT PRIMARY KEY"),
        Col("y", "int16", "YEAR"),
        Col("bits", "uint64", "BIT(64)", read="`bits` + 0"),
        Col("st", "string", "SET('a','b','c')"),
        Col("wide", "string", "DECIMAL(65,30)"),       # p > 38: the exact text
        Col("lat", "string", "VARCHAR(20) CHARACTER SET latin1"),
        Col("bchar", "binary", "VARBINARY(8)"),
        Col("tiny", "string", "TINYTEXT"),
    ]
    vals = [
        "(1, 2155, b'1111111111111111111111111111111111111111111111111111111111111111', 'a,c', "
        "'99999999999999999999999999999999999.999999999999999999999999999999', 'Ünïcödé', "
        "X'00ff', 'tiny 😀')",
        "(2, 1901, b'0', '', "
        "'-99999999999999999999999999999999999.999999999999999999999999999999', '', X'', '')",
        "(3, 0, b'101', 'a,b,c', '0.000000000000000000000000000001', 'ÿ', X'5c4e', 'x')",
        "(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    ]
    return Table("special", cols, "id", inserts=[f"INSERT INTO {{t}} VALUES {', '.join(vals)};"])


F32_EDGES = [F32_MAX, -F32_MAX, 1.1754943508222875e-38, 16777216.0, 0.1, 3.14159265, -1e-10,
             123456.789]


def floats_table(system):
    """float32 values whose shortest text has 7-9 significant digits, and FLT_MAX.

    Kept apart from `types` (which holds float32 values with at most 6
    significant digits in MariaDB, and none within one ulp of FLT_MAX) since
    these once failed on their own: the MySQL text protocol printing FLOAT
    with 6 digits, and FLT_MAX's shortest text parsing above FLT_MAX.
    """
    return Table("floats", [Col("id", "int64", "bigint PRIMARY KEY" if system == "pg" else
                                "BIGINT PRIMARY KEY"),
                            Col("f", "float32", "real" if system == "pg" else "FLOAT")],
                 "id", rows=[(i + 1, f32(v)) for i, v in enumerate(F32_EDGES)])


def source_tables(system):
    types = Table("types", PG_TYPES if system == "pg" else MY_TYPES, "id")
    types.rows = gen_rows(types.cols, TYPE_ROWS, SEED + (system == "my"))
    tables = [types, empty_table(system), nopk_table(system), floats_table(system)]
    tables += [pg_special(), pg_time24()] if system == "pg" else [my_special()]
    return {t.name: t for t in tables}


def create(server, table, name=None):
    name = name or table.name
    q = server.qualified(name)
    cols = ", ".join(f"{server.ident(c.name)} {c.ddl}" for c in table.cols)
    script = [f"CREATE TABLE {q} ({cols});"]
    for row in table.rows:
        vals = ", ".join(server.literal(c.type, v) for c, v in zip(table.cols, row))
        script.append(f"INSERT INTO {q} VALUES ({vals});")
    script += [s.replace("{t}", q) for s in table.inserts]
    server.sql("\n".join(script))


def sorted_rows(rows, key_index):
    if key_index is None:
        return sorted(rows, key=dbs.sort_key)
    return sorted(rows, key=lambda r: r[key_index])


@dataclass
class Source:
    system: str
    table: Table
    expected: list    # canonical rows read back from the source, sorted

    @property
    def key_index(self):
        return self.table.names.index(self.table.key) if self.table.key else None


@pytest.fixture(scope="module")
def sources(servers):
    """Every source table in both servers, with its rows as the server returns them."""
    out = {}
    for system, server in servers.items():
        for name, table in source_tables(system).items():
            create(server, table)
            got = server.rows(name, table.read_cols())
            key_index = table.names.index(table.key) if table.key else None
            got = sorted_rows(got, key_index)
            if table.rows or name == "empty":
                # The reader and the literals agree with the Python-side values.
                want = sorted_rows([tuple(dbs.canon(t, v) for t, v in zip(table.types, r))
                                    for r in table.rows], key_index)
                dbs.assert_rows_equal(got, want, table.names, f"{system} source {name}")
            else:
                assert len(got) >= 2, f"{system} source {name}: {len(got)} rows"
            out[(system, name)] = Source(system, table, got)
    return out


def check_db_table(server, name, src, what):
    """A table sluice created in `server` from `src`: names, types, keys, rows."""
    system = server.kind
    cols = server.columns(name)
    assert [c[0] for c in cols] == src.table.names, f"{what}: columns {cols}"
    want_types = [created_type(system, t) for t in src.table.types]
    assert [c[1] for c in cols] == want_types, f"{what}: column types"
    key = src.table.key
    assert server.primary_key(name) == ([key] if key else []), f"{what}: primary key"
    assert {c[0] for c in cols if c[2]} == ({key} if key else set()), f"{what}: NOT NULL"
    types = [readback_type(system, t) for t in src.table.types]
    got = sorted_rows(server.rows(name, list(zip(src.table.names, types))), src.key_index)
    want = [tuple(readback_value(system, t, v) for t, v in zip(src.table.types, r))
            for r in src.expected]
    dbs.assert_rows_equal(got, want, src.table.names, what)


def src_uri(servers, src):
    return servers[src.system].sluice_uri(src.table.name)


# ---------------------------------------------------------------------------
# 1a. server -> server

def case_marks(src_sys, dst, table):
    """dst: 'pg' / 'my' for a server, else a file format. No known bugs left."""
    return []


DB_CASES = [(s, d, t) for s in ("pg", "my") for d in ("pg", "my")
            for t in ("types", "empty", "nopk", "floats")]
DB_CASES += [("pg", "pg", "special"), ("pg", "pg", "time24"), ("my", "my", "special")]


@pytest.mark.parametrize("src_sys,dst_sys,table", [
    pytest.param(*c, id="-".join(c), marks=case_marks(*c)) for c in DB_CASES])
def test_copy_between_servers(servers, sources, src_sys, dst_sys, table):
    src = sources[(src_sys, table)]
    dst = servers[dst_sys]
    name = f"{table}_from_{src_sys}"
    run("copy", src_uri(servers, src), dst.sluice_uri(name), "-q", check=True)
    check_db_table(dst, name, src, f"{src_sys} -> {dst_sys} {table}")


# ---------------------------------------------------------------------------
# 1b. server <-> SQLite, CSV, JSONL, parts

# Declared SQLite types the sink creates (docs/connectors/sqlite.md).
SQLITE_DECLARED = {
    "int8": "TINYINT", "int16": "SMALLINT", "int32": "INT4", "int64": "BIGINT",
    "uint8": "UTINYINT", "uint16": "USMALLINT", "uint32": "UINTEGER", "uint64": "UBIGINT",
    "float32": "FLOAT4", "float64": "REAL", "bool": "BOOLEAN", "string": "TEXT",
    "binary": "BLOB", "date": "DATE", "time": "TIME", "timestamp": "TIMESTAMP",
    "timestamptz(UTC)": "TIMESTAMPTZ", "uuid": "UUID", "json": "JSON TEXT",
}


def schema_spec(table):
    out = []
    for c in table.cols:
        s = f"{c.name}:{c.type}"
        if c.name == table.key:
            s += ":key:notnull"
        out.append(s)
    return ",".join(out)


def q(text):
    return urllib.parse.quote(text, safe="")


def check_file(fmt, path, src, what):
    """The file sluice wrote from `src` holds its rows, decoded by an independent reader."""
    names, types = src.table.names, src.table.types
    if fmt == "sqlite":
        declared = e2e.sqlite_declared_types(path, "t")
        assert [d[0] for d in declared] == names, what
        for (name, decl, _, pk), t in zip(declared, types):
            want = SQLITE_DECLARED.get(t) or f"DECIMAL{t[len('decimal'):]}"
            if name == src.table.key:
                assert pk == 1, f"{what}: {name} is not the primary key"
                want = "INTEGER" if t == "int64" else want  # a single int64 key: the rowid
            assert decl.replace(" ", "") == want.replace(" ", ""), f"{what}: {name} {decl}"
        _, rows = e2e.read_sqlite(path, "t", types)
    elif fmt == "csv":
        got_names, rows = e2e.read_csv(path, types)
        assert got_names == names, what
    elif fmt == "jsonl":
        rows = e2e.read_jsonl(path, names, types)
    elif fmt == "parts":
        data, ends, table = e2e.read_parts_dir(path)
        assert ends, f"{what}: no end part"
        assert sum(int(m["sluice.rows"]) for m in data) == len(src.expected), what
        if table is None:
            rows = []
        else:
            assert table.schema.names == names, what
            assert [e2e.arrow_type_name(f) for f in table.schema] == types, what
            if src.table.key:
                f = table.schema.field(src.table.key)
                assert (f.metadata or {}).get(b"sluice:primary_key") == b"true", what
            rows = e2e.arrow_columns(table, types)
    else:
        raise AssertionError(fmt)
    got = sorted_rows(dbs.normalize(types, rows), src.key_index)
    dbs.assert_rows_equal(got, src.expected, names, what)


FILE_CASES = [(s, f, t) for s in ("pg", "my") for f in ("sqlite", "csv", "jsonl", "parts")
              for t in ("types", "empty", "nopk", "floats", "special")]
FILE_CASES += [("pg", f, "time24") for f in ("sqlite", "csv", "jsonl", "parts")]


@pytest.mark.parametrize("system,fmt,table", [
    pytest.param(*c, id="-".join(c), marks=case_marks(*c)) for c in FILE_CASES])
def test_server_to_file_and_back(servers, sources, tmp_path, system, fmt, table):
    src = sources[(system, table)]
    server = servers[system]
    uri = src_uri(servers, src)
    what = f"{system} {table} -> {fmt}"
    # Forward: the server table into the file, checked by an independent reader.
    path = {"sqlite": tmp_path / "t.db", "csv": tmp_path / "t.csv",
            "jsonl": tmp_path / "t.jsonl", "parts": tmp_path / "parts"}[fmt]
    if fmt == "parts":
        run("export", uri, "--to", f"parts://{path}", "--part-size", "256KiB", "-q", check=True)
    else:
        dst = f"sqlite://{path}?table=t" if fmt == "sqlite" else f"file://{path}"
        run("copy", uri, dst, "-q", check=True)
    check_file(fmt, path, src, what)
    # Back: the file into a new table of the same server, which must equal the source.
    name = f"{table}_back_{fmt}"
    back = server.sluice_uri(name)
    if fmt == "parts":
        run("import", f"parts://{path}", "--into", back, "-q", check=True)
    elif fmt == "sqlite":
        run("copy", f"sqlite://{path}?table=t", back, "-q", check=True)
    else:
        run("copy", f"file://{path}?schema={q(schema_spec(src.table))}", back, "-q",
            check=True)
    check_db_table(server, name, src, f"{what} -> {system}")


# ---------------------------------------------------------------------------
# 2. hostile identifiers


def hostile_tables(system, scratch):
    """Table names; the injections aim at the canary (MariaDB: a table option
    cannot hold a dot, so its injections name the canary of the session's
    database unqualified)."""
    ref = f"{scratch}.canary" if system == "pg" else "canary"
    return ["with space", 'quote"in', "back`tick", "MixedCase", "select", "order",
            f't"; DROP TABLE {ref}; --', f"t`; DROP TABLE {ref}; --",
            f"t'; DROP TABLE {ref}; --"]


def hostile_columns(scratch):
    """(name, sluice type, PostgreSQL type, MariaDB type); `select` is the key."""
    ref = f"{scratch}.canary"
    return [("select", "int64", "bigint PRIMARY KEY", "BIGINT PRIMARY KEY"),
            ("with space", "string", "text", "LONGTEXT"),
            ('quote"in', "int32", "integer", "INT"),
            ("back`tick", "string", "text", "LONGTEXT"),
            ("MixedCase", "decimal(10,2)", "numeric(10,2)", "DECIMAL(10,2)"),
            ("order", "bool", "boolean", "TINYINT(1)"),
            ("ünïcödé", "string", "text", "LONGTEXT"),
            (f'c"); DROP TABLE {ref}; --', "string", "text", "LONGTEXT"),
            (f"c`); DROP TABLE {ref}; --", "int32", "integer", "INT"),
            (f"c'); DROP TABLE {ref}; --", "string", "text", "LONGTEXT")]


def hostile_rows():
    evil = ["x'); DROP TABLE canary; --", 'y"); DROP TABLE canary; --',
            "z`); DROP TABLE canary; --", "\\'; --", "😀"]
    return [(i * 1000 - 2000, evil[i], i, evil[-1 - i], (i - 2) * 12345, i % 2 == 0,
             "Ünï", None if i == 3 else evil[i], -i, "ok") for i in range(5)]


@pytest.fixture(scope="module")
def hostile(servers):
    """Per server: its canary and one source table under every hostile name."""
    scratch = servers["pg"].scratch
    cols = hostile_columns(scratch)
    for system, server in servers.items():
        server.sql(f"CREATE TABLE {server.qualified('canary')} (v integer); "
                   f"INSERT INTO {server.qualified('canary')} VALUES (42);")
        for name in hostile_tables(system, scratch):
            table = Table(name, [Col(n, t, pg if system == "pg" else my)
                                 for n, t, pg, my in cols], "select", hostile_rows())
            create(server, table)
    return scratch, cols


def assert_canaries(servers, what):
    for server in servers.values():
        assert "canary" in server.tables(), f"{what}: {server.name} canary table dropped"
        assert server.rows("canary", [("v", "int32")]) == [(42,)], f"{what}: canary changed"


HOSTILE_DIRECTIONS = [("pg", "pg"), ("pg", "my"), ("my", "my"), ("my", "pg")]


@pytest.mark.parametrize("src_sys,dst_sys", HOSTILE_DIRECTIONS,
                         ids=[f"{a}-{b}" for a, b in HOSTILE_DIRECTIONS])
def test_hostile_identifiers_stay_names(servers, hostile, src_sys, dst_sys):
    scratch, cols = hostile
    src, dst = servers[src_sys], servers[dst_sys]
    names = [c[0] for c in cols]
    want = sorted(hostile_rows())
    before = dst.tables()
    made = set()
    for src_name, dst_base in zip(hostile_tables(src_sys, scratch),
                                  hostile_tables(dst_sys, scratch)):
        dst_name = f"{src_sys}2 {dst_base}"  # a new table, also in PG -> PG
        made.add(dst_name)
        what = f"{src_sys} {src_name!r} -> {dst_sys} {dst_name!r}"
        # min_split_rows=1: cut into key ranges, so the hostile key name is in WHERE clauses.
        r = run("copy", src.sluice_uri(src_name, min_split_rows=1, max_splits=4),
                dst.sluice_uri(dst_name), "-q")
        assert r.returncode == 0, f"{what}: exit {r.returncode}\n{r.stderr}"
        got_cols = dst.columns(dst_name)
        assert [c[0] for c in got_cols] == names, f"{what}: columns {got_cols}"
        assert dst.primary_key(dst_name) == ["select"], what
        types = [readback_type(dst_sys, t) for _, t, _, _ in cols]
        got = dst.rows(dst_name, list(zip(names, types)), order_by="select")
        dbs.assert_rows_equal(got, want, names, what)
    what = f"{src_sys} -> {dst_sys}"
    assert_canaries(servers, what)
    # Exactly the named tables appeared (and the ledger); no source table is gone.
    assert dst.tables() - before - {"_sluice_ledger"} == made, what
    assert set(hostile_tables(src_sys, scratch)) <= src.tables(), f"{what}: a source is gone"


# ---------------------------------------------------------------------------
# 3. SIGKILL mid-copy, then a re-run
#
# Every resumed target is compared with a reference copy on the server: same
# row count, no duplicate keys, and no row that differs from the reference
# in any column (a key join with NULL-safe, byte-exact comparison: stronger
# than a checksum, and cheaper on the server). The reference itself is
# checked against the SQLite source loaded into the same server by the
# server's own client (COPY / LOAD DATA from Python's sqlite3 rows).

KILL_ROWS = {"pg": 200_000, "my": 60_000}   # MariaDB loads ~3x slower
KILL_CYCLES = 20
KILL_PART_SIZE = {"pg": "256KiB", "my": "128KiB"}   # ~70 / ~45 parts


def mixed_cols(system):
    return [(n, readback_type(system, t)) for n, t in e2e.MIXED]


@pytest.fixture(scope="module")
def kill_sources(tmp_path_factory):
    """SQLite tables of the mixed schema (gen://), one per row count."""
    d = tmp_path_factory.mktemp("kill_src")
    out = {}
    for system, n in KILL_ROWS.items():
        db = d / f"src_{n}.db"
        if not db.exists():
            run("copy", f"gen:///?rows={n}&schema=mixed", f"sqlite://{db}?table=t", "-q",
                check=True)
        out[system] = db
    return out


def _copy_text(v, mysql_datetime=False):
    """A raw SQLite value in COPY text / LOAD DATA form (the two share \\N and escapes)."""
    if v is None:
        return "\\N"
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        if mysql_datetime:
            # timestamptz -> DATETIME(6) holding UTC: MariaDB does not parse the 'Z'.
            v = v.replace("T", " ").removesuffix("Z")
        return (v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))
    return str(v)


def load_independently(server, name, src_db, tmp_path):
    """The SQLite source's stored values loaded into `server` by its own client."""
    con = sqlite3.connect(f"file:{src_db}?mode=ro", uri=True)
    try:
        raw = con.execute("SELECT * FROM t ORDER BY id").fetchall()
    finally:
        con.close()
    system = server.kind
    cols = ", ".join(f"{server.ident(n)} {created_type(system, t)}" for n, t in e2e.MIXED)
    q = server.qualified(name)
    ts = [t.startswith("timestamptz") and system == "my" for _, t in e2e.MIXED]
    binary = [t == "binary" for _, t in e2e.MIXED]
    lines = []
    for row in raw:
        fields = []
        for v, is_ts, is_bin in zip(row, ts, binary):
            f = _copy_text(v, is_ts)
            fields.append("\\\\x" + f if is_bin and v is not None and system == "pg" else f)
        lines.append("\t".join(fields))
    data = "\n".join(lines) + "\n"
    if system == "pg":
        server.sql(f"CREATE TABLE {q} ({cols}, PRIMARY KEY (id));\n"
                   f"COPY {q} FROM STDIN;\n{data}\\.\n")
    else:
        path = tmp_path / f"{name}.tsv"
        assert "'" not in str(path) and "\\" not in str(path), path  # a plain SQL string
        path.write_text(data, encoding="utf-8")
        names = [server.ident(n) if t != "binary" else f"@{n}" for n, t in e2e.MIXED]
        sets = ", ".join(f"{server.ident(n)} = UNHEX(@{n})" for n, t in e2e.MIXED
                         if t == "binary")
        out = server.sql(f"CREATE TABLE {q} ({cols}, PRIMARY KEY (id));\n"
                         f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {q} "
                         f"CHARACTER SET utf8mb4 ({', '.join(names)}) SET {sets};\n"
                         f"SELECT @@warning_count;", local_infile=True)
        assert out == [["0"]], f"LOAD DATA warnings: {out}"
    assert server.count(name) == len(raw)


@dataclass
class Reference:
    rows: int
    duration: float   # seconds of one full copy


def copy_args(src_db, dst_uri, *extra, part_size):
    return [SLUICE, "copy", f"sqlite://{src_db}?table=t", dst_uri, "--part-size", part_size,
            "--progress", "never", *extra]


def check_equal_to_reference(server, name, ref, what, forget=False):
    """Row count, distinct keys, rows differing from `reference`, and the ledger,
    in one round trip; `forget` then drops the table and its ledger entries."""
    script = (server.counts_sql(name, "id") +
              server.diff_sql(name, "reference", "id", mixed_cols(server.kind)) +
              server.table_and_ledger_sql(name))
    if forget:
        script += server.forget_sql(name)
    (rows, keys), (diff,), ledger = [[int(x) for x in r] for r in server.sql(script)]
    assert rows == ref.rows, f"{what}: {rows} rows, expected {ref.rows}"
    assert keys == ref.rows, f"{what}: {rows - keys} duplicate keys"
    assert diff == 0, f"{what}: {diff} rows differ from the reference copy"
    assert ledger == [ref.rows, ref.rows], f"{what}: (table, ledger) rows {ledger}"


@pytest.fixture(scope="module")
def references(servers, kill_sources, tmp_path_factory):
    """A full copy into each server (table `reference`), equal to the SQLite
    source loaded independently; also times one full copy."""
    out = {}
    for system, server in servers.items():
        src = kill_sources[system]
        t0 = time.monotonic()
        r = subprocess.run(copy_args(src, server.sluice_uri("reference"), "-q",
                                     part_size=KILL_PART_SIZE[system]),
                           capture_output=True, text=True, timeout=300)
        duration = time.monotonic() - t0
        assert r.returncode == 0, r.stderr
        load_independently(server, "source", src, tmp_path_factory.mktemp(f"load_{system}"))
        ref = Reference(KILL_ROWS[system], duration)
        # The reference's columns are the types sluice creates (checked in part 1),
        # the same as those of `source`.
        assert [c[1] for c in server.columns("reference")] == \
            [created_type(system, t) for _, t in e2e.MIXED]
        assert server.counts("source", "id") == (ref.rows, ref.rows)
        assert server.counts("reference", "id") == (ref.rows, ref.rows)
        diff = server.diff("source", "reference", "id", mixed_cols(system))
        assert diff == 0, f"{system}: {diff} source rows differ in the reference copy"
        out[system] = ref
    return out


def table_and_ledger(server, name):
    """(rows in the table, rows the ledger records for it), read in one statement
    (one snapshot, so a commit landing in between cannot tell them apart), or None."""
    tables = server.tables()
    if name not in tables or "_sluice_ledger" not in tables:
        return None
    r = server.sql(server.table_and_ledger_sql(name))[0]
    return int(r[0]), int(r[1])


def kill_after(proc, delay):
    """SIGKILLs `proc` `delay` seconds after it started; True if it was still running."""
    time.sleep(delay)
    alive = proc.poll() is None
    if alive:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return alive


@pytest.mark.parametrize("system", ["pg", "my"])
def test_copy_killed_20_times_ends_exactly_once(servers, kill_sources, references, system,
                                                capsys):
    server, ref, src = servers[system], references[system], kill_sources[system]
    part_size = KILL_PART_SIZE[system]  # the same in every run: part ids depend on it
    rng = random.Random(SEED + (system == "my"))
    log, partial = [], 0
    for cycle in range(KILL_CYCLES):
        name = f"kill{cycle:02d}"
        dst = server.sluice_uri(name)
        kills = 2 if cycle % 3 == 2 else 1  # one cycle in three: the re-run is killed too
        delays, states = [], []
        for _ in range(kills):
            delay = rng.uniform(0.02, 0.98) * ref.duration
            delays.append(delay)
            proc = subprocess.Popen(copy_args(src, dst, "-q", part_size=part_size),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            killed = kill_after(proc, delay)
            state = table_and_ledger(server, name)
            states.append((killed, state))
            if state is not None:
                # No half-applied part: the table holds exactly the ledger's parts.
                assert state[0] == state[1], f"cycle {cycle}: table vs ledger rows {state}"
                if killed and 0 < state[0] < ref.rows:
                    partial += 1
        r = subprocess.run(copy_args(src, dst, "-q", "--stats-json", "-", part_size=part_size),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"cycle {cycle}: re-run failed:\n{r.stderr}"
        st = json.loads(r.stdout)
        assert st["rows"] + st["duplicate_rows"] == ref.rows, f"cycle {cycle}: {st}"
        check_equal_to_reference(server, name, ref, f"cycle {cycle}", forget=True)
        log.append(f"cycle {cycle:2d}: kill delays " +
                   ", ".join(f"{x * 1000:5.0f} ms" for x in delays) +
                   "  (killed, (rows, ledger rows)): " + "; ".join(str(s) for s in states) +
                   f"  re-run applied {st['parts']} parts, skipped {st['duplicates']}")
    with capsys.disabled():
        print(f"\n{server.name} SIGKILL test: {ref.rows} rows, full copy "
              f"{ref.duration * 1000:.0f} ms, seed {SEED + (system == 'my')}, "
              f"{partial} kills left a partial table")
        for line in log:
            print(line)
    # Most kills must land mid-copy, or the test proves little.
    assert partial >= KILL_CYCLES // 4, f"only {partial} kills interrupted a partial copy"


# ---------------------------------------------------------------------------
# 4. the target server stopped mid-copy

CRASH_MARKERS = ("Segmentation fault", "terminate called", "Assertion", "AddressSanitizer",
                 "runtime error:", "core dumped", "Aborted")


@pytest.mark.parametrize("system", ["pg", "my"])
def test_server_stopped_mid_copy_then_rerun(servers, kill_sources, references, system,
                                            tmp_path, capsys):
    server, ref, src = servers[system], references[system], kill_sources[system]
    name = "stopped"
    # One writer and small parts: a long run of short transactions (~2 s) to stop in the
    # middle of.
    args = copy_args(src, server.sluice_uri(name), "--workers", "1",
                     part_size={"pg": "64KiB", "my": "32KiB"}[system])
    err_path = tmp_path / "stderr.txt"
    rc = None
    with open(err_path, "w") as err_file:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err_file)
        try:
            deadline = time.monotonic() + 120
            state = None
            while proc.poll() is None and time.monotonic() < deadline:
                state = table_and_ledger(server, name)
                if state and state[1] > 0:
                    break
                time.sleep(0.05)
            assert proc.poll() is None, (
                f"the copy ended (exit {proc.returncode}) before {server.name} could be "
                f"stopped (too small a table?):\n{err_path.read_text()}")
            assert state and state[1] > 0, f"no part committed within 120 s: {state}"
            down = dbs.services("down", server)
            assert down.returncode == 0, f"services.sh down: {down.stderr}"
            try:
                rc = proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                pytest.fail(f"sluice still running 120 s after {server.name} stopped (hang)")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            up = dbs.services("up", server)
    assert up.returncode == 0, f"services.sh up {server.service} failed: {up.stderr}"
    err = err_path.read_text()
    assert rc is not None and rc > 0, f"exit {rc} after {server.name} stopped:\n{err}"
    assert rc == 1, f"exit {rc} (runtime failures exit 1):\n{err}"
    assert not any(m in err for m in CRASH_MARKERS), f"crash output:\n{err}"
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert errors, f"no error message:\n{err}"
    assert f"{server.host}:{server.port}" in err, f"the error does not name the server:\n{err}"
    kind = "postgres" if system == "pg" else "mysql"
    assert kind in err.lower(), f"the error does not name {server.name}:\n{err}"
    with capsys.disabled():
        print(f"\n{server.name} stopped with {state[1]} rows committed: exit {rc}, "
              f"{errors[-1]}")
    # Restarted: the same command finishes the table, exactly once.
    server.ping()
    r = subprocess.run(args + ["-q", "--stats-json", "-"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, f"re-run after the restart failed:\n{r.stderr}"
    st = json.loads(r.stdout)
    assert st["rows"] + st["duplicate_rows"] == ref.rows, st
    assert st["duplicate_rows"] > 0, f"the re-run skipped nothing: {st}"
    check_equal_to_reference(server, name, ref, f"after {server.name} restart")
