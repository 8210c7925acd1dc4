"""Export memory is bounded: peak RSS does not grow with the table.

The pipeline holds a bounded number of parts in flight (src/pipeline/README.md),
so exporting 10x the rows must peak within 10% of the smaller run. This is a
correctness property of the design, not a timing: it is measured with the
run's own --stats-json peak_rss_bytes (getrusage) and cross-checked against
the kernel's figure for the process (`/usr/bin/time -v`, "Maximum resident
set size").

Parts are 256 KiB so that the smaller run (100k rows, ~37 parts) already
reaches the steady state; each size runs three times and the medians are
compared (thread scheduling moves a single run's peak by a part or two).
"""

import json
import os
import re
import resource
import shutil
import statistics
import subprocess

import pytest

from runner import SLUICE, run

SMALL, LARGE = 100_000, 1_000_000
REPEATS = 3
TOLERANCE = 1.10
TIME = "/usr/bin/time"


def export_peak_rss(src, out, stats):
    """(peak_rss_bytes from --stats-json, the kernel's maximum RSS of the process).

    sluice is started from a small process (/usr/bin/time, else a forking sh):
    Linux carries ru_maxrss over execve, so a child started straight from this
    Python process (vfork) would report Python's own RSS as its peak.
    """
    args = [SLUICE, "export", src, "--to", f"parts://{out}", "--part-size", "256KiB",
            "--stats-json", str(stats), "-q"]
    if os.access(TIME, os.X_OK):
        r = subprocess.run([TIME, "-v", *args], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        kernel = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
                     .group(1)) * 1024
    else:
        r = subprocess.run(["sh", "-c", '"$@"; exit $?', "sh", *args], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        kernel = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    st = json.loads(stats.read_text())
    shutil.rmtree(out)
    return st["peak_rss_bytes"], kernel


def median_peak(src, tmp_path):
    own, kernel = [], []
    for i in range(REPEATS):
        a, b = export_peak_rss(src, tmp_path / f"out{i}", tmp_path / f"stats{i}.json")
        own.append(a)
        kernel.append(b)
        # The run's own figure is the process's peak RSS as the kernel saw it.
        if os.access(TIME, os.X_OK):
            assert a == pytest.approx(b, rel=0.05), (a, b)
    return statistics.median(own), own, kernel


def check_bounded(small_src, large_src, tmp_path, capsys, label):
    m1, own1, k1 = median_peak(small_src, tmp_path)
    m10, own10, k10 = median_peak(large_src, tmp_path)
    with capsys.disabled():
        print(f"\n{label}: peak RSS {SMALL} rows {[x >> 10 for x in own1]} KiB "
              f"(kernel {[x >> 10 for x in k1]}), {LARGE} rows {[x >> 10 for x in own10]} KiB "
              f"(kernel {[x >> 10 for x in k10]}), ratio of medians {m10 / m1:.3f}")
    assert m10 <= TOLERANCE * m1, f"{label}: peak RSS {m10} at {LARGE} rows vs {m1} at {SMALL}"


def test_export_from_gen_memory_is_bounded(tmp_path, capsys):
    check_bounded(f"gen:///?rows={SMALL}&schema=mixed", f"gen:///?rows={LARGE}&schema=mixed",
                  tmp_path, capsys, "gen -> parts")


@pytest.fixture(scope="module")
def sqlite_sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("memory_sqlite")
    for n in (SMALL, LARGE):
        run("copy", f"gen:///?rows={n}&schema=mixed", f"sqlite://{d}/s{n}.db?table=t", "-q",
            check=True)
    return d


def test_export_from_sqlite_without_mmap_memory_is_bounded(sqlite_sources, tmp_path, capsys):
    d = sqlite_sources
    check_bounded(f"sqlite://{d}/s{SMALL}.db?table=t&mmap_size=0",
                  f"sqlite://{d}/s{LARGE}.db?table=t&mmap_size=0", tmp_path, capsys,
                  "sqlite (mmap_size=0) -> parts")


@pytest.mark.xfail(strict=True, reason=(
    "known: with the default mmap_size=256MiB every SQLite reader connection (Open's "
    "COUNT(*) pass plus each split) maps the file, and the touched file pages count in "
    "the process's RSS, so peak RSS grows with the database up to 256 MiB per connection "
    "(232 MB at 1M rows / 110 MB file, vs 35 MB at 100k). Anonymous memory stays bounded "
    "(see the mmap_size=0 test)."))
def test_export_from_sqlite_default_options_memory_is_bounded(sqlite_sources, tmp_path, capsys):
    d = sqlite_sources
    check_bounded(f"sqlite://{d}/s{SMALL}.db?table=t", f"sqlite://{d}/s{LARGE}.db?table=t",
                  tmp_path, capsys, "sqlite (default options) -> parts")
