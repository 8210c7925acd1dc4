"""Re-exports of an unchanged PostgreSQL table keep their part idempotency keys.

A PostgreSQL source's fingerprint holds the snapshot's xmax, which moves with
any write anywhere in the cluster (here: `SELECT txid_current()`). Export
streams are named after it, but part keys derive from what is read (the
source identity) and each part's rows, so two exports of the same rows with
unrelated writes in between carry the same keys and an importer applies the
rows once (docs/ARCHITECTURE.md, "Exactly once").

Needs the PostgreSQL server of scripts/services.sh (SLUICE_PG_URI); an
unreachable server FAILS the tests. Keys and part contents are read with
pyarrow (e2e.read_part), the target table with psql (dbs.py): nothing is
checked with sluice itself.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import time

import pytest

import dbs
import e2e
from runner import SLUICE, run

ROWS = 200000
PART_SIZE = "128KiB"
SEED = 20251203


@pytest.fixture(scope="module")
def pg():
    server = dbs.Postgres()
    try:
        server.ping()
    except dbs.SqlError as err:
        why = str(err).strip().splitlines()[0][:300]
        pytest.fail(f"PostgreSQL at {server.host}:{server.port} is unreachable ({why}): "
                    "run scripts/services.sh up postgres", pytrace=False)
    server.create_scratch(f"e2e_keys_{os.getpid()}_{random.Random().getrandbits(24):06x}")
    yield server
    server.drop_scratch()


@pytest.fixture(scope="module")
def source(pg):
    """A table WITHOUT a primary key (so a doubled row would stay visible in the
    target) with NULLs, text, numerics, timestamps and bytea."""
    t = pg.qualified("src")
    pg.sql(f"""
        CREATE TABLE {t} (id int4 NOT NULL, name text, amount numeric(12,2),
                          at timestamptz, flag bool, blob bytea);
        INSERT INTO {t}
        SELECT g, CASE WHEN g % 17 = 0 THEN NULL ELSE 'name ' || g || repeat('x', g % 23) END,
               (g * 7 % 100000) / 100.0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 min',
               CASE WHEN g % 5 = 0 THEN NULL ELSE g % 2 = 0 END,
               CASE WHEN g % 3 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END
        FROM generate_series(1, {ROWS}) g;
        ANALYZE {t};""")
    return pg.sluice_uri("src")


def export(src_uri, out_dir):
    r = run("export", src_uri, "--to", f"parts://{out_dir}", "--part-size", PART_SIZE,
            "--workers", "2", "-q", timeout=300)
    assert r.returncode == 0, f"export failed:\n{r.stderr}"


def parts_of(out_dir):
    """{part number: (idempotency key, [ids of its rows])} and the stream id."""
    parts, streams = {}, set()
    for p in sorted(out_dir.iterdir()):
        meta, table = e2e.read_part(p)
        streams.add(meta["sluice.stream_id"])
        if meta.get("sluice.kind") == "end":
            continue
        parts[int(meta["sluice.part_number"])] = (meta["sluice.idempotency_key"],
                                                  table.column("id").to_pylist())
    assert len(streams) == 1, f"{out_dir}: streams {streams}"
    return parts, streams.pop()


def move_xmax(pg):
    """A write elsewhere in the cluster: assigns a transaction id, so the next
    snapshot's xmax is larger."""
    pg.sql("SELECT txid_current();")


def test_reexport_after_unrelated_write_has_the_same_keys(pg, source, tmp_path):
    export(source, tmp_path / "a")
    move_xmax(pg)
    export(source, tmp_path / "b")
    a, stream_a = parts_of(tmp_path / "a")
    b, stream_b = parts_of(tmp_path / "b")
    assert len(a) > 3, "the table should fill several parts"
    # Another snapshot: another stream (the xmax moved) ...
    assert stream_a != stream_b
    # ... with the same rows in the same parts, and the same keys.
    assert {n: ids for n, (k, ids) in a.items()} == {n: ids for n, (k, ids) in b.items()}
    assert {n: k for n, (k, ids) in a.items()} == {n: k for n, (k, ids) in b.items()}
    assert len({k for k, ids in a.values()}) == len(a)  # one key per part
    assert sorted(i for k, ids in a.values() for i in ids) == list(range(1, ROWS + 1))


def test_a_changed_row_changes_its_part_key_and_not_earlier_ones(pg, source, tmp_path):
    export(source, tmp_path / "before")
    before, _ = parts_of(tmp_path / "before")
    numbers = sorted(before)
    middle = numbers[len(numbers) // 2]
    changed_id = before[middle][1][len(before[middle][1]) // 2]
    t = pg.qualified("src")
    try:
        pg.sql(f"UPDATE {t} SET name = 'changed' WHERE id = {changed_id};")
        export(source, tmp_path / "after")
        after, _ = parts_of(tmp_path / "after")
        # The updated row's new version may sit elsewhere in the heap: parts
        # before its old part keep rows and keys, its old part differs.
        for n in numbers:
            if n < middle:
                assert after[n] == before[n], f"part {n} changed"
        assert after[middle][0] != before[middle][0]
    finally:
        # The module's other tests expect the original rows (their order may
        # differ now, which they do not depend on).
        pg.sql(f"UPDATE {t} SET name = 'name ' || id || repeat('x', id % 23) "
               f"WHERE id = {changed_id};")


def kill_after(proc, delay):
    time.sleep(delay)
    alive = proc.poll() is None
    if alive:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return alive


def test_two_exports_imported_with_kills_give_each_row_once(pg, source, tmp_path, capsys):
    """Issue 6: export twice (xmax moved in between), import both streams into a
    table without a key, the importer SIGKILLed mid-run and re-run: every row
    exactly once, equal to the source."""
    export(source, tmp_path / "a")
    move_xmax(pg)
    export(source, tmp_path / "b")
    both = tmp_path / "both"
    both.mkdir()
    for d in ("a", "b"):
        for f in (tmp_path / d).iterdir():
            shutil.copy(f, both / f.name)
    dst = pg.sluice_uri("dst")
    def import_args(uri):
        return [SLUICE, "import", f"parts://{both}", "--into", uri, "--workers", "2"]

    args = import_args(dst)
    # How long one whole import takes (into a scratch table), to aim the kills.
    started = time.monotonic()
    r = subprocess.run(import_args(pg.sluice_uri("probe")) + ["-q"], capture_output=True,
                       text=True, timeout=300)
    duration = time.monotonic() - started
    assert r.returncode == 0, f"import failed:\n{r.stderr}"
    assert pg.count("probe") == ROWS
    rng = random.Random(SEED)
    kills, partial = [], 0
    for _ in range(4):
        proc = subprocess.Popen(args + ["-q"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        delay = rng.uniform(0.15, 0.7) * duration
        killed = kill_after(proc, delay)
        state = None
        if "dst" in pg.tables():
            state = tuple(int(x) for x in pg.sql(pg.table_and_ledger_sql("dst"))[0])
            # Whole parts only: the table holds exactly the rows its ledger records.
            assert state[0] == state[1], f"table vs ledger rows {state}"
            partial += killed and 0 < state[0] < ROWS
        kills.append((round(delay, 3), killed, state))
    r = subprocess.run(args + ["--stats-json", "-", "-q"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, f"import failed:\n{r.stderr}"
    stats = json.loads(r.stdout)
    with capsys.disabled():
        print(f"\nre-export import of 2 x {ROWS} rows (full run {duration:.2f} s): kills "
              f"(delay s, killed, (rows, ledger rows)) {kills}; final run {stats['rows']} rows "
              f"applied, {stats['duplicate_rows']} skipped as duplicates")
    # Each row of the two streams was either applied once or skipped by the ledger.
    rows, distinct = pg.counts("dst", "id")
    assert (rows, distinct) == (ROWS, ROWS)
    assert pg.diff("src", "dst", "id") == 0
    assert partial >= 1, f"no kill interrupted the import: {kills}"
    # And a plain re-run of the second export alone changes nothing.
    again = run("import", f"parts://{tmp_path / 'b'}", "--into", dst, "--stats-json", "-", "-q")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["rows"] == 0
    assert pg.count("dst") == ROWS
