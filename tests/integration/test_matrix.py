"""Every source endpoint to every destination endpoint, checked value by value.

Sources (made once per schema by sluice from gen://, and themselves checked
against the reference generator): SQLite table, SQLite query, CSV, JSONL, one
TDTP packet, one .part file, a parts directory, a directory of TDTP packets
(export --to parts:///dir?format=tdtp; read with ?format=tdtp and without),
and gen:// itself.
Destinations: SQLite, CSV, JSONL, TDTP packet (plain and zstd), .part file, a parts directory
written by `export` and then imported into SQLite, a parts directory written
by `copy` (the parts sink), and a TDTP packet directory.

The expected rows come from e2e.gen_rows (an independent re-implementation of
gen://); every destination is decoded by an independent reader (e2e.py).
"""

import urllib.parse
from pathlib import Path

import pytest

import e2e
from runner import run

ROWS = 3000
PART_SIZE = "64KiB"  # several parts per stream at these row counts
SCHEMA_NAMES = ["mixed", "all_types"]

SOURCES = ["sqlite_table", "sqlite_query", "csv", "jsonl", "tdtp", "part", "parts",
           "parts_tdtp", "parts_tdtp_auto", "gen"]
DESTS = ["sqlite", "csv", "jsonl", "tdtp", "tdtp_zstd", "part", "parts_export_import",
         "parts_copy", "parts_tdtp"]

# Declared SQLite types the sink creates (docs/connectors/sqlite.md, "Creating tables").
SQLITE_DECLARED = {
    "int8": "TINYINT", "int16": "SMALLINT", "int32": "INT4", "int64": "BIGINT",
    "uint8": "UTINYINT", "uint16": "USMALLINT", "uint32": "UINTEGER", "uint64": "UBIGINT",
    "float32": "FLOAT4", "float64": "REAL", "bool": "BOOLEAN", "string": "TEXT",
    "binary": "BLOB", "date": "DATE", "time": "TIME", "timestamp": "TIMESTAMP",
    "timestamptz(UTC)": "TIMESTAMPTZ", "uuid": "UUID", "json": "JSON TEXT",
}


def q(text):
    return urllib.parse.quote(text, safe="")


def file_source_uri(path, schema_name):
    return f"file://{path}?schema={q(e2e.schema_spec(schema_name))}"


def source_uri(kind, d, schema_name):
    return {
        "sqlite_table": f"sqlite://{d}/src.db?table=t",
        "sqlite_query": f"sqlite://{d}/src.db?query={q('SELECT * FROM t')}",
        "csv": file_source_uri(f"{d}/src.csv", schema_name),
        "jsonl": file_source_uri(f"{d}/src.jsonl", schema_name),
        "tdtp": f"file://{d}/src.tdtp.xml",
        "part": f"file://{d}/src.part",
        "parts": f"parts://{d}/parts",
        # A TDTP packet directory: as a checked-complete packet set, and as
        # parts whose format is detected per file (format=auto, the default).
        "parts_tdtp": f"parts://{d}/tdtp?format=tdtp&table=t",
        "parts_tdtp_auto": f"parts://{d}/tdtp",
        "gen": f"gen:///?rows={ROWS}&schema={schema_name}",
    }[kind]


@pytest.fixture(scope="session", params=SCHEMA_NAMES)
def sources(request, tmp_path_factory):
    """A directory holding every source format, made by sluice from gen://."""
    schema_name = request.param
    d = tmp_path_factory.mktemp(f"sources_{schema_name}")
    gen = f"gen:///?rows={ROWS}&schema={schema_name}"
    run("copy", gen, f"sqlite://{d}/src.db?table=t", "-q", check=True)
    for ext in ("csv", "jsonl", "tdtp.xml", "part"):
        run("copy", gen, f"file://{d}/src.{ext}", "-q", check=True)
    run("export", gen, "--to", f"parts://{d}/parts", "--part-size", PART_SIZE, "-q", check=True)
    run("export", gen, "--to", f"parts://{d}/tdtp?format=tdtp&table=t", "--part-size",
        PART_SIZE, "-q", check=True)
    return schema_name, d


_EXPECTED = {}


def expected(schema_name):
    """The reference rows, in key order."""
    if schema_name not in _EXPECTED:
        _EXPECTED[schema_name] = e2e.sort_rows(e2e.gen_rows(schema_name, ROWS),
                                               e2e.key_index(schema_name))
    return _EXPECTED[schema_name]


def check_rows(got, schema_name, what):
    exp = expected(schema_name)
    got = e2e.sort_rows(got, e2e.key_index(schema_name))
    assert len(got) == len(exp), f"{what}: {len(got)} rows, expected {len(exp)}"
    cols = [c for c, _ in e2e.SCHEMAS[schema_name][0]]
    for g, e in zip(got, exp):
        if g != e:
            diffs = [(c, a, b) for c, a, b in zip(cols, g, e) if a != b]
            pytest.fail(f"{what}: row {e[e2e.key_index(schema_name)]} differs "
                        f"(column, got, expected): {diffs}")


def types_of(schema_name):
    return [t for _, t in e2e.SCHEMAS[schema_name][0]]


def names_of(schema_name):
    return [c for c, _ in e2e.SCHEMAS[schema_name][0]]


def check_sqlite(db, table, schema_name, what, keyed=True):
    cols, key, not_null = e2e.SCHEMAS[schema_name]
    declared = e2e.sqlite_declared_types(db, table)
    assert [d[0] for d in declared] == names_of(schema_name), what
    for (name, decl, notnull, pk), (_, t) in zip(declared, cols):
        want = SQLITE_DECLARED.get(t) or f"DECIMAL{t[len('decimal'):]}"
        if name == key and keyed:
            assert pk == 1, f"{what}: {name} is not the primary key"
            if t == "int64":
                want = "INTEGER"  # a single int64 key becomes the rowid
        assert decl.replace(" ", "") == want.replace(" ", ""), f"{what}: {name} declared {decl}"
    _, rows = e2e.read_sqlite(db, table, types_of(schema_name))
    check_rows(rows, schema_name, what)


def check_arrow(table, schema_name, what, keyed=True):
    cols, key, _ = e2e.SCHEMAS[schema_name]
    assert table.schema.names == names_of(schema_name), what
    got_types = [e2e.arrow_type_name(f) for f in table.schema]
    assert got_types == types_of(schema_name), what
    if keyed:
        f = table.schema.field(key)
        assert (f.metadata or {}).get(b"sluice:primary_key") == b"true", f"{what}: key flag"
    check_rows(e2e.arrow_columns(table, types_of(schema_name)), schema_name, what)


def check_tdtp_schema(schema, schema_name, what, keyed=True):
    cols, key, _ = e2e.SCHEMAS[schema_name]
    assert [(n, t) for n, t, _ in schema] == cols, what
    if keyed:
        assert [n for n, _, k in schema if k] == [key], f"{what}: key fields"


def check_parts_dir(d, schema_name, what, keyed=True):
    """A parts directory: one or more complete streams (copy writes one per
    source split), together holding the table."""
    data, ends, table = e2e.read_parts_dir(d)
    streams = {}
    for m in data + ends:
        streams.setdefault(m["sluice.stream_id"], []).append(m)
    for sid, parts in streams.items():
        end = [m for m in parts if m["sluice.kind"] == "end"]
        assert len(end) == 1, f"{what}: stream {sid} has {len(end)} end parts"
        numbers = sorted(int(m["sluice.part_number"]) for m in parts if m["sluice.kind"] == "data")
        assert numbers == list(range(1, len(numbers) + 1)), f"{what}: stream {sid}: {numbers}"
        assert int(end[0]["sluice.total_parts"]) == len(numbers), f"{what}: stream {sid}"
        assert int(end[0]["sluice.part_number"]) == len(numbers) + 1, f"{what}: stream {sid}"
        assert int(end[0]["sluice.total_rows"]) == sum(
            int(m["sluice.rows"]) for m in parts if m["sluice.kind"] == "data"), what
    assert sum(int(m["sluice.rows"]) for m in data) == ROWS, what
    check_arrow(table, schema_name, what, keyed)


def verify_destination(kind, out, schema_name, what, keyed=True):
    if kind == "sqlite":
        check_sqlite(out / "dst.db", "t", schema_name, what, keyed)
    elif kind == "csv":
        names, rows = e2e.read_csv(out / "dst.csv", types_of(schema_name))
        assert names == names_of(schema_name), what
        check_rows(rows, schema_name, what)
    elif kind == "jsonl":
        rows = e2e.read_jsonl(out / "dst.jsonl", names_of(schema_name), types_of(schema_name))
        check_rows(rows, schema_name, what)
    elif kind in ("tdtp", "tdtp_zstd"):
        header, schema, rows = e2e.read_tdtp(out / "dst.tdtp.xml")
        assert (kind == "tdtp_zstd") == ('compression="zstd"' in
                                         (out / "dst.tdtp.xml").read_text()), what
        check_tdtp_schema(schema, schema_name, what, keyed)
        assert header.get("TableName") == "dst", what  # default: the file name stem
        check_rows(rows, schema_name, what)
    elif kind == "part":
        meta, table = e2e.read_part(out / "dst.part")
        assert meta.get("sluice.kind") == "data", what
        assert int(meta["sluice.rows"]) == ROWS, what
        check_arrow(table, schema_name, what, keyed)
    elif kind == "parts_export_import":
        check_parts_dir(out / "parts", schema_name, what + " (parts)", keyed)
        check_sqlite(out / "imported.db", "t", schema_name, what + " (imported)", keyed)
    elif kind == "parts_copy":
        check_parts_dir(out / "parts", schema_name, what, keyed)
    elif kind == "parts_tdtp":
        headers, schema, rows = e2e.read_tdtp_dir(out / "tdtp")
        assert len(headers) >= 2, f"{what}: expected several packets, got {len(headers)}"
        assert [int(h["PartNumber"]) for h in headers] == list(range(1, len(headers) + 1))
        check_tdtp_schema(schema, schema_name, what, keyed)
        check_rows(rows, schema_name, what)
    else:
        raise AssertionError(kind)


def write_destination(kind, src, out):
    """Runs the command(s) that move `src` into destination `kind` under `out`."""
    if kind in ("sqlite", "csv", "jsonl", "tdtp", "tdtp_zstd", "part"):
        dst = {"sqlite": f"sqlite://{out}/dst.db?table=t", "csv": f"file://{out}/dst.csv",
               "jsonl": f"file://{out}/dst.jsonl", "tdtp": f"file://{out}/dst.tdtp.xml",
               "tdtp_zstd": f"file://{out}/dst.tdtp.xml?compress=true",
               "part": f"file://{out}/dst.part"}[kind]
        return [run("copy", src, dst, "--part-size", PART_SIZE, "-q")]
    if kind == "parts_export_import":
        r1 = run("export", src, "--to", f"parts://{out}/parts", "--part-size", PART_SIZE, "-q")
        if r1.returncode != 0:
            return [r1]
        return [r1, run("import", f"parts://{out}/parts", "--into",
                        f"sqlite://{out}/imported.db?table=t", "--workers", "3", "-q")]
    if kind == "parts_copy":
        return [run("copy", src, f"parts://{out}/parts", "--part-size", PART_SIZE, "-q")]
    if kind == "parts_tdtp":
        return [run("export", src, "--to", f"parts://{out}/tdtp?format=tdtp&table=t",
                    "--part-size", PART_SIZE, "-q")]
    raise AssertionError(kind)


# ---------------------------------------------------------------------------


def test_sources_equal_the_reference_generator(sources):
    """gen:// -> every format (the `gen` row of the matrix, via the fixtures)."""
    schema_name, d = sources
    check_sqlite(d / "src.db", "t", schema_name, "gen -> sqlite")
    names, rows = e2e.read_csv(d / "src.csv", types_of(schema_name))
    assert names == names_of(schema_name)
    check_rows(rows, schema_name, "gen -> csv")
    check_rows(e2e.read_jsonl(d / "src.jsonl", names_of(schema_name), types_of(schema_name)),
               schema_name, "gen -> jsonl")
    _, schema, rows = e2e.read_tdtp(d / "src.tdtp.xml")
    check_tdtp_schema(schema, schema_name, "gen -> tdtp")
    check_rows(rows, schema_name, "gen -> tdtp")
    _, table = e2e.read_part(d / "src.part")
    check_arrow(table, schema_name, "gen -> part")
    check_parts_dir(d / "parts", schema_name, "gen -> parts")
    headers, schema, rows = e2e.read_tdtp_dir(d / "tdtp")
    check_tdtp_schema(schema, schema_name, "gen -> parts?format=tdtp")
    check_rows(rows, schema_name, "gen -> parts?format=tdtp")


@pytest.mark.parametrize("dst", DESTS)
@pytest.mark.parametrize("src", SOURCES)
def test_source_to_destination(sources, src, dst, tmp_path):
    schema_name, d = sources
    uri = source_uri(src, d, schema_name)
    results = write_destination(dst, uri, tmp_path)
    for r in results:
        assert r.returncode == 0, f"{src} -> {dst}: exit {r.returncode}\n{r.stderr}"
    # A query's columns are never keys (docs/connectors/sqlite.md), so its
    # destinations have no primary key.
    verify_destination(dst, tmp_path, schema_name, f"{schema_name}: {src} -> {dst}",
                       keyed=src != "sqlite_query")
    assert not list(Path(tmp_path).rglob("*.tmp-*")), "temporary files left behind"
