"""Incremental copies and the run log with MySQL/MariaDB at either end.

MariaDB -> MariaDB keeps the watermark in the destination's `sluice_state`,
committed with the run's last part; MariaDB -> PostgreSQL reads MariaDB with
the lower bound pushed into its SELECT. Sources and targets are filled and
read back with the `mariadb` and `psql` clients, never with sluice. Every
test works in a scratch MariaDB database and PostgreSQL schema (dropped at
the end). A server that is down fails the module, it is not skipped.
"""

import json
import os
import subprocess
import urllib.parse

import pytest

from runner import run

MY_URI = os.environ.get("SLUICE_MYSQL_URI", "mysql://root@127.0.0.1:33306/sluice_test")
PG_URI = os.environ.get("SLUICE_PG_URI", "postgres://postgres@127.0.0.1:55432/sluice_test")
SCRATCH = f"inc_my_{os.getpid()}"

_my = urllib.parse.urlsplit(MY_URI)


def mariadb(sql, db=SCRATCH, time_zone="+00:00", timeout=120):
    """Runs `sql` in a session with `time_zone`; returns the rows as lists of text."""
    env = dict(os.environ)
    if _my.password:
        env["MYSQL_PWD"] = urllib.parse.unquote(_my.password)
    cmd = ["mariadb", "--no-defaults", "--protocol=TCP", "-h", _my.hostname or "127.0.0.1",
           "-P", str(_my.port or 3306), "-u", urllib.parse.unquote(_my.username or "root"),
           "-N", "-B", "-r", "--default-character-set=utf8mb4", "--connect-timeout=5"]
    if db:
        cmd += ["-D", db]
    script = f"SET time_zone = '{time_zone}';\n{sql}\n"
    r = subprocess.run(cmd, input=script, capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"mariadb failed ({r.returncode}): {r.stderr}\n{sql}\n"
                             "Is MariaDB up? Run scripts/services.sh up mariadb")
    return [line.split("\t") for line in r.stdout.splitlines()]


def psql(sql, timeout=120):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                        "-d", PG_URI, "-c", sql], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "PGTZ": "UTC", "PGOPTIONS": "-c client_min_messages=warning"})
    if r.returncode != 0:
        raise AssertionError(f"psql failed ({r.returncode}): {r.stderr}\n{sql}\n"
                             "Is PostgreSQL up? Run scripts/services.sh up postgres")
    return [line.split("\t") for line in r.stdout.splitlines()]


@pytest.fixture(scope="module")
def servers():
    mariadb("SELECT 1", db=None)  # fails the module (not skips) when a server is down
    psql("SELECT 1")
    mariadb(f"DROP DATABASE IF EXISTS `{SCRATCH}`; CREATE DATABASE `{SCRATCH}`", db=None)
    psql(f'DROP SCHEMA IF EXISTS "{SCRATCH}" CASCADE; CREATE SCHEMA "{SCRATCH}"')
    yield
    mariadb(f"DROP DATABASE IF EXISTS `{SCRATCH}`", db=None)
    psql(f'DROP SCHEMA IF EXISTS "{SCRATCH}" CASCADE')


def my_uri(table):
    base = urllib.parse.urlunsplit((_my.scheme, _my.netloc, "/" + SCRATCH, "", ""))
    return f"{base}?table={table}"


def pg_uri(table):
    return f"{PG_URI}?table={SCRATCH}.{table}"


def copy(src, dst, key="updated_at", lookback="5m", *extra):
    r = run("copy", src, dst, "--incremental-key", key, "--lookback", lookback, "-q",
            "--stats-json", "-", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def my_rows(table, ts_col="updated_at"):
    """(id, payload, key as UTC text with microseconds), ordered by id."""
    return [tuple(r) for r in mariadb(
        f"SELECT id, payload, DATE_FORMAT({ts_col}, '%Y-%m-%d %H:%i:%s.%f') FROM `{table}` "
        f"ORDER BY id")]


def test_mariadb_to_mariadb(servers):
    # TIMESTAMP(6) key: stored UTC, read by sluice in a UTC session.
    mariadb("CREATE TABLE src (id BIGINT PRIMARY KEY, payload VARCHAR(100) NOT NULL, "
            "updated_at TIMESTAMP(6) NOT NULL); "
            "INSERT INTO src SELECT seq, CONCAT('p', seq), "
            "TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq * 1000001 MICROSECOND FROM seq_1_to_2000")
    first = copy(my_uri("src"), my_uri("dst"))
    assert first["rows"] == 2000
    assert first["incremental"]["watermark_before"] is None
    assert first["incremental"]["watermark_after"] == "2026-01-01T00:33:20.002000Z"
    assert my_rows("dst") == my_rows("src")

    # Nothing new: the window is re-read (the bound is pushed into the
    # SELECT: only the last 5 minutes come back) and nothing is written.
    second = copy(my_uri("src"), my_uri("dst"))
    assert second["rows"] == 0 and second["parts"] == 0, second
    inc = second["incremental"]
    assert inc["rows_read"] == inc["rows_unchanged"]
    assert 0 < inc["rows_read"] < 400, inc  # 300 s of one row per 1.000001 s
    assert inc["watermark_after"] == first["incremental"]["watermark_after"]

    # New rows after the watermark, a late row inside the look-back window,
    # and a changed row in the window; inserted through a +05:30 session
    # (TIMESTAMP literals are local time there).
    mariadb("INSERT INTO src SELECT 3000 + seq, CONCAT('new', seq), "
            "TIMESTAMP'2026-01-01 06:03:30' + INTERVAL seq * 250000 MICROSECOND FROM seq_1_to_500; "
            "INSERT INTO src VALUES (9001, 'late', '2026-01-01 06:00:00.000001'); "
            "UPDATE src SET payload = 'changed' WHERE id = 1999", time_zone="+05:30")
    third = copy(my_uri("src"), my_uri("dst"))
    assert third["rows"] == 502, third  # 500 new + the late one + the changed one
    assert my_rows("dst") == my_rows("src")
    assert mariadb("SELECT payload FROM dst WHERE id = 1999") == [["changed"]]

    mariadb("INSERT INTO src VALUES (9002, 'last', '2026-01-01 00:40:00.999999')")
    fourth = copy(my_uri("src"), my_uri("dst"))
    assert fourth["rows"] == 1, fourth
    assert my_rows("dst") == my_rows("src")
    assert fourth["incremental"]["watermark_after"] == "2026-01-01T00:40:00.999999Z"

    # The state row: committed with the data, watermark = the source's max.
    stream = my_uri("dst")
    state = mariadb(f"SELECT watermark, key_type FROM sluice_state WHERE stream = '{stream}'")
    assert state == [["2026-01-01T00:40:00.999999Z", "timestamptz(UTC)"]]

    # The run log, in the table and through `sluice runs`.
    runs = (first, second, third, fourth)
    log = mariadb(f"SELECT run_id, status, rows_written, finished_at IS NOT NULL FROM sluice_run_log "
                  f"WHERE stream = '{stream}' ORDER BY started_at")
    assert log == [[s["run_id"], "succeeded", str(s["rows"]), "1"] for s in runs]
    r = run("runs", my_uri("dst"), "--json", check=True)
    listed = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["run_id"] for x in listed] == [s["run_id"] for s in reversed(runs)]
    assert [x["rows_written"] for x in listed] == [1, 502, 0, 2000]
    assert listed[-1]["watermark_before"] == "" and listed[0]["status"] == "succeeded"
    r = run("runs", my_uri("dst"), check=True)
    assert all(s["run_id"] in r.stdout for s in runs), r.stdout


def test_mariadb_integer_key(servers):
    mariadb("CREATE TABLE isrc (id BIGINT PRIMARY KEY, payload VARCHAR(20) NOT NULL); "
            "INSERT INTO isrc SELECT seq, CONCAT('v', seq) FROM seq_1_to_300")
    first = copy(my_uri("isrc"), my_uri("idst"), "id", "10")
    assert first["rows"] == 300
    again = copy(my_uri("isrc"), my_uri("idst"), "id", "10")
    assert again["rows"] == 0 and again["incremental"]["rows_read"] == 11, again
    mariadb("INSERT INTO isrc SELECT 300 + seq, 'more' FROM seq_1_to_5; "
            "UPDATE isrc SET payload = 'upd' WHERE id = 295")
    third = copy(my_uri("isrc"), my_uri("idst"), "id", "10")
    assert third["rows"] == 6, third
    assert (mariadb("SELECT id, payload FROM idst ORDER BY id")
            == mariadb("SELECT id, payload FROM isrc ORDER BY id"))


def test_mariadb_to_postgres(servers):
    # DATETIME(6) key (no zone) into PostgreSQL timestamp.
    mariadb("CREATE TABLE psrc (id BIGINT PRIMARY KEY, payload VARCHAR(100) NOT NULL, "
            "changed DATETIME(6) NOT NULL); "
            "INSERT INTO psrc SELECT seq, CONCAT('p', seq), "
            "TIMESTAMP'2026-03-01 12:00:00' + INTERVAL seq * 100003 MICROSECOND FROM seq_1_to_3000")

    def pg_rows():
        return [tuple(r) for r in psql(
            f"SELECT id, payload, to_char(changed, 'YYYY-MM-DD HH24:MI:SS.US') "
            f'FROM "{SCRATCH}".pdst ORDER BY id')]

    first = copy(my_uri("psrc"), pg_uri("pdst"), "changed", "1m")
    assert first["rows"] == 3000
    assert pg_rows() == my_rows("psrc", "changed")
    second = copy(my_uri("psrc"), pg_uri("pdst"), "changed", "1m")
    assert second["rows"] == 0 and second["parts"] == 0, second
    # The bound was pushed into the MariaDB SELECT: ~60 s of rows came back.
    assert 0 < second["incremental"]["rows_read"] <= 601, second["incremental"]

    mariadb("INSERT INTO psrc SELECT 5000 + seq, CONCAT('n', seq), "
            "TIMESTAMP'2026-03-01 12:05:00.5' + INTERVAL seq SECOND FROM seq_1_to_100; "
            "UPDATE psrc SET payload = 'edited' WHERE id = 2990")
    third = copy(my_uri("psrc"), pg_uri("pdst"), "changed", "1m")
    assert third["rows"] == 101, third
    assert pg_rows() == my_rows("psrc", "changed")
    stored = psql(f"SELECT watermark FROM \"{SCRATCH}\".sluice_state")
    assert stored == [["2026-03-01T12:06:40.500000"]], stored
    r = run("runs", pg_uri("pdst"), "--json", check=True)
    assert [json.loads(x)["rows_written"] for x in r.stdout.splitlines()] == [101, 0, 3000]


def test_soft_delete_into_mariadb(servers):
    mariadb("CREATE TABLE sd (id BIGINT PRIMARY KEY, payload VARCHAR(100) NOT NULL, "
            "updated_at DATETIME(6) NOT NULL, is_deleted TINYINT(1) NOT NULL DEFAULT 0); "
            "INSERT INTO sd SELECT seq, CONCAT('p', seq), "
            "TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND, 0 FROM seq_1_to_3000")
    extra = ("--soft-delete", "is_deleted", "--stream", "sd")
    first = copy(my_uri("sd"), my_uri("sd_copy"), "updated_at", "1m", *extra)
    assert first["rows"] == 3000
    # Flag two rows deleted (boolean column: true deletes, false keeps).
    mariadb("UPDATE sd SET is_deleted = 1, updated_at = '2026-03-01' WHERE id IN (7, 2999); "
            "UPDATE sd SET payload = 'kept', updated_at = '2026-03-01' WHERE id = 8")
    second = copy(my_uri("sd"), my_uri("sd_copy"), "updated_at", "1m", *extra)
    assert second["rows"] == 3, second
    assert mariadb("SELECT COUNT(*), SUM(payload = 'kept'), SUM(id IN (7, 2999)) FROM sd_copy") == \
        [["2998", "1", "0"]]
    # The same into PostgreSQL.
    copy(my_uri("sd"), pg_uri("sd_pg"), "updated_at", "1m", "--soft-delete", "is_deleted",
         "--stream", "sd_pg")
    assert psql(f'SELECT count(*) FROM "{SCRATCH}".sd_pg WHERE id IN (7, 2999)') == [["0"]]
    assert psql(f'SELECT count(*) FROM "{SCRATCH}".sd_pg') == [["2998"]]
