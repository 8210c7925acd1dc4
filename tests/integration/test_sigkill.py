"""Exactly-once import under SIGKILL.

A 200k-row SQLite table is exported into many parts; then, 20 times, an import
into a fresh SQLite target is killed with SIGKILL at a random moment of its
expected run time (measured first) and re-run to completion. After every
cycle the target must equal the source: same row count, no duplicate keys,
same checksum over the ordered rows (computed with Python's sqlite3). One
cycle in three is killed twice (the re-run is killed too) before the final
run. The delays come from a fixed seed and are printed.
"""

import json
import random
import signal
import sqlite3
import subprocess
import time

import e2e
from runner import SLUICE, run

ROWS = 200_000
CYCLES = 20
SEED = 20240521


def ledger_state(db):
    """(rows in t, rows recorded in the ledger, ledger entries) of a target, or None."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            if "t" not in names or "_sluice_ledger" not in names:
                return None
            t = con.execute("SELECT count(*) FROM t").fetchone()[0]
            led, n = con.execute(
                "SELECT coalesce(sum(rows), 0), count(*) FROM _sluice_ledger").fetchone()
            return t, led, n
        finally:
            con.close()
    except sqlite3.Error:
        return None


def start_import(parts, db, stats=None):
    args = [SLUICE, "import", f"parts://{parts}", "--into", f"sqlite://{db}?table=t",
            "--workers", "4", "-q"]
    if stats:
        args += ["--stats-json", str(stats)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_after(proc, delay):
    """SIGKILLs `proc` `delay` seconds after it started; True if it was still running."""
    time.sleep(delay)
    alive = proc.poll() is None
    if alive:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return alive


def test_import_killed_20_times_ends_exactly_once(tmp_path, capsys):
    src = tmp_path / "src.db"
    parts = tmp_path / "parts"
    run("copy", f"gen:///?rows={ROWS}&schema=mixed", f"sqlite://{src}?table=t", "-q", check=True)
    run("export", f"sqlite://{src}?table=t", "--to", f"parts://{parts}", "--part-size", "256KiB",
        "-q", check=True)
    n_parts = len([p for p in parts.iterdir() if p.name.endswith(".part")]) - 1
    assert n_parts >= 50, f"only {n_parts} data parts"
    want = e2e.sqlite_checksum(src, "t", "id")
    assert want[:2] == (ROWS, ROWS)

    # One full run to learn the expected duration.
    t0 = time.monotonic()
    p = start_import(parts, tmp_path / "probe.db")
    _, err = p.communicate(timeout=300)
    duration = time.monotonic() - t0
    assert p.returncode == 0, err.decode()
    assert e2e.sqlite_checksum(tmp_path / "probe.db", "t", "id") == want

    rng = random.Random(SEED)
    log = []
    partial = 0
    for cycle in range(CYCLES):
        d = tmp_path / f"cycle{cycle:02d}"
        d.mkdir()
        db = d / "t.db"
        kills = 2 if cycle % 3 == 2 else 1
        delays = []
        states = []
        for _ in range(kills):
            delay = rng.uniform(0.02, 0.98) * duration
            delays.append(delay)
            killed = kill_after(start_import(parts, db), delay)
            state = ledger_state(db)
            states.append((killed, state))
            if state is not None:
                t_rows, ledger_rows, _ = state
                # No half-applied part: the table holds exactly the ledger's parts.
                assert t_rows == ledger_rows, f"cycle {cycle}: {state}"
                if killed and 0 < t_rows < ROWS:
                    partial += 1
        stats = d / "stats.json"
        p = start_import(parts, db, stats)
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, f"cycle {cycle}: re-run failed:\n{err.decode()}"
        st = json.loads(stats.read_text())
        assert st["rows"] + st["duplicate_rows"] == ROWS, f"cycle {cycle}: {st}"
        got = e2e.sqlite_checksum(db, "t", "id")
        assert got == want, f"cycle {cycle}: target {got} != source {want}"
        state = ledger_state(db)
        assert state == (ROWS, ROWS, n_parts), f"cycle {cycle}: ledger {state}"
        log.append(f"cycle {cycle:2d}: kill delays " +
                   ", ".join(f"{x * 1000:6.0f} ms" for x in delays) +
                   "  state after kill (killed, (rows, ledger rows, parts)): " +
                   "; ".join(str(s) for s in states) +
                   f"  re-run applied {st['parts']} parts, skipped {st['duplicates']}")
    with capsys.disabled():
        print(f"\nSIGKILL test: {n_parts} parts, full import {duration * 1000:.0f} ms, "
              f"seed {SEED}")
        for line in log:
            print(line)
    # Most kills must land mid-import, or the test proves little.
    assert partial >= CYCLES // 4, f"only {partial} kills interrupted a partial import"
