"""PostgreSQL sink: the primary key of a table sluice creates is built after the load.

Like pg_dump, an append into a new table (and a replace) creates the table with
NOT NULL key columns and adds the PRIMARY KEY once every part is committed:
one index build instead of index maintenance row by row. A killed load leaves
a comment marking the table; the re-run still adds the key. Checked with psql.
"""

import os
import sqlite3
import subprocess
import time

import pytest

from runner import SLUICE, run

PG_URI = os.environ.get("SLUICE_PG_URI", "postgres://postgres@127.0.0.1:55432/sluice_test")
SCHEMA = f"pgsink_{os.getpid()}"


def psql(sql):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", PG_URI,
                        "-c", sql], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"psql failed: {r.stderr}\n{sql}\n"
                             "Is PostgreSQL up? Run scripts/services.sh up postgres")
    return r.stdout.strip()


@pytest.fixture(scope="module")
def pg():
    psql(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE; CREATE SCHEMA "{SCHEMA}"')
    yield
    psql(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def pk_and_comment(table):
    return psql(f"SELECT (SELECT string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_index i "
                f"JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                f"WHERE i.indrelid = '\"{SCHEMA}\".\"{table}\"'::regclass AND i.indisprimary), "
                f"obj_description('\"{SCHEMA}\".\"{table}\"'::regclass, 'pg_class')")


def source(tmp_path, rows):
    db = tmp_path / "src.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (a INTEGER NOT NULL, b TEXT NOT NULL, v TEXT, PRIMARY KEY (a, b))")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)",
                    ((i, f"k{i % 7}", "x" * 200) for i in range(rows)))
    con.commit()
    con.close()
    return f"sqlite://{db}?table=t"


def test_primary_key_is_added_after_the_load_even_after_a_kill(pg, tmp_path):
    src = source(tmp_path, 300_000)
    dst = f"{PG_URI}?table={SCHEMA}.t"
    p = subprocess.Popen([SLUICE, "copy", src, dst, "--part-size", "256KiB", "--workers", "2",
                          "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None:
        if psql(f"SELECT count(*) > 0 FROM pg_tables WHERE schemaname = '{SCHEMA}' "
                f"AND tablename = 't'") == "t" and \
                psql(f'SELECT count(*) > 0 FROM "{SCHEMA}".t') == "t":
            break
        time.sleep(0.05)
    killed = p.poll() is None
    p.kill()
    p.wait(timeout=60)
    assert killed, "the copy finished before it could be killed: make the source bigger"
    # Mid-load: rows are there, the key is not yet, the marker says so.
    assert pk_and_comment("t") == "|sluice: primary key added when the load commits"
    r = run("copy", src, dst, "--part-size", "256KiB", "--workers", "2", "-q")
    assert r.returncode == 0, r.stderr
    assert pk_and_comment("t") == "a,b|"
    assert psql(f'SELECT count(*), count(DISTINCT (a, b)) FROM "{SCHEMA}".t') == "300000|300000"
    # Appending more later goes into the now keyed table.
    r = run("copy", src, f"{PG_URI}?table={SCHEMA}.t&mode=upsert", "-q")
    assert r.returncode == 0, r.stderr
    assert psql(f'SELECT count(*) FROM "{SCHEMA}".t') == "300000"


def test_replace_builds_the_key_on_the_staged_table(pg, tmp_path):
    src = source(tmp_path, 5000)
    dst = f"{PG_URI}?table={SCHEMA}.r&mode=replace"
    for _ in range(2):
        r = run("copy", src, dst, "-q")
        assert r.returncode == 0, r.stderr
        assert pk_and_comment("r") == "a,b|"
        assert psql(f"SELECT conname FROM pg_constraint WHERE conrelid = "
                    f"'\"{SCHEMA}\".r'::regclass AND contype = 'p'") == "r_pkey"
    assert psql(f'SELECT count(*) FROM "{SCHEMA}".r') == "5000"


def test_defer_keys_false_creates_the_key_first(pg, tmp_path):
    src = source(tmp_path, 100)
    p = subprocess.run([SLUICE, "copy", src, f"{PG_URI}?table={SCHEMA}.f&defer_keys=false", "-q"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert pk_and_comment("f") == "a,b|"
