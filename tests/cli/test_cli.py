"""End-to-end tests of the `sluice` binary: exit codes, stats JSON, inspect,
error policy and clean cancellation.

Run: SLUICE_BIN=<builddir>/sluice python3 -m pytest -q tests/cli
(ctest runs it as `cli_end_to_end`).
"""

import json
import os
import signal
import subprocess
import time
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


def run(*args, timeout=120):
    return subprocess.run([SLUICE, *args], capture_output=True, text=True, timeout=timeout)


def part_files(d):
    return sorted(p for p in Path(d).iterdir() if p.name.endswith(".part"))


def temp_files(d):
    return [p for p in Path(d).rglob("*") if ".tmp-" in p.name]


# ---------------------------------------------------------------------------
# help and version


def test_help_lists_commands_and_connectors():
    r = run("--help")
    assert r.returncode == 0
    for word in ("copy", "export", "import", "inspect", "version", "parts://", "gen://"):
        assert word in r.stdout
    assert "demo" in r.stdout


def test_command_help_shows_flags_and_endpoint_options():
    r = run("copy", "--help")
    assert r.returncode == 0
    assert "--part-size" in r.stdout and "--on-error" in r.stdout
    assert "rows (int, default 1000)" in r.stdout  # from the gen connector's option table
    r = run("import", "-h")
    assert r.returncode == 0 and "--into" in r.stdout and "--workers" in r.stdout


def test_version():
    r = run("version")
    assert r.returncode == 0
    assert r.stdout.startswith("sluice ")
    assert "parts" in r.stdout


# ---------------------------------------------------------------------------
# exit codes


@pytest.mark.parametrize(
    "args, message",
    [
        (["copy", "gen:/x", "parts:///tmp/never"], "invalid URI 'gen:/x'"),
        (["copy", "nosuch:///x", "parts:///tmp/never"], "unknown endpoint scheme 'nosuch'"),
        (["copy", "gen:///", "parts:///tmp/never", "--wokers", "2"], "unknown option '--wokers'"),
        (["copy", "gen:///?rowz=5", "parts:///tmp/never"], "unknown option 'rowz'"),
        (["copy", "gen:///?rows=many", "parts:///tmp/never"], "option 'rows'"),
        (["copy", "parts:///tmp/never", "gen:///"], "cannot be used as a destination"),
        (["export", "gen:///"], "--to"),
        (["export", "gen:///", "--to", "gen:///"], "cannot be used as a part destination"),
        (["copy", "gen:///", "parts:///tmp/never", "--compression", "gzip"], "--compression"),
        (["copy", "gen:///", "parts:///tmp/never", "--on-error", "ignore"], "error policy"),
        (["copy", "gen:///", "parts:///tmp/never", "--workers", "0"], "--workers"),
        (["frobnicate"], "unknown command 'frobnicate'"),
        (["copy", "gen:///"], "SRC and DST"),
    ],
)
def test_usage_errors_exit_2_and_name_the_problem(args, message):
    r = run(*args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr, r.stderr
    assert not Path("/tmp/never").exists()


def test_missing_inputs_exit_1(tmp_path):
    r = run("inspect", str(tmp_path / "missing.part"))
    assert r.returncode == 1
    assert "missing.part" in r.stderr
    r = run("import", f"parts://{tmp_path}/nodir", "--into", f"parts://{tmp_path}/out")
    assert r.returncode == 1
    assert "nodir" in r.stderr
    r = run("copy", f"parts://{tmp_path}/nodir", f"parts://{tmp_path}/out", "-q")
    assert r.returncode == 1
    assert "nodir" in r.stderr


# ---------------------------------------------------------------------------
# stats


def read_stats(path):
    stats = json.loads(Path(path).read_text())
    for key in ("rows", "parts", "bytes", "duration_s", "first_part_ms", "rows_per_s",
                "peak_rss_bytes", "errors"):
        assert key in stats, key
    return stats


def test_export_import_copy_stats_are_consistent(tmp_path):
    out = tmp_path / "out"
    s1 = tmp_path / "export.json"
    r = run("export", "gen:///?rows=25000&schema=mixed", "--to", f"parts://{out}",
            "--part-size", "256KiB", "--stats-json", str(s1))
    assert r.returncode == 0, r.stderr
    assert "--- Export Results ---" in r.stderr and "Total Rows:      25000" in r.stderr
    st = read_stats(s1)
    files = part_files(out)
    assert st["rows"] == 25000
    assert st["parts"] == len(files) - 1  # plus the end-of-stream part
    assert st["parts"] > 1
    assert st["bytes"] == sum(f.stat().st_size for f in files)
    assert st["errors"] == 0 and st["peak_rss_bytes"] > 0
    assert 0 <= st["first_part_ms"] <= st["duration_s"] * 1000
    assert st["rows_per_s"] == pytest.approx(st["rows"] / st["duration_s"], rel=1e-3)

    s2 = tmp_path / "import.json"
    r = run("import", f"parts://{out}", "--into", f"parts://{tmp_path}/in", "--workers", "3",
            "--stats-json", str(s2))
    assert r.returncode == 0, r.stderr
    st2 = read_stats(s2)
    assert st2["rows"] == 25000 and st2["parts"] == st["parts"] and st2["duplicates"] == 0

    r = run("import", f"parts://{out}", "--into", f"parts://{tmp_path}/in", "--stats-json", "-",
            "-q")
    assert r.returncode == 0, r.stderr
    st3 = json.loads(r.stdout)
    assert st3["rows"] == 0 and st3["duplicates"] == st["parts"]
    assert st3["duplicate_rows"] == 25000

    r = run("copy", "gen:///?rows=25000&schema=all_types", f"parts://{tmp_path}/copy",
            "--stats-json", "-", "-q")
    assert r.returncode == 0, r.stderr
    st4 = json.loads(r.stdout)
    assert st4["rows"] == 25000 and st4["errors"] == 0


# ---------------------------------------------------------------------------
# inspect


def test_inspect_part_directory_and_rows(tmp_path):
    out = tmp_path / "out"
    r = run("export", "gen:///?rows=5000", "--to", f"parts://{out}", "-q")
    assert r.returncode == 0, r.stderr
    files = part_files(out)
    first = files[0]
    r = run("inspect", str(first))
    assert r.returncode == 0, r.stderr
    assert "Kind:          data" in r.stdout
    assert "Rows:          5000" in r.stdout
    assert "Part:          1 (streaming: total unknown)" in r.stdout
    assert "id          int64 NOT NULL PRIMARY KEY" in r.stdout
    assert "Source:        gen:///?rows=5000&seed=1&schema=mixed" in r.stdout

    r = run("inspect", str(files[-1]))
    assert r.returncode == 0 and "Kind:          end" in r.stdout
    assert "Total Rows:    5000" in r.stdout

    r = run("inspect", str(out))
    assert r.returncode == 0, r.stderr
    assert "1 data parts, 5000 rows, complete" in r.stdout

    r = run("inspect", str(first), "--rows", "3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    rows = [json.loads(line) for line in lines]
    assert [row["id"] for row in rows] == [0, 1, 2]
    assert rows[1]["name"] == "user_1"
    assert "Rows:" in r.stderr  # the header goes to stderr when rows go to stdout

    r = run("inspect", "gen:///?rows=42&schema=fixed")
    assert r.returncode == 0 and "Rows:          42" in r.stdout

    bad = tmp_path / "bad.part"
    bad.write_bytes(b"\xff\xff\xff\xff" + b"\x00" * 40)
    r = run("inspect", str(bad))
    assert r.returncode == 1
    assert "bad.part" in r.stderr


def test_tdtp_directory_round_trip(tmp_path):
    out = tmp_path / "tdtp"
    r = run("export", "gen:///?rows=20000&schema=all_types", "--to",
            f"parts://{out}?format=tdtp&table=users", "--part-size", "512KiB", "--stats-json",
            "-", "-q")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    files = sorted(p.name for p in out.iterdir())
    total = st["parts"]
    # Streamed as users_part_N.tdtp.xml, finalized when complete (TotalParts, _of_T names).
    assert total > 1 and len(files) == total
    assert files == sorted(f"users_part_{n}_of_{total}.tdtp.xml" for n in range(1, total + 1))
    first = (out / f"users_part_1_of_{total}.tdtp.xml").read_text()
    assert "<TableName>users</TableName>" in first
    assert f"<TotalParts>{total}</TotalParts>" in first
    r = run("import", f"parts://{out}", "--into", f"parts://{tmp_path}/native", "--stats-json",
            "-", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] == 20000
    # As a copy destination, format=tdtp is the file connector's TDTP directory
    # (packets named with their total at commit) when that connector is built.
    r = run("copy", "gen:///?rows=5000", f"parts://{tmp_path}/x?format=tdtp&table=t", "-q")
    if "file" in run("version").stdout:
        assert r.returncode == 0, r.stderr
        assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["t.tdtp.xml"]
    else:
        assert r.returncode == 2 and "format=tdtp" in r.stderr


# ---------------------------------------------------------------------------
# error policy


def test_corrupt_part_fails_or_is_skipped_and_rejected(tmp_path):
    out = tmp_path / "out"
    r = run("export", "gen:///?rows=20000", "--to", f"parts://{out}", "--part-size", "128KiB",
            "-q")
    assert r.returncode == 0, r.stderr
    victim = part_files(out)[1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x5A
    victim.write_bytes(bytes(data))

    r = run("import", f"parts://{out}", "--into", f"parts://{tmp_path}/in1", "-q")
    assert r.returncode == 1
    assert victim.name in r.stderr

    rejects = tmp_path / "rejects"
    r = run("import", f"parts://{out}", "--into", f"parts://{tmp_path}/in2", "--on-error",
            "skip-part", "--reject-dir", str(rejects), "--stats-json", "-", "-q")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["skipped_parts"] == 1 and st["errors"] == 1
    assert st["skipped"] == [str(victim)]
    assert (rejects / victim.name).read_bytes() == bytes(data)
    assert st["incomplete_streams"] == 1


# ---------------------------------------------------------------------------
# SQLite (when the connector is built in)


def has_sqlite():
    return "sqlite" in run("version").stdout


@pytest.mark.skipif(not has_sqlite(), reason="sqlite connector not built")
def test_sqlite_round_trip_and_errors(tmp_path):
    src = f"sqlite://{tmp_path}/a.db?table=t"
    r = run("copy", "gen:///?rows=30000&schema=all_types", src, "--stats-json", "-", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] == 30000

    out = tmp_path / "parts"
    r = run("export", src, "--to", f"parts://{out}", "--part-size", "512KiB", "--stats-json",
            "-", "-q")
    assert r.returncode == 0, r.stderr
    exported = json.loads(r.stdout)
    assert exported["rows"] == 30000 and exported["parts"] > 1

    dst = f"sqlite://{tmp_path}/b.db?table=t"
    r = run("import", f"parts://{out}", "--into", dst, "--workers", "4", "--stats-json", "-", "-q")
    assert r.returncode == 0, r.stderr
    imported = json.loads(r.stdout)
    assert imported["rows"] == 30000 and imported["parts"] == exported["parts"]

    r = run("inspect", dst)
    assert r.returncode == 0, r.stderr
    assert "Rows:          30000" in r.stdout

    # A missing table is a runtime error (1) that names it; a missing
    # required option is a usage error (2).
    r = run("copy", f"sqlite://{tmp_path}/a.db?table=nosuch", f"parts://{tmp_path}/x")
    assert r.returncode == 1 and "nosuch" in r.stderr
    r = run("import", f"parts://{out}", "--into", f"sqlite://{tmp_path}/c.db")
    assert r.returncode == 2 and "table" in r.stderr


# ---------------------------------------------------------------------------
# cancellation


def wait_for_parts(d, n, proc, deadline_s=60):
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        if Path(d).exists() and len(part_files(d)) >= n:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("command", ["export", "copy"])
def test_sigterm_stops_cleanly(tmp_path, command):
    out = tmp_path / "out"
    stats = tmp_path / "stats.json"
    src = "gen:///?rows=50000000"
    if command == "export":
        args = ["export", src, "--to", f"parts://{out}"]
    else:
        args = ["copy", src, f"parts://{out}", "--workers", "2"]
    proc = subprocess.Popen([SLUICE, *args, "--part-size", "256KiB", "--stats-json", str(stats)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_parts(out, 3, proc), "no parts appeared"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopping" in err
    assert temp_files(tmp_path) == []
    st = json.loads(stats.read_text())
    assert st["cancelled"] is True
    assert 0 < st["rows"] < 50000000
    # Every part on disk is whole, and the stream has no end part.
    r = run("inspect", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Unreadable" not in r.stdout
    assert "complete" not in r.stdout.replace("incomplete", "")
    total = 0
    for f in part_files(out):
        r = run("inspect", str(f))
        assert r.returncode == 0, r.stderr
        assert "Kind:          data" in r.stdout
        total += int(next(l for l in r.stdout.splitlines() if l.startswith("Rows:")).split()[1])
    assert total == st["rows"]


@pytest.mark.skipif(not has_sqlite(), reason="sqlite connector not built")
def test_sigterm_during_import_leaves_only_whole_parts_and_rerun_completes(tmp_path):
    import sqlite3

    out = tmp_path / "parts"
    rows = 1500000
    r = run("export", f"gen:///?rows={rows}&schema=fixed", "--to", f"parts://{out}",
            "--part-size", "128KiB", "--compression", "lz4", "-q")
    assert r.returncode == 0, r.stderr
    db = tmp_path / "dst.db"
    dst = f"sqlite://{db}?table=t"
    proc = subprocess.Popen([SLUICE, "import", f"parts://{out}", "--into", dst, "--workers", "3",
                             "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        applied = 0
        while time.time() < deadline and proc.poll() is None and applied < 5:
            time.sleep(0.02)
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                applied = con.execute("select count(*) from _sluice_ledger").fetchone()[0]
                con.close()
            except sqlite3.Error:
                pass
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Stopped cleanly (143), or finished before the signal arrived (0).
    assert proc.returncode in (0, 128 + signal.SIGTERM), err
    con = sqlite3.connect(db)
    table_rows = con.execute("select count(*) from t").fetchone()[0]
    ledger_rows = con.execute("select coalesce(sum(rows), 0) from _sluice_ledger").fetchone()[0]
    con.close()
    assert table_rows == ledger_rows  # no half-applied part
    assert temp_files(tmp_path) == []

    r = run("import", f"parts://{out}", "--into", dst, "--stats-json", "-", "-q")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["rows"] + st["duplicate_rows"] == rows
    con = sqlite3.connect(db)
    assert con.execute("select count(*), count(distinct id) from t").fetchone() == (rows, rows)
    con.close()


def test_progress_bar_when_forced(tmp_path):
    def stderr_bytes(*args):
        r = subprocess.run([SLUICE, *args], capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stderr

    err = stderr_bytes("copy", "gen:///?rows=300000", f"parts://{tmp_path}/o", "--progress",
                       "always")
    assert b"\r\x1b[K" in err and b"rows/s" in err  # the bar is redrawn in place
    err = stderr_bytes("copy", "gen:///?rows=1000", f"parts://{tmp_path}/p")
    assert b"\r" not in err  # not a terminal: no bar
