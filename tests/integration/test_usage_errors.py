"""Exit codes and messages for mistakes (src/cli/README.md):

2 = usage error (bad URI, unknown option/scheme/command, bad option value,
missing required option); 1 = runtime failure (missing file or table, bad
data). The message names the offending thing. Nothing is created on failure.
"""

import pytest

from runner import run


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    d = tmp_path_factory.mktemp("usage")
    run("copy", "gen:///?rows=10", f"sqlite://{d}/src.db?table=t", "-q", check=True)
    return d


USAGE = [
    # bad URIs
    (["copy", "not a uri", "{d}/out.csv"], "not a uri"),
    (["copy", "{d}/src.db", "file://{d}/o.csv"], "{d}/src.db"),
    (["copy", "sqlite://host{d}/src.db?table=t", "file://{d}/o.csv"], "three slashes"),
    (["copy", "gen:///?rows=5", "file://{d}/o.xyz"], "'.xyz'"),
    # unknown scheme / command / flag / endpoint option
    (["copy", "nosuchdb://h/db?table=t", "file://{d}/o.csv"], "unknown endpoint scheme 'nosuchdb'"),
    (["copy", "gen:///", "frobq://broker/topic"], "unknown endpoint scheme 'frobq'"),
    (["frobnicate", "gen:///"], "unknown command 'frobnicate'"),
    (["copy", "gen:///", "file://{d}/o.csv", "--frobnicate"], "'--frobnicate'"),
    (["export", "gen:///", "--to", "parts://{d}/p", "--bogus", "1"], "'--bogus'"),
    (["import", "parts://{d}/p", "--into", "parts://{d}/q", "--nope"], "'--nope'"),
    (["inspect", "{d}/x.part", "--rowz", "3"], "'--rowz'"),
    (["copy", "sqlite://{d}/src.db?table=t&colour=red", "file://{d}/o.csv"], "'colour'"),
    (["copy", "gen:///", "sqlite://{d}/o.db?table=t&mode=merge"], "'merge'"),
    (["copy", "gen:///", "file://{d}/o.csv?delimiter=ab"], "'delimiter'"),
    # bad flag values
    (["copy", "gen:///", "file://{d}/o.csv", "--part-size", "lots"], "'lots'"),
    (["copy", "gen:///", "file://{d}/o.csv", "--workers", "-3"], "--workers"),
    (["copy", "gen:///", "file://{d}/o.csv", "--compression", "gzip"], "--compression"),
    # missing arguments / required options
    (["copy", "sqlite://{d}/src.db", "file://{d}/o.csv"], "table=NAME or query="),
    (["copy", "gen:///", "sqlite://{d}/o.db"], "table"),
    (["import", "parts://{d}/p"], "--into"),
    (["export", "gen:///"], "--to"),
    (["export", "gen:///", "--to", "sqlite://{d}/o.db?table=t"], "part destination"),
]


@pytest.mark.parametrize("args, message", USAGE, ids=[" ".join(a[:2]) + f" #{i}"
                                                     for i, (a, _) in enumerate(USAGE)])
def test_usage_errors_exit_2_and_name_the_problem(db, args, message):
    d = db
    args = [a.format(d=d) for a in args]
    r = run(*args)
    assert r.returncode == 2, f"exit {r.returncode}: {r.stderr}"
    assert message.format(d=d) in r.stderr, r.stderr
    assert not (d / "o.csv").exists() and not (d / "o.db").exists()


RUNTIME = [
    (["copy", "sqlite://{d}/src.db?table=nosuch", "file://{d}/o.csv"], "nosuch"),
    (["copy", "sqlite://{d}/missing.db?table=t", "file://{d}/o.csv"], "{d}/missing.db"),
    (["copy", "file://{d}/missing.csv", "sqlite://{d}/o.db?table=t"], "{d}/missing.csv"),
    (["copy", "file://{d}/missing.tdtp.xml", "sqlite://{d}/o.db?table=t"], "missing.tdtp.xml"),
    (["copy", "file://{d}/missing.part", "file://{d}/o.csv"], "missing.part"),
    (["import", "parts://{d}/nodir", "--into", "sqlite://{d}/o.db?table=t"], "nodir"),
    (["export", "sqlite://{d}/src.db?table=nosuch", "--to", "parts://{d}/p"], "nosuch"),
    (["inspect", "{d}/missing.part"], "missing.part"),
    (["inspect", "sqlite://{d}/src.db?table=nosuch"], "nosuch"),
]


@pytest.mark.parametrize("args, message", RUNTIME, ids=[" ".join(a[:2]) + f" #{i}"
                                                       for i, (a, _) in enumerate(RUNTIME)])
def test_missing_inputs_exit_1_and_name_them(db, args, message):
    """A missing table or file is a runtime failure (README: exit 1), named in the message."""
    d = db
    args = [a.format(d=d) for a in args]
    r = run(*args)
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr}"
    assert message.format(d=d) in r.stderr, r.stderr
    assert not (d / "o.csv").exists()
    assert not (d / "p").exists() or not any((d / "p").iterdir())


def test_bad_data_exits_1_naming_file_line_and_column(tmp_path):
    (tmp_path / "bad.csv").write_text("id,n\n1,2\n2,x3\n")
    r = run("copy", f"file://{tmp_path}/bad.csv?schema=id:int64,n:int64",
            f"sqlite://{tmp_path}/o.db?table=t")
    assert r.returncode == 1, r.stderr
    assert "bad.csv" in r.stderr and "line 3" in r.stderr and "'n'" in r.stderr
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n{"id": 2,}\n')
    r = run("copy", f"file://{tmp_path}/bad.jsonl", f"file://{tmp_path}/o.csv")
    assert r.returncode == 1, r.stderr
    assert "bad.jsonl" in r.stderr and "line 2" in r.stderr
    assert not (tmp_path / "o.csv").exists()
