"""The TDTP framework's packets (/work/shared/testdata/tdtp) -> SQLite -> JSONL.

users.tdtp.xml.csv is the expected decoding of users.tdtp.xml (from the
fixtures' authors); the other packets are checked against e2e.read_tdtp, an
independent decoder (xml.etree, pyarrow's zstd stream) of docs/FORMAT.md (TDTP section).
"""

import pytest

import e2e
from runner import TESTDATA, run

FIXTURES = TESTDATA / "tdtp"
PACKETS = ["users.tdtp.xml", "users_nullable.tdtp.xml", "specials.tdtp.xml",
           "users_compressed.tdtp.xml"]


def through_sqlite_to_jsonl(packet, tmp_path):
    db = tmp_path / "t.db"
    r = run("copy", f"file://{packet}", f"sqlite://{db}?table=t", "-q")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "t.jsonl"
    r = run("copy", f"sqlite://{db}?table=t", f"file://{out}", "-q")
    assert r.returncode == 0, r.stderr
    return db, out


def test_users_packet_matches_the_expected_csv(tmp_path):
    packet = FIXTURES / "users.tdtp.xml"
    _, schema, decoded = e2e.read_tdtp(packet)
    names = [n for n, _, _ in schema]
    types = [t for _, t, _ in schema]
    csv_names, expected = e2e.read_csv(FIXTURES / "users.tdtp.xml.csv", types)
    assert csv_names == names
    assert decoded == expected  # the independent decoder agrees with the fixture

    db, out = through_sqlite_to_jsonl(packet, tmp_path)
    _, in_sqlite = e2e.read_sqlite(db, "t", types, order_by="ID")
    assert in_sqlite == expected
    assert e2e.read_jsonl(out, names, types) == expected
    # The key survives: ID is the table's primary key.
    decl = e2e.sqlite_declared_types(db, "t")
    assert [d[0] for d in decl if d[3]] == ["ID"]


@pytest.mark.parametrize("name", PACKETS)
def test_packet_through_sqlite_to_jsonl(name, tmp_path):
    packet = FIXTURES / name
    _, schema, expected = e2e.read_tdtp(packet)
    assert expected, "fixture has rows"
    names = [n for n, _, _ in schema]
    types = [t for _, t, _ in schema]
    key = [n for n, _, k in schema if k][0]
    db, out = through_sqlite_to_jsonl(packet, tmp_path)
    _, in_sqlite = e2e.read_sqlite(db, "t", types, order_by=key)
    assert in_sqlite == expected
    assert e2e.read_jsonl(out, names, types) == expected


def test_specials_decode_to_nulls_nan_and_infinities():
    # Spot checks of the independent decoder against the packet's own text,
    # so the comparison above is not vacuous.
    _, schema, rows = e2e.read_tdtp(FIXTURES / "specials.tdtp.xml")
    assert [t for _, t, _ in schema] == ["int64", "string", "float64", "date"]
    assert rows[1][1] is None and rows[1][2] is None
    assert rows[2][2] == "NaN" and rows[3][2] == "inf" and rows[4][2] == "-inf"
    assert rows[2][3] is None and rows[4][3] is None
    _, _, rows = e2e.read_tdtp(FIXTURES / "users_nullable.tdtp.xml")
    assert rows[0][2] is None and rows[1][2] == "Moscow"
    _, schema, rows = e2e.read_tdtp(FIXTURES / "users_compressed.tdtp.xml")
    assert len(rows) == 10
    assert dict((n, t) for n, t, _ in schema)["Balance"] == "decimal(18,2)"
