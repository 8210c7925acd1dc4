"""End-to-end tests of `sluice demo`: generate → SQLite → parts → SQLite with
N workers → verify. The content of both databases is compared here again with
Python's own sqlite3 module, independently of the demo's checksum.

Run: SLUICE_BIN=<builddir>/sluice python3 -m pytest -q tests/cli/test_demo.py
"""

import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest


def _binary():
    env = os.environ.get("SLUICE_BIN")
    if env:
        return env
    root = Path(__file__).resolve().parents[2]
    for candidate in sorted(root.glob("build*/sluice")):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.skip("sluice binary not found (set SLUICE_BIN)")


SLUICE = _binary()
ROWS = 20000


def run(*args, timeout=300, env=None):
    return subprocess.run([SLUICE, *args], capture_output=True, text=True, timeout=timeout, env=env)


def field(stdout, key):
    """The value of a 'Key:   value' line of the demo's report."""
    m = re.search(r"^" + re.escape(key) + r":\s+(.*)$", stdout, re.M)
    assert m, f"no '{key}:' line in:\n{stdout}"
    return m.group(1).strip()


def rows(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        yield from con.execute("SELECT * FROM demo ORDER BY id")
    finally:
        con.close()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo") / "run"
    stats = d.parent / "stats.json"
    r = run("demo", "--rows", str(ROWS), "--workers", "4", "--dir", str(d),
            "--part-size", "256KiB", "--progress", "never", "--stats-json", str(stats))
    return d, stats, r


def test_demo_prints_match_and_row_counts(demo_run):
    d, _, r = demo_run
    assert r.returncode == 0, r.stderr
    assert field(r.stdout, "Result") == "MATCH"
    assert field(r.stdout, "Expected Rows") == str(ROWS)
    assert field(r.stdout, "Source Rows") == str(ROWS)
    assert field(r.stdout, "Target Rows") == str(ROWS)
    source_sum = field(r.stdout, "Source Checksum")
    assert re.fullmatch(r"xxh3-128:[0-9a-f]{32}", source_sum)
    assert field(r.stdout, "Target Checksum") == source_sum
    # Each step's summary table, and the overall figures.
    for title in ("--- Copy Results ---", "--- Export Results ---", "--- Import Results ---"):
        assert title in r.stderr
    assert re.search(r"^Peak RSS:\s+[0-9.]+ MB", r.stdout, re.M)
    assert re.search(r"^Wall Time:\s+\S+", r.stdout, re.M)
    assert field(r.stdout, "Directory").startswith(str(d))


def test_demo_databases_hold_identical_content(demo_run):
    d, _, r = demo_run
    assert r.returncode == 0, r.stderr
    n = 0
    for a, b in zip(rows(d / "source.db"), rows(d / "target.db"), strict=True):
        assert a == b, f"row {n} differs: {a!r} vs {b!r}"
        # Same values and the same storage classes (1 and 1.0 compare equal).
        assert [type(x) for x in a] == [type(x) for x in b], f"row {n}"
        n += 1
    assert n == ROWS


def test_demo_table_has_the_promised_mix_of_types(demo_run):
    d, _, r = demo_run
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(f"file:{d / 'target.db'}?mode=ro", uri=True)
    try:
        q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        assert q("SELECT count(*) FROM demo WHERE name IS NULL") > 0
        assert q("SELECT count(*) FROM demo WHERE payload IS NULL") > 0
        assert q("SELECT count(*) FROM demo WHERE typeof(payload) = 'blob'") > 0
        # Unicode beyond Latin-1 (Cyrillic, CJK) survives byte for byte.
        cities = {row[0] for row in con.execute("SELECT DISTINCT city FROM demo")}
        assert {"Санкт-Петербург", "東京", "São Paulo"} <= cities
        # Decimals with a fractional part, timestamps carrying their zone.
        assert q("SELECT count(*) FROM demo WHERE amount != CAST(amount AS INTEGER)") > 0
        decl = {row[1]: row[2] for row in con.execute("PRAGMA table_info(demo)")}
        assert decl["amount"].upper().startswith("DECIMAL")
        assert "TZ" in decl["created_at"].upper() or "ZONE" in decl["created_at"].upper()
        ts = q("SELECT created_at FROM demo LIMIT 1")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", ts), ts
    finally:
        con.close()


def test_demo_leaves_parts_and_stats(demo_run):
    d, stats, r = demo_run
    assert r.returncode == 0, r.stderr
    parts = [p for p in (d / "parts").iterdir() if p.name.endswith(".part")]
    assert len(parts) > 2  # 256KiB parts: several data parts plus the end part
    s = json.loads(stats.read_text())
    assert s["command"] == "demo"
    assert set(s["steps"]) == {"generate", "export", "import"}
    for step in s["steps"].values():
        assert step["rows"] == ROWS
        assert step["errors"] == 0
    assert s["steps"]["import"]["workers"] == 4
    v = s["verification"]
    assert v["match"] is True
    assert v["source_rows"] == v["target_rows"] == ROWS
    assert v["source_checksum"] == v["target_checksum"]
    assert s["peak_rss_bytes"] > 0


def test_demo_refuses_a_directory_with_an_earlier_run(demo_run):
    d, _, _ = demo_run
    before = sorted(p.name for p in d.iterdir())
    r = run("demo", "--rows", "10", "--dir", str(d), "--progress", "never")
    assert r.returncode == 2
    assert "already holds" in r.stderr
    assert sorted(p.name for p in d.iterdir()) == before


def test_demo_default_dir_is_a_new_temp_dir_and_cleanup_removes_it(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    r = run("demo", "--rows", "3000", "--workers", "2", "--progress", "never", env=env)
    assert r.returncode == 0, r.stderr
    assert field(r.stdout, "Result") == "MATCH"
    kept = Path(field(r.stdout, "Directory").split(" ")[0])
    assert kept.parent == tmp_path and kept.name.startswith("sluice-demo-")
    assert (kept / "source.db").exists() and (kept / "target.db").exists()

    r = run("demo", "--rows", "3000", "--cleanup", "--progress", "never", env=env)
    assert r.returncode == 0, r.stderr
    assert field(r.stdout, "Result") == "MATCH"
    assert "removed" in field(r.stdout, "Directory")
    assert sorted(tmp_path.iterdir()) == [kept]  # only the first run's directory is left


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rows", "0"], "--rows expects a positive integer"),
        (["--workers", "x"], "--workers expects a positive integer"),
        (["--compression", "rar"], "--compression"),
        (["extra"], "demo takes no arguments"),
    ],
)
def test_demo_usage_errors(args, message, tmp_path):
    r = run("demo", "--dir", str(tmp_path / "never"), *args)
    assert r.returncode == 2
    assert message in r.stderr
    assert not (tmp_path / "never").exists()


def test_demo_help():
    r = run("demo", "--help")
    assert r.returncode == 0
    for flag in ("--rows", "--workers", "--dir", "--cleanup", "--part-size", "--compression",
                 "--stats-json"):
        assert flag in r.stdout
    assert "demo" in run("--help").stdout
