"""Incremental copies and the run log against the real PostgreSQL.

The late-commit scenario watermark-only sync gets wrong (dlt #2269,
kafka-connect-jdbc #915): transaction A stamps its row, transaction B stamps
a later row and commits first, a sync copies B and moves the watermark past
A's stamp, then A commits. With --lookback the next sync still reads A's row;
the digests of rows already applied keep the re-read window from being
applied twice. Concurrent inserts run during the copies. Source and target
are read with psql, never with sluice.
"""

import json
import os
import subprocess
import threading
import time

import pytest

from runner import SLUICE, run

PG_URI = os.environ.get("SLUICE_PG_URI", "postgres://postgres@127.0.0.1:55432/sluice_test")
PSQL = "psql"
SCHEMA = f"inc_{os.getpid()}"


def psql(sql, timeout=120):
    r = subprocess.run([PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", PG_URI,
                        "-c", sql], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"psql failed ({r.returncode}): {r.stderr}\n{sql}\n"
                             "Is PostgreSQL up? Run scripts/services.sh up postgres")
    return r.stdout.strip()


@pytest.fixture(scope="module")
def pg():
    psql("SELECT 1")  # fails the module (not skips) when the server is down
    psql(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE; CREATE SCHEMA "{SCHEMA}"')
    yield SCHEMA
    psql(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def uri(table):
    return f"{PG_URI}?table={SCHEMA}.{table}"


def copy(src, dst, *extra, check=True):
    r = run("copy", uri(src), uri(dst), "--incremental-key", "updated_at", "--lookback", "5m",
            "--stream", f"events:{dst}", "--workers", "3", "--part-size", "64KiB", "-q",
            "--stats-json", "-", *extra, timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)
    return r


def table_digest(table):
    """(count, distinct ids, md5 of the ordered rows) computed by PostgreSQL."""
    return psql(f'SELECT count(*), count(DISTINCT id), md5(string_agg(id || \':\' || payload || \':\' '
                f'|| updated_at::text, \',\' ORDER BY id)) FROM "{SCHEMA}".{table}')


class OpenTransaction:
    """A psql session holding a transaction open until commit()."""

    def __init__(self, sql):
        self.p = subprocess.Popen([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", PG_URI],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.p.stdin.write("BEGIN;\n" + sql + "\n")
        self.p.stdin.flush()

    def commit(self):
        out, err = self.p.communicate("COMMIT;\n", timeout=60)
        assert self.p.returncode == 0, err


def wait_for_row(sql, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if psql(sql) == "t":
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {sql}")


def test_late_commit_is_neither_missed_nor_doubled(pg):
    psql(f'CREATE TABLE "{SCHEMA}".events (id bigint PRIMARY KEY, payload text NOT NULL, '
         f'updated_at timestamptz NOT NULL); '
         f'INSERT INTO "{SCHEMA}".events SELECT i, repeat(md5(i::text), 4), '
         f"clock_timestamp() - interval '1 hour' + i * interval '1 ms' "
         f"FROM generate_series(1, 50000) i")
    first = copy("events", "events_copy")
    assert first["rows"] == 50000
    assert first["incremental"]["watermark_before"] is None
    assert table_digest("events_copy") == table_digest("events")

    # A: stamps row 900001 now and stays open. B: stamps later rows, commits.
    a = OpenTransaction(f"INSERT INTO \"{SCHEMA}\".events VALUES "
                        f"(900001, 'late', clock_timestamp());")
    # A's row exists (uncommitted) once its INSERT ran; wait via pg_stat_activity.
    wait_for_row("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE state = 'idle in transaction')")
    time.sleep(0.05)
    psql(f'INSERT INTO "{SCHEMA}".events SELECT i, \'b\' || i, clock_timestamp() '
         f'FROM generate_series(50001, 51000) i')

    # Concurrent inserts while the next syncs run.
    stop = threading.Event()
    inserted = []

    def writer():
        i = 60000
        while not stop.is_set():
            psql(f'INSERT INTO "{SCHEMA}".events SELECT g, \'c\' || g, clock_timestamp() '
                 f'FROM generate_series({i}, {i + 199}) g')
            inserted.append(i)
            i += 200
            time.sleep(0.02)

    t = threading.Thread(target=writer)
    t.start()
    try:
        second = copy("events", "events_copy")
        assert second["rows"] >= 1000
        # A's row is not committed: not copied yet; the watermark is past its stamp.
        assert psql(f'SELECT count(*) FROM "{SCHEMA}".events_copy WHERE id = 900001') == "0"
        a.commit()
        third = copy("events", "events_copy")
        assert third["rows"] >= 1
    finally:
        stop.set()
        t.join()
    assert inserted, "the concurrent writer never ran"
    # Everything committed is now copied exactly once, A's late row included.
    fourth = copy("events", "events_copy")
    assert psql(f'SELECT count(*) FROM "{SCHEMA}".events_copy WHERE id = 900001') == "1"
    assert table_digest("events_copy") == table_digest("events")
    # And a run with nothing new moves nothing.
    fifth = copy("events", "events_copy")
    assert fifth["rows"] == 0 and fifth["parts"] == 0, fifth
    assert fifth["incremental"]["rows_read"] == fifth["incremental"]["rows_unchanged"]
    assert fourth["incremental"]["watermark_after"] == fifth["incremental"]["watermark_after"]
    # The watermark is the highest stamp in the source.
    max_ts = psql(f'SELECT to_char(max(updated_at) AT TIME ZONE \'UTC\', '
                  f'\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') FROM "{SCHEMA}".events')
    stored = psql(f'SELECT watermark FROM "{SCHEMA}".sluice_state WHERE stream = \'events:events_copy\'')
    assert stored.rstrip("Z").rstrip("0").rstrip(".") == max_ts.rstrip("Z").rstrip("0").rstrip("."), \
        (stored, max_ts)

    # The run log: one row per run, newest first, with the numbers the runs reported.
    log = psql(f'SELECT string_agg(status || \'/\' || rows_written, \',\' ORDER BY started_at) '
               f'FROM "{SCHEMA}".sluice_run_log WHERE stream = \'events:events_copy\'')
    assert log == ",".join(f"succeeded/{s['rows']}" for s in (first, second, third, fourth, fifth))
    r = run("runs", uri("events_copy"), "--stream", "events:events_copy", "--json", check=True)
    runs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["run_id"] for x in runs] == [s["run_id"] for s in (fifth, fourth, third, second, first)]
    assert runs[-1]["watermark_before"] == "" and runs[0]["status"] == "succeeded"
    assert runs[0]["rows_written"] == 0 and runs[-1]["rows_written"] == 50000


def test_killed_incremental_copy_reruns_exactly(pg):
    psql(f'CREATE TABLE "{SCHEMA}".k (id bigint PRIMARY KEY, payload text NOT NULL, '
         f'updated_at timestamptz NOT NULL); '
         f'INSERT INTO "{SCHEMA}".k SELECT i, repeat(md5(i::text), 8), '
         f"timestamptz '2026-01-01' + i * interval '1 s' FROM generate_series(1, 200000) i")
    copy("k", "k_copy")
    psql(f'INSERT INTO "{SCHEMA}".k SELECT i, \'new\' || i, '
         f"timestamptz '2026-06-01' + i * interval '1 s' FROM generate_series(200001, 400000) i")
    before = psql(f'SELECT watermark FROM "{SCHEMA}".sluice_state WHERE stream = \'events:k_copy\'')
    killed = 0
    for delay in (0.3, 0.6, 1.0):
        p = subprocess.Popen([SLUICE, "copy", uri("k"), uri("k_copy"), "--incremental-key",
                              "updated_at", "--lookback", "5m", "--stream", "events:k_copy",
                              "--workers", "3", "--part-size", "64KiB", "-q"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        if p.poll() is None:
            p.kill()
            killed += 1
        p.wait(timeout=60)
        # Until a run completes, the stored watermark stays where the last
        # successful run left it, whatever was applied.
        if p.returncode != 0:
            assert psql(f'SELECT watermark FROM "{SCHEMA}".sluice_state '
                        f'WHERE stream = \'events:k_copy\'') == before
    assert killed > 0, "every run finished before the kill: make the table bigger"
    final = copy("k", "k_copy")
    assert final["incremental"]["watermark_before"] in (before, final["incremental"]["watermark_after"])
    assert table_digest("k_copy") == table_digest("k")
    # The killed runs are in the run log as 'running' (they never finished);
    # the last one succeeded.
    statuses = psql(f'SELECT string_agg(status, \',\' ORDER BY started_at) FROM '
                    f'"{SCHEMA}".sluice_run_log WHERE stream = \'events:k_copy\'').split(",")
    assert statuses[0] == "succeeded" and statuses[-1] == "succeeded"
    assert statuses.count("running") == killed


def test_incremental_into_a_file_needs_and_uses_a_state_file(pg, tmp_path):
    psql(f'CREATE TABLE "{SCHEMA}".f (id int PRIMARY KEY, updated_at timestamptz NOT NULL); '
         f"INSERT INTO \"{SCHEMA}\".f SELECT i, timestamptz '2026-01-01' + i * interval '1 min' "
         f"FROM generate_series(1, 100) i")
    out = tmp_path / "f1.csv"
    r = run("copy", uri("f"), f"file://{out}", "--incremental-key", "updated_at")
    assert r.returncode == 2 and "--state FILE" in r.stderr, r.stderr
    state = tmp_path / "state.db"
    args = ["--incremental-key", "updated_at", "--state", str(state), "--stream", "f", "-q"]
    r = run("copy", uri("f"), f"file://{out}", *args)
    assert r.returncode == 0, r.stderr
    assert len(out.read_text().splitlines()) == 101  # header + 100 rows
    psql(f"INSERT INTO \"{SCHEMA}\".f VALUES (101, timestamptz '2026-02-01')")
    out2 = tmp_path / "f2.csv"
    r = run("copy", uri("f"), f"file://{out2}", *args)
    assert r.returncode == 0, r.stderr
    lines = out2.read_text().splitlines()
    assert len(lines) == 2 and lines[1].startswith("101,"), lines
    r = run("runs", "--state", str(state), "--json", check=True)
    assert [json.loads(x)["rows_written"] for x in r.stdout.splitlines()] == [1, 100]


def test_incremental_usage_errors(pg):
    psql(f'CREATE TABLE "{SCHEMA}".u (id int PRIMARY KEY, name text, updated_at timestamptz)')
    r = run("copy", uri("u"), uri("u2"), "--incremental-key", "name")
    assert r.returncode == 2 and "must be an integer, date or timestamp" in r.stderr, r.stderr
    r = run("copy", uri("u"), uri("u2") + "&mode=append", "--incremental-key", "updated_at")
    assert r.returncode == 2 and "mode=upsert" in r.stderr, r.stderr
    r = run("copy", uri("u"), uri("u2"), "--lookback", "5m")
    assert r.returncode == 2 and "--lookback needs --incremental-key" in r.stderr, r.stderr


def test_import_appends_to_a_renamed_run_log(pg, tmp_path):
    parts = tmp_path / "parts"
    r = run("export", "gen://mixed?rows=5000", "--to", f"parts://{parts}", "-q")
    assert r.returncode == 0, r.stderr
    args = ["import", f"parts://{parts}", "--into", uri("imp"), "--run-log", "etl_run_log",
            "--name", "nightly", "-q", "--stats-json", "-"]
    first = json.loads(run(*args, check=True).stdout)
    second = json.loads(run(*args, check=True).stdout)  # every part already applied
    rows = psql(f'SELECT pipeline, command, status, rows_written, parts, finished_at IS NOT NULL '
                f'FROM "{SCHEMA}".etl_run_log ORDER BY started_at').splitlines()
    assert rows == [f"nightly|import|succeeded|5000|{first['parts']}|t",
                    "nightly|import|succeeded|0|0|t"], rows
    assert second["duplicates"] == first["parts"]
    assert psql(f'SELECT count(*) FROM "{SCHEMA}".imp') == "5000"
    r = run("runs", uri("imp"), "--run-log", "etl_run_log", check=True)
    assert "nightly" in r.stdout and r.stdout.count("succeeded") == 2


def test_a_failing_run_is_logged_with_its_error(pg, tmp_path):
    import sqlite3
    db = tmp_path / "src.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, i) for i in range(1, 20001)])
    con.commit()
    con.close()
    psql(f'CREATE TABLE "{SCHEMA}".chk (id bigint PRIMARY KEY, v bigint NOT NULL CHECK (v < 15000))')
    r = run("copy", f"sqlite://{db}?table=t", uri("chk"), "-q", "--workers", "1")
    assert r.returncode == 1 and "chk_v_check" in r.stderr, r.stderr
    row = psql(f"SELECT status, error LIKE '%chk_v_check%', finished_at IS NOT NULL "
               f"FROM \"{SCHEMA}\".sluice_run_log WHERE destination LIKE '%chk'")
    assert row == "failed|t|t", row


def test_soft_deleted_rows_leave_the_target(pg):
    """--soft-delete deleted_at: a source row marked deleted removes its copy."""
    psql(f'CREATE TABLE "{SCHEMA}".sd (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL, '
         f'deleted_at timestamptz); '
         f"INSERT INTO \"{SCHEMA}\".sd SELECT i, 'v' || i, timestamptz '2026-01-01' + i * interval '1 s', "
         f"NULL FROM generate_series(1, 1000) i")
    args = ["--incremental-key", "updated_at", "--lookback", "1m", "--soft-delete", "deleted_at",
            "--stream", "sd", "-q", "--stats-json", "-"]
    first = json.loads(run("copy", uri("sd"), uri("sd_copy"), *args, check=True).stdout)
    assert first["rows"] == 1000
    # The application soft-deletes two rows (bumping updated_at) and edits one.
    psql(f"UPDATE \"{SCHEMA}\".sd SET deleted_at = now(), updated_at = timestamptz '2026-02-01' "
         f"WHERE id IN (10, 500); UPDATE \"{SCHEMA}\".sd SET v = 'edited', "
         f"updated_at = timestamptz '2026-02-01' WHERE id = 20")
    second = json.loads(run("copy", uri("sd"), uri("sd_copy"), *args, check=True).stdout)
    assert second["rows"] == 3
    assert psql(f'SELECT count(*), sum((v = \'edited\')::int) FROM "{SCHEMA}".sd_copy') == "998|1"
    assert psql(f'SELECT count(*) FROM "{SCHEMA}".sd_copy WHERE id IN (10, 500)') == "0"
    # The target equals the source's live rows.
    live = psql(f'SELECT md5(string_agg(id || v, \',\' ORDER BY id)) FROM "{SCHEMA}".sd '
                f'WHERE deleted_at IS NULL')
    assert psql(f'SELECT md5(string_agg(id || v, \',\' ORDER BY id)) FROM "{SCHEMA}".sd_copy') == live
    # A destination that cannot delete by key is refused up front.
    r = run("copy", uri("sd"), "file:///tmp/never.csv", "--soft-delete", "deleted_at")
    assert r.returncode == 2 and "cannot delete rows by key" in r.stderr, r.stderr
