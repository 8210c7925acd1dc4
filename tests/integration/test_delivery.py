"""Import in any order, in pieces, of empty tables, and of corrupt parts.

* Parts renamed so that the directory lists them in reverse or random order
  (the end part first, too), and a random subset imported before the rest:
  the result is exact.
* 0-row tables through every source and destination.
* A corrupt part in the middle of a stream under --on-error fail and
  skip-part.
"""

import json
import os
import random
import shutil
from pathlib import Path

import pytest

import e2e
from runner import run

ROWS = 60_000
SCHEMA = "mixed"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A SQLite source and its export into ~20 parts."""
    d = tmp_path_factory.mktemp("delivery")
    run("copy", f"gen:///?rows={ROWS}&schema={SCHEMA}", f"sqlite://{d}/src.db?table=t", "-q",
        check=True)
    run("export", f"sqlite://{d}/src.db?table=t", "--to", f"parts://{d}/parts", "--part-size",
        "256KiB", "-q", check=True)
    files = sorted(p for p in (d / "parts").iterdir() if p.name.endswith(".part"))
    assert len(files) >= 10
    return d, files


def part_header(path):
    meta, _ = e2e.read_part(path)
    return meta


def check_target(db, src_db):
    """The target equals the source: checksum over ordered rows and the reference rows."""
    assert e2e.sqlite_checksum(db, "t", "id") == e2e.sqlite_checksum(src_db, "t", "id")
    types = [t for _, t in e2e.MIXED]
    _, rows = e2e.read_sqlite(db, "t", types, order_by="id")
    assert rows == e2e.gen_rows(SCHEMA, ROWS)


def import_stats(parts_dir, db, *extra):
    r = run("import", f"parts://{parts_dir}", "--into", f"sqlite://{db}?table=t", "--workers",
            "4", "--stats-json", "-", "-q", *extra)
    st = json.loads(r.stdout) if r.stdout.strip() else None
    return r, st


def renamed_copy(files, order, dest):
    """Copies `files` into `dest` under names whose sorted order is `order`."""
    dest.mkdir()
    for rank, i in enumerate(order):
        shutil.copy(files[i], dest / f"x{rank:04d}.part")
    return sorted(dest.iterdir())


@pytest.mark.parametrize("order", ["reverse", "random"])
def test_parts_in_reverse_and_random_order(exported, tmp_path, order):
    d, files = exported
    idx = list(range(len(files)))
    if order == "reverse":
        idx.reverse()
    else:
        random.Random(7).shuffle(idx)
    listed = renamed_copy(files, idx, tmp_path / "parts")
    numbers = [int(part_header(p)["sluice.part_number"]) for p in listed]
    assert numbers != sorted(numbers)  # the directory really lists them out of order
    r, st = import_stats(tmp_path / "parts", tmp_path / "t.db")
    assert r.returncode == 0, r.stderr
    assert st["rows"] == ROWS and st["parts"] == len(files) - 1
    assert st["incomplete_streams"] == 0 and st["errors"] == 0
    check_target(tmp_path / "t.db", d / "src.db")


def test_subset_then_the_rest(exported, tmp_path):
    d, files = exported
    rng = random.Random(11)
    first = set(rng.sample(range(len(files)), len(files) // 2))
    end = next(i for i, f in enumerate(files) if part_header(f)["sluice.kind"] == "end")
    first.discard(end)  # the end part comes with the rest
    a = tmp_path / "a"
    a.mkdir()
    for i in sorted(first):
        shutil.copy(files[i], a / files[i].name)
    r, st = import_stats(a, tmp_path / "t.db")
    assert r.returncode == 0, r.stderr
    expected_rows = sum(int(part_header(files[i])["sluice.rows"]) for i in first)
    assert st["rows"] == expected_rows and st["parts"] == len(first)
    assert st["incomplete_streams"] == 1  # no end part yet: a warning, not an error

    # The rest arrives (in the same directory, together with what was already applied).
    for i, f in enumerate(files):
        if i not in first:
            shutil.copy(f, a / f.name)
    r, st = import_stats(a, tmp_path / "t.db")
    assert r.returncode == 0, r.stderr
    assert st["rows"] == ROWS - expected_rows
    assert st["duplicates"] == len(first) and st["duplicate_rows"] == expected_rows
    assert st["incomplete_streams"] == 0
    check_target(tmp_path / "t.db", d / "src.db")


def test_same_parts_into_two_tables_and_a_parts_directory(exported, tmp_path):
    """The ledger is per target table; the parts sink's ledger is its files."""
    d, files = exported
    for table in ("t", "u"):
        r = run("import", f"parts://{d}/parts", "--into", f"sqlite://{tmp_path}/t.db?table={table}",
                "-q")
        assert r.returncode == 0, r.stderr
    for table in ("t", "u"):
        assert e2e.sqlite_checksum(tmp_path / "t.db", table, "id")[:2] == (ROWS, ROWS)
    for _ in range(2):
        r = run("import", f"parts://{d}/parts", "--into", f"parts://{tmp_path}/copy", "--stats-json",
                "-", "-q")
        assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["rows"] == 0 and st["duplicate_rows"] == ROWS
    _, _, table = e2e.read_parts_dir(tmp_path / "copy")
    rows = e2e.arrow_columns(table, [t for _, t in e2e.MIXED])
    assert e2e.sort_rows(rows, 0) == e2e.gen_rows(SCHEMA, ROWS)


# ---------------------------------------------------------------------------
# empty tables


EMPTY_SOURCES = ["sqlite_table", "sqlite_query", "csv", "jsonl", "tdtp", "part", "parts", "gen"]
EMPTY_DESTS = ["sqlite", "csv", "jsonl", "tdtp", "part", "parts_import"]


@pytest.fixture(scope="module")
def empty_sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("empty")
    gen = f"gen:///?rows=0&schema={SCHEMA}"
    run("copy", gen, f"sqlite://{d}/src.db?table=t", "-q", check=True)
    for ext in ("csv", "jsonl", "tdtp.xml", "part"):
        run("copy", gen, f"file://{d}/src.{ext}", "-q", check=True)
    run("export", gen, "--to", f"parts://{d}/parts", "-q", check=True)
    return d


def empty_source_uri(kind, d):
    spec = e2e.schema_spec(SCHEMA)
    return {
        "sqlite_table": f"sqlite://{d}/src.db?table=t",
        "sqlite_query": f"sqlite://{d}/src.db?query=SELECT%20*%20FROM%20t",
        "csv": f"file://{d}/src.csv?schema={spec}",
        "jsonl": f"file://{d}/src.jsonl?schema={spec}",
        "tdtp": f"file://{d}/src.tdtp.xml",
        "part": f"file://{d}/src.part",
        "parts": f"parts://{d}/parts",
        "gen": f"gen:///?rows=0&schema={SCHEMA}",
    }[kind]


def test_empty_sources_are_empty_with_their_schema(empty_sources):
    d = empty_sources
    names = [c for c, _ in e2e.MIXED]
    types = [t for _, t in e2e.MIXED]
    cols, rows = e2e.read_sqlite(d / "src.db", "t", types)
    assert cols == names and rows == []
    assert (d / "src.csv").read_text() == ",".join(names) + "\n"  # the header only
    assert (d / "src.jsonl").read_bytes() == b""
    _, schema, rows = e2e.read_tdtp(d / "src.tdtp.xml")
    assert [(n, t) for n, t, _ in schema] == e2e.MIXED and rows == []
    _, table = e2e.read_part(d / "src.part")
    assert table.num_rows == 0 and [e2e.arrow_type_name(f) for f in table.schema] == types
    files = list((d / "parts").iterdir())
    assert len(files) == 1  # a 0-row stream is its end part alone
    meta, table = e2e.read_part(files[0])
    assert meta["sluice.kind"] == "end" and meta["sluice.total_parts"] == "0"
    assert [e2e.arrow_type_name(f) for f in table.schema] == types


@pytest.mark.parametrize("dst", EMPTY_DESTS)
@pytest.mark.parametrize("src", EMPTY_SOURCES)
def test_empty_table_through_every_path(empty_sources, src, dst, tmp_path):
    names = [c for c, _ in e2e.MIXED]
    types = [t for _, t in e2e.MIXED]
    uri = empty_source_uri(src, empty_sources)
    if dst == "parts_import":
        r = run("export", uri, "--to", f"parts://{tmp_path}/parts", "-q")
        assert r.returncode == 0, r.stderr
        r = run("import", f"parts://{tmp_path}/parts", "--into",
                f"sqlite://{tmp_path}/dst.db?table=t", "--stats-json", "-", "-q")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["rows"] == 0
        # The import creates the (empty) table from the end part's schema.
        cols, rows = e2e.read_sqlite(tmp_path / "dst.db", "t", types)
        assert cols == names and rows == []
        return
    out = {"sqlite": f"sqlite://{tmp_path}/dst.db?table=t", "csv": f"file://{tmp_path}/dst.csv",
           "jsonl": f"file://{tmp_path}/dst.jsonl", "tdtp": f"file://{tmp_path}/dst.tdtp.xml",
           "part": f"file://{tmp_path}/dst.part"}[dst]
    r = run("copy", uri, out, "--stats-json", "-", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] == 0
    if dst == "sqlite":
        cols, rows = e2e.read_sqlite(tmp_path / "dst.db", "t", types)
        assert cols == names and rows == []
    elif dst == "csv":
        assert e2e.read_csv(tmp_path / "dst.csv", types) == (names, [])
    elif dst == "jsonl":
        assert (tmp_path / "dst.jsonl").read_bytes() == b""
    elif dst == "tdtp":
        _, schema, rows = e2e.read_tdtp(tmp_path / "dst.tdtp.xml")
        assert [n for n, _, _ in schema] == names and rows == []
        assert [t for _, t, _ in schema] == types
    elif dst == "part":
        _, table = e2e.read_part(tmp_path / "dst.part")
        assert table.num_rows == 0 and table.schema.names == names


def test_header_only_csv_without_a_schema(tmp_path):
    """A CSV with a header and no rows, types inferred: every column is a string."""
    (tmp_path / "h.csv").write_text("a,b,c\n")
    r = run("copy", f"file://{tmp_path}/h.csv", f"sqlite://{tmp_path}/h.db?table=h", "-q")
    assert r.returncode == 0, r.stderr
    decl = e2e.sqlite_declared_types(tmp_path / "h.db", "h")
    assert [(n, t) for n, t, _, _ in decl] == [("a", "TEXT"), ("b", "TEXT"), ("c", "TEXT")]
    _, rows = e2e.read_sqlite(tmp_path / "h.db", "h", ["string"] * 3)
    assert rows == []


# ---------------------------------------------------------------------------
# a corrupt part in the middle


@pytest.fixture
def corrupted(exported, tmp_path):
    """A copy of the parts with one data part in the middle bit-flipped."""
    d, files = exported
    parts = tmp_path / "parts"
    shutil.copytree(d / "parts", parts)
    data = sorted((p for p in parts.iterdir() if part_header(p)["sluice.kind"] == "data"),
                  key=lambda p: int(part_header(p)["sluice.part_number"]))
    victim = data[len(data) // 2]
    victim_rows = int(part_header(victim)["sluice.rows"])
    raw = bytearray(victim.read_bytes())
    for k in range(8):
        raw[len(raw) // 2 + k * 13] ^= 0xA5
    victim.write_bytes(bytes(raw))
    return d, parts, victim, victim_rows, bytes(raw)


def ledger(db):
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        t = con.execute("SELECT count(*) FROM t").fetchone()[0]
        led = con.execute("SELECT coalesce(sum(rows), 0), count(*) FROM _sluice_ledger").fetchone()
        return t, led[0], led[1]
    finally:
        con.close()


def test_corrupt_part_with_on_error_fail(corrupted, tmp_path):
    d, parts, victim, victim_rows, _ = corrupted
    db = tmp_path / "t.db"
    r, st = import_stats(parts, db)
    assert r.returncode == 1, r.stderr
    assert victim.name in r.stderr  # the error names the part file
    assert st is not None and st["errors"] >= 1 and victim.name in (st.get("error") or "")
    # Whatever was applied is whole parts only, and never the corrupt one.
    if db.exists():
        t_rows, ledger_rows, _ = ledger(db)
        assert t_rows == ledger_rows
        assert t_rows <= ROWS - victim_rows

    # Documented recovery: without the bad part the stream is incomplete, which
    # `fail` refuses (the end part announces a part that never arrived) ...
    victim.unlink()
    r, st = import_stats(parts, db)
    assert r.returncode == 1, r.stderr
    t_rows, ledger_rows, _ = ledger(db)
    assert t_rows == ledger_rows == ROWS - victim_rows  # ... after applying all the others.
    # ... and a good copy of the part (a re-export of the unchanged source has the
    # same part ids) completes the table exactly once.
    shutil.copy(d / "parts" / victim.name, victim)
    r, st = import_stats(parts, db)
    assert r.returncode == 0, r.stderr
    assert st["rows"] == victim_rows
    check_target(db, d / "src.db")


def test_corrupt_part_with_skip_part(corrupted, tmp_path):
    d, parts, victim, victim_rows, raw = corrupted
    db = tmp_path / "t.db"
    rejects = tmp_path / "rejects"
    r, st = import_stats(parts, db, "--on-error", "skip-part", "--reject-dir", str(rejects))
    assert r.returncode == 0, r.stderr  # skip-part: the run succeeds, listing what it skipped
    assert st["skipped_parts"] == 1 and st["errors"] == 1
    assert st["skipped"] == [str(victim)]
    assert (rejects / victim.name).read_bytes() == raw
    assert st["rows"] == ROWS - victim_rows
    t_rows, ledger_rows, n = ledger(db)
    assert t_rows == ledger_rows == ROWS - victim_rows
    # Every row except the skipped part's is there, exactly once.
    _, rows = e2e.read_sqlite(db, "t", [t for _, t in e2e.MIXED], order_by="id")
    expected = e2e.gen_rows(SCHEMA, ROWS)
    got_ids = {row[0] for row in rows}
    assert len(got_ids) == len(rows)
    assert rows == [row for row in expected if row[0] in got_ids]
    missing = sorted(set(range(ROWS)) - got_ids)
    assert len(missing) == victim_rows and missing == list(range(missing[0], missing[0] + victim_rows))
    # Fixing the part and re-running applies just that part.
    shutil.copy(d / "parts" / victim.name, victim)
    r, st = import_stats(parts, db, "--on-error", "skip-part")
    assert r.returncode == 0, r.stderr
    assert st["rows"] == victim_rows and st["skipped_parts"] == 0
    check_target(db, d / "src.db")
    assert os.listdir(rejects) == [victim.name]


def test_corrupt_part_in_copy_from_parts_directory(corrupted, tmp_path):
    """copy reads a parts directory as a table: a corrupt file fails it, naming the file."""
    _, parts, victim, _, _ = corrupted
    r = run("copy", f"parts://{parts}", f"sqlite://{tmp_path}/c.db?table=t", "-q")
    assert r.returncode == 1
    assert victim.name in r.stderr
    assert not Path(f"{tmp_path}/c.db").exists() or ledger(tmp_path / "c.db")[0] == \
        ledger(tmp_path / "c.db")[1]
