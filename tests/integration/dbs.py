"""The PostgreSQL and MariaDB servers of the end-to-end tests, through their own clients.

Nothing here calls sluice. Tables are created and filled, and read back, with
the servers' command-line clients (`psql`, `mariadb`) so that what a test
compares does not depend on the code under test.

Reading: every value is turned into text *on the server* by an expression
chosen for its type (PostgreSQL `::text` under fixed session settings,
MariaDB `CAST(.. AS CHAR)`; bytea/BLOB as raw bytes) and shipped as hex with a
one-character NULL flag, so NULL, '' and any byte sequence stay distinct and
the client's own escaping never matters. Those texts are then turned into the
canonical values of e2e.py (e2e.canon_text) for the logical type the column
is read as, plus one extra rule: JSON compares as a document (object key
order, whitespace and number spelling ignored), since jsonb and MariaDB
normalise those.

Writing: SQL literals built from canonical values (strings and bytes as hex,
so no escaping rules are involved).

Server addresses come from SLUICE_PG_URI / SLUICE_MYSQL_URI (defaults: the
ones scripts/services.sh prints). Every test works in a scratch namespace (a
PostgreSQL schema, a MariaDB database) created for the session and dropped at
the end, so runs never see each other's tables.
"""

import datetime
import decimal
import os
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import e2e

REPO = Path(__file__).resolve().parents[2]
SERVICES_SH = REPO / "scripts" / "services.sh"
PG_URI = os.environ.get("SLUICE_PG_URI", "postgres://postgres@127.0.0.1:55432/sluice_test")
MY_URI = os.environ.get("SLUICE_MYSQL_URI", "mysql://root@127.0.0.1:33306/sluice_test")

# PostgreSQL session settings for reading: the text forms parse_* in e2e.py expects.
PG_OPTIONS = ("-c TimeZone=UTC -c DateStyle=ISO,YMD -c extra_float_digits=3 "
              "-c bytea_output=hex -c IntervalStyle=iso_8601 -c client_min_messages=warning")


def _tool(name, fallback):
    return shutil.which(name) or fallback


PSQL = _tool("psql", "/usr/lib/postgresql/15/bin/psql")
MARIADB = _tool("mariadb", _tool("mysql", "/usr/bin/mariadb"))


class SqlError(AssertionError):
    pass


def _run(cmd, script, env, timeout, what):
    try:
        r = subprocess.run(cmd, input=script.encode("utf-8"), capture_output=True, env=env,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SqlError(f"{what}: no answer within {timeout} s")
    if r.returncode != 0:
        head = script if len(script) < 2000 else script[:2000] + "..."
        raise SqlError(f"{what} exited {r.returncode}: {r.stderr.decode(errors='replace')}\n"
                       f"script: {head}")
    return r.stdout.decode("utf-8")


# ---------------------------------------------------------------------------
# canonical values


EPOCH = datetime.date(1970, 1, 1)


def unorder_json(v):
    """An e2e.canon_json value compared as a document: sorted keys, numbers by value."""
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "obj":
        return ("obj", tuple(sorted(((k, unorder_json(x)) for k, x in v[1]),
                                    key=lambda kv: kv[0])))
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "arr":
        return ("arr", tuple(unorder_json(x) for x in v[1]))
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "num":
        return ("num", decimal.Decimal(v[1]).normalize())
    return v


def normalize(types, rows):
    """Rows from an e2e reader with JSON compared as a document (see unorder_json)."""
    idx = [i for i, t in enumerate(types) if t == "json"]
    if not idx:
        return rows
    out = []
    for r in rows:
        r = list(r)
        for i in idx:
            if r[i] is not None:
                r[i] = unorder_json(r[i])
        out.append(tuple(r))
    return out


def canon(t, v):
    """The canonical value of a Python-side test value (json given as its text)."""
    if v is None:
        return None
    if t == "json":
        return unorder_json(e2e.canon_json(v))
    return v


def parse_value(t, text, bool_digits=False):
    if t == "json":
        return unorder_json(e2e.canon_json(text))
    return e2e.canon_text(t, text, bool_digits=bool_digits)


def decimal_text(unscaled, scale):
    sign = "-" if unscaled < 0 else ""
    digits = str(abs(unscaled)).rjust(scale + 1, "0")
    if scale == 0:
        return sign + digits
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def date_text(days):
    return (EPOCH + datetime.timedelta(days=days)).isoformat()


def time_text(micros):
    s, us = divmod(micros, 1_000_000)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{us:06d}"


def timestamp_text(micros):
    days, rest = divmod(micros, e2e.MICROS_PER_DAY)
    return f"{date_text(days)} {time_text(rest)}"


def sort_key(row):
    return tuple((v is None, repr(v)) for v in row)


def short(v, n=80):
    s = repr(v)
    return s if len(s) <= n else f"{s[:n]}... ({len(s)} chars)"


def assert_rows_equal(got, want, names, what):
    """Equal row lists; on failure names the first differing row and column, briefly."""
    assert len(got) == len(want), f"{what}: {len(got)} rows, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            for name, a, b in zip(names, g, w):
                if a != b:
                    raise AssertionError(f"{what}: row {i} column {name!r}: got {short(a)}, "
                                         f"expected {short(b)}")
            raise AssertionError(f"{what}: row {i}: got {short(g)}, expected {short(w)}")


# ---------------------------------------------------------------------------
# servers


class Server:
    """One server: parsed from its URI, with SQL execution through its CLI."""

    kind = None

    def __init__(self, uri):
        u = urllib.parse.urlsplit(uri)
        self.uri = uri
        self.user = urllib.parse.unquote(u.username or "")
        self.password = urllib.parse.unquote(u.password) if u.password is not None else None
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port
        self.db = urllib.parse.unquote(u.path.lstrip("/"))
        self.netloc = u.netloc
        self.scheme = u.scheme
        self.scratch = None  # schema (PostgreSQL) / database (MariaDB) of this session

    def sluice_uri(self, table, **opts):
        """The sluice URI of `table` in the scratch namespace (options appended)."""
        raise NotImplementedError

    def _uri(self, db, params):
        q = "&".join(f"{k}={urllib.parse.quote(str(v), safe='')}" for k, v in params.items())
        return f"{self.scheme}://{self.netloc}/{urllib.parse.quote(db, safe='')}?{q}"


class Postgres(Server):
    kind = "pg"
    name = "PostgreSQL"
    service = "postgres"

    def __init__(self, uri=PG_URI):
        super().__init__(uri)
        self.user = self.user or "postgres"
        self.port = self.port or 5432

    def sql(self, script, timeout=180, db=None):
        """Runs a script; stdout rows as lists of tab-separated fields."""
        env = dict(os.environ, PGOPTIONS=PG_OPTIONS, PGCONNECT_TIMEOUT="5", PGCLIENTENCODING="UTF8")
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        cmd = [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-F", "\t",
               "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", db or self.db,
               "-f", "-"]
        out = _run(cmd, script, env, timeout, f"psql on {self.host}:{self.port}")
        return [line.split("\t") for line in out.split("\n") if line]

    @staticmethod
    def ident(name):
        return '"' + name.replace('"', '""') + '"'

    @staticmethod
    def lit(text):
        return "'" + text.replace("'", "''") + "'"

    def qualified(self, table):
        return f"{self.ident(self.scratch)}.{self.ident(table)}"

    def sluice_uri(self, table, **opts):
        # `table=schema.name` is split at the first dot: the scratch schema has none.
        return self._uri(self.db, {"table": f"{self.scratch}.{table}", **opts})

    # -- literals from canonical values
    def literal(self, t, v):
        if v is None:
            return "NULL"
        if t.startswith("int") or t.startswith("uint"):
            return str(v)
        if t in ("float32", "float64"):
            return f"'{v}'::" + ("real" if t == "float32" else "double precision")
        scale = e2e.decimal_scale(t)
        if scale is not None:
            return decimal_text(v, scale)
        if t == "bool":
            return "TRUE" if v else "FALSE"
        if t in ("string", "json"):
            text = f"convert_from('\\x{v.encode('utf-8').hex()}'::bytea, 'UTF8')"
            # json -> jsonb and back are assignment casts: fits either column type.
            return f"({text})::json" if t == "json" else text
        if t == "binary":
            return f"'\\x{v.hex()}'::bytea"
        if t == "date":
            return f"'{date_text(v)}'::date"
        if t == "time":
            return f"'{time_text(v)}'::time"
        if t == "timestamp":
            return f"'{timestamp_text(v)}'::timestamp"
        if t.startswith("timestamptz"):
            return f"'{timestamp_text(v)}+00'::timestamptz"
        if t == "uuid":
            return f"'{v}'::uuid"
        raise ValueError(t)

    # -- reading
    def value_expr(self, col, t, expr=None):
        """SQL text (never NULL) of a column value: '-' for NULL, else '+' and hex.

        `expr` reads the column some other way (default: the column itself)."""
        c = expr or self.ident(col)
        if t == "binary":
            body = f"encode({c}, 'hex')"
        elif t == "json":
            # A json or jsonb column, or an array read as json (to_json is exact for json).
            body = f"encode(convert_to(to_json({c})::text, 'UTF8'), 'hex')"
        else:
            body = f"encode(convert_to({c}::text, 'UTF8'), 'hex')"
        return f"CASE WHEN {c} IS NULL THEN '-' ELSE '+' || {body} END"

    def rows(self, table, cols, order_by=None):
        """Rows of `table` as canonical tuples; cols: [(name, logical type[, expr])]."""
        exprs = ", ".join(self.value_expr(*c) for c in cols)
        q = f"SELECT {exprs} FROM {self.qualified(table)}"
        if order_by:
            q += f" ORDER BY {self.ident(order_by)}"
        return [_decode(cols, r) for r in self.sql(q + ";")]

    def columns(self, table):
        """[(name, type as format_type prints it, not null)] in column order."""
        q = f"""SELECT encode(convert_to(attname::text, 'UTF8'), 'hex'),
                       format_type(atttypid, atttypmod), attnotnull
                FROM pg_attribute
                WHERE attrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n
                                  ON n.oid = c.relnamespace
                                  WHERE n.nspname = {self.lit(self.scratch)}
                                    AND c.relname = {self.lit(table)})
                  AND attnum > 0 AND NOT attisdropped ORDER BY attnum;"""
        return [(bytes.fromhex(n).decode(), t, nn == "t") for n, t, nn in self.sql(q)]

    def primary_key(self, table):
        q = f"""SELECT encode(convert_to(a.attname::text, 'UTF8'), 'hex')
                FROM pg_index i
                JOIN pg_class c ON c.oid = i.indrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
                WHERE i.indisprimary AND n.nspname = {self.lit(self.scratch)}
                  AND c.relname = {self.lit(table)} ORDER BY a.attnum;"""
        return [bytes.fromhex(r[0]).decode() for r in self.sql(q)]

    def tables(self):
        q = f"""SELECT encode(convert_to(c.relname::text, 'UTF8'), 'hex') FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = {self.lit(self.scratch)} AND c.relkind = 'r';"""
        return {bytes.fromhex(r[0]).decode() for r in self.sql(q)}

    def count(self, table):
        return int(self.sql(f"SELECT count(*) FROM {self.qualified(table)};")[0][0])

    def counts_sql(self, table, key):
        """A query for (rows, distinct keys)."""
        return (f"SELECT count(*), count(DISTINCT {self.ident(key)}) "
                f"FROM {self.qualified(table)};")

    def counts(self, table, key):
        r = self.sql(self.counts_sql(table, key))[0]
        return int(r[0]), int(r[1])

    def diff_sql(self, a, b, key, cols=None):
        """A query for the number of rows of `a` with no equal row (same key, every
        column equal, NULLs equal) in `b`: with equal row counts and unique keys,
        0 means equal tables."""
        k = self.ident(key)
        return (f"SELECT count(*) FROM {self.qualified(a)} x LEFT JOIN {self.qualified(b)} y "
                f"ON x.{k} = y.{k} WHERE y.{k} IS NULL OR ROW(x.*) IS DISTINCT FROM ROW(y.*);")

    def diff(self, a, b, key, cols=None):
        return int(self.sql(self.diff_sql(a, b, key, cols))[0][0])

    def ledger_target(self, table):
        """How the sink names `table` in its ledger (docs: the quoted qualified name)."""
        return self.qualified(table)

    def table_and_ledger_sql(self, table, ledger="_sluice_ledger"):
        """A query for (rows in `table`, rows its ledger entries record) in one
        statement, i.e. one snapshot."""
        return (f"SELECT (SELECT count(*) FROM {self.qualified(table)}), "
                f"(SELECT coalesce(sum(rows), 0) FROM {self.qualified(ledger)} "
                f"WHERE target = {self.lit(self.ledger_target(table))});")

    def forget_sql(self, table, ledger="_sluice_ledger"):
        """Drops `table` and its ledger entries."""
        return (f"DROP TABLE IF EXISTS {self.qualified(table)}; "
                f"DELETE FROM {self.qualified(ledger)} "
                f"WHERE target = {self.lit(self.ledger_target(table))};")

    def drop(self, table):
        self.sql(f"DROP TABLE IF EXISTS {self.qualified(table)};")

    def create_scratch(self, name):
        self.scratch = name
        self.sql(f"DROP SCHEMA IF EXISTS {self.ident(name)} CASCADE; "
                 f"CREATE SCHEMA {self.ident(name)};")

    def drop_scratch(self):
        self.sql(f"DROP SCHEMA IF EXISTS {self.ident(self.scratch)} CASCADE;")

    def ping(self):
        self.sql("SELECT 1;", timeout=20)


class MariaDB(Server):
    kind = "my"
    name = "MariaDB"
    service = "mariadb"

    def __init__(self, uri=MY_URI):
        super().__init__(uri)
        self.user = self.user or "root"
        self.port = self.port or 3306

    def sql(self, script, timeout=180, db=None, local_infile=False):
        env = dict(os.environ)
        if self.password is not None:
            env["MYSQL_PWD"] = self.password
        cmd = [MARIADB, "--no-defaults", "--protocol=TCP", "-h", self.host, "-P", str(self.port),
               "-u", self.user, "-N", "-B", "-r", "--default-character-set=utf8mb4",
               "--max-allowed-packet=1073741824", "--connect-timeout=5"]
        if local_infile:
            cmd.append("--local-infile=1")
        d = db if db is not None else (self.scratch or self.db)
        if d:
            cmd += ["-D", d]
        out = _run(cmd, "SET time_zone = '+00:00';\n"
                   + script, env, timeout, f"mariadb on {self.host}:{self.port}")
        return [line.split("\t") for line in out.split("\n") if line]

    @staticmethod
    def ident(name):
        return "`" + name.replace("`", "``") + "`"

    @staticmethod
    def lit(text):
        # A hex literal with a charset introducer: no escaping rules involved.
        return f"_utf8mb4 X'{text.encode('utf-8').hex()}'"

    def qualified(self, table):
        return f"{self.ident(self.scratch)}.{self.ident(table)}"

    def sluice_uri(self, table, **opts):
        return self._uri(self.scratch, {"table": table, **opts})

    def literal(self, t, v):
        if v is None:
            return "NULL"
        if t.startswith("int") or t.startswith("uint"):
            return str(v)
        if t in ("float32", "float64"):
            return v
        scale = e2e.decimal_scale(t)
        if scale is not None:
            return decimal_text(v, scale)
        if t == "bool":
            return "1" if v else "0"
        if t in ("string", "json"):
            return self.lit(v) if v else "''"
        if t == "binary":
            return f"X'{v.hex()}'"
        if t == "date":
            return f"'{date_text(v)}'"
        if t == "time":
            return f"'{time_text(v)}'"
        if t.startswith("timestamp"):
            return f"'{timestamp_text(v)}'"  # TIMESTAMP columns: the session is UTC
        if t == "uuid":
            return f"X'{v}'"
        raise ValueError(t)

    def value_expr(self, col, t, expr=None):
        c = expr or self.ident(col)
        if t == "binary":
            body = f"HEX({c})"
        elif t == "float32":
            # FLOAT -> DOUBLE is exact; FLOAT's own text has 6 digits only.
            body = f"HEX(CONVERT(CAST(CAST({c} AS DOUBLE) AS CHAR) USING utf8mb4))"
        else:
            body = f"HEX(CONVERT(CAST({c} AS CHAR) USING utf8mb4))"
        return f"IF({c} IS NULL, '-', CONCAT('+', {body}))"

    def rows(self, table, cols, order_by=None):
        exprs = ", ".join(self.value_expr(*c) for c in cols)
        q = f"SELECT {exprs} FROM {self.qualified(table)}"
        if order_by:
            q += f" ORDER BY {self.ident(order_by)}"
        return [_decode(cols, r, bool_digits=True) for r in self.sql(q + ";")]

    def columns(self, table):
        """[(name, COLUMN_TYPE without integer display widths, not null)]."""
        q = f"""SELECT HEX(COLUMN_NAME), COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS
                WHERE TABLE_SCHEMA = {self.lit(self.scratch)} AND TABLE_NAME = {self.lit(table)}
                ORDER BY ORDINAL_POSITION;"""
        out = []
        for n, t, nullable in self.sql(q):
            t = t.lower()
            if t != "tinyint(1)" and not t.startswith("tinyint(1) "):
                t = re.sub(r"^(tinyint|smallint|mediumint|int|bigint)\(\d+\)", r"\1", t)
            out.append((bytes.fromhex(n).decode(), t, nullable == "NO"))
        return out

    def primary_key(self, table):
        q = f"""SELECT HEX(COLUMN_NAME) FROM information_schema.KEY_COLUMN_USAGE
                WHERE TABLE_SCHEMA = {self.lit(self.scratch)} AND TABLE_NAME = {self.lit(table)}
                  AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION;"""
        return [bytes.fromhex(r[0]).decode() for r in self.sql(q)]

    def tables(self):
        q = f"""SELECT HEX(TABLE_NAME) FROM information_schema.TABLES
                WHERE TABLE_SCHEMA = {self.lit(self.scratch)};"""
        return {bytes.fromhex(r[0]).decode() for r in self.sql(q)}

    def count(self, table):
        return int(self.sql(f"SELECT COUNT(*) FROM {self.qualified(table)};")[0][0])

    def counts_sql(self, table, key):
        return (f"SELECT COUNT(*), COUNT(DISTINCT {self.ident(key)}) "
                f"FROM {self.qualified(table)};")

    def counts(self, table, key):
        r = self.sql(self.counts_sql(table, key))[0]
        return int(r[0]), int(r[1])

    def diff_sql(self, a, b, key, cols):
        """As Postgres.diff_sql; cols: [(name, logical type)] (strings compare as
        bytes: the collations are PAD SPACE)."""
        k = self.ident(key)
        same = []
        for n, t in cols:
            c = self.ident(n)
            if t in ("string", "binary", "json"):
                same.append(f"CAST(x.{c} AS BINARY) <=> CAST(y.{c} AS BINARY)")
            else:
                same.append(f"x.{c} <=> y.{c}")
        return (f"SELECT COUNT(*) FROM {self.qualified(a)} x LEFT JOIN {self.qualified(b)} y "
                f"ON x.{k} = y.{k} WHERE y.{k} IS NULL OR NOT ({' AND '.join(same)});")

    def diff(self, a, b, key, cols):
        return int(self.sql(self.diff_sql(a, b, key, cols))[0][0])

    def ledger_target(self, table):
        return table  # the table name as given (docs/connectors/mysql.md)

    def table_and_ledger_sql(self, table, ledger="_sluice_ledger"):
        return (f"SELECT (SELECT COUNT(*) FROM {self.qualified(table)}), "
                f"(SELECT COALESCE(SUM(`rows`), 0) FROM {self.qualified(ledger)} "
                f"WHERE target = {self.lit(self.ledger_target(table))});")

    def forget_sql(self, table, ledger="_sluice_ledger"):
        return (f"DROP TABLE IF EXISTS {self.qualified(table)}; "
                f"DELETE FROM {self.qualified(ledger)} "
                f"WHERE target = {self.lit(self.ledger_target(table))};")

    def drop(self, table):
        self.sql(f"DROP TABLE IF EXISTS {self.qualified(table)};")

    def create_scratch(self, name):
        self.scratch = name
        self.sql(f"DROP DATABASE IF EXISTS {self.ident(name)}; "
                 f"CREATE DATABASE {self.ident(name)} CHARACTER SET utf8mb4 "
                 f"COLLATE utf8mb4_bin;", db="")

    def drop_scratch(self):
        self.sql(f"DROP DATABASE IF EXISTS {self.ident(self.scratch)};", db="")

    def ping(self):
        self.sql("SELECT 1;", timeout=20, db="")


def _decode(cols, fields, bool_digits=False):
    if len(fields) != len(cols):
        raise SqlError(f"{len(fields)} fields for {len(cols)} columns")
    out = []
    for (name, t, *_), f in zip(cols, fields):
        if f == "-":
            out.append(None)
            continue
        if not f.startswith("+"):
            raise SqlError(f"column {name}: bad field {f[:40]!r}")
        raw = bytes.fromhex(f[1:])
        if t == "binary":
            out.append(raw)
        else:
            out.append(parse_value(t, raw.decode("utf-8"), bool_digits=bool_digits))
    return tuple(out)


# ---------------------------------------------------------------------------
# services (scripts/services.sh, pointed at the servers of the URIs)


def services(action, server, timeout=150):
    """`scripts/services.sh ACTION SERVICE` for the server's port; the CompletedProcess."""
    env = dict(os.environ)
    env["SLUICE_PG_PORT" if server.kind == "pg" else "SLUICE_MYSQL_PORT"] = str(server.port)
    return subprocess.run(["bash", str(SERVICES_SH), action, server.service], env=env,
                          capture_output=True, text=True, timeout=timeout)
