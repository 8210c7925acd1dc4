"""Behaviour that was once a known gap of the CLI (kept as regression tests).

TDTP export: streamed packets are finalized once the total is known, as the
TDTP framework's own streaming export does. Import: the summary's output type
is the destination.
"""

import json

import e2e
from runner import run


def test_tdtp_export_finalizes_packets_with_their_total(tmp_path):
    out = tmp_path / "tdtp"
    run("export", "gen:///?rows=20000", "--to", f"parts://{out}?format=tdtp&table=t",
        "--part-size", "256KiB", "-q", check=True)
    headers, _, rows = e2e.read_tdtp_dir(out)
    assert len(rows) == 20000 and len(headers) > 1
    total = len(headers)
    assert all(h.get("TotalParts") == str(total) for h in headers)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"t_part_{n}_of_{total}.tdtp.xml" for n in range(1, total + 1))


def test_import_stats_output_type_is_the_destination(tmp_path):
    run("export", "gen:///?rows=100", "--to", f"parts://{tmp_path}/p", "-q", check=True)
    r = run("import", f"parts://{tmp_path}/p", "--into", f"sqlite://{tmp_path}/o.db?table=t",
            "--stats-json", "-", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["output_type"] == "sqlite"
