"""The ``seedreg`` command (DESIGN §5, §6): list, show, db — in-process through CliRunner and,
for a few, as the real ``python -m seedreg`` subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from helpers import LIST_COLUMNS, invoke, seedreg_cli

import seedreg
from seedreg.db import schema

pytestmark = pytest.mark.usefixtures("backend")  # every test runs on SQLite and PostgreSQL

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
RUN_KEYS = {
    "id", "experiment", "seed", "seed_source", "status", "numpy_version", "python_version",
    "started_at", "ended_at", "params", "tags", "fingerprints", "rng_digest", "replay_of",
    "parent", "spawn_key",
}


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_user_error(result: Result, *fragments: str) -> str:
    """Exit 2, exactly one line on stderr starting with ``Error:``, nothing on stdout, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def record(experiment: str = "exp", seed=1, **kwargs) -> str:
    with seedreg.run(experiment, seed=seed, **kwargs) as run:
        run.log("draws", np.random.randint(0, 10, 4))
    return run.id


def query(path: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, args).fetchall()


# -- list ----------------------------------------------------------------------------------------


def test_list_prints_a_table_newest_first():
    first = record("alpha", 1)
    second = record("beta", [3, 4])
    result = invoke("list")
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == LIST_COLUMNS
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert len(lines) == 4
    assert lines[2].split()[:4] == [second[:12], "beta", "completed", "3,4"]
    assert lines[3].split()[:4] == [first[:12], "alpha", "completed", "1"]
    assert np.__version__ in lines[2].split()


def test_list_json_is_an_array_of_run_objects():
    big = 2**100 + 3
    data = np.arange(5)
    with seedreg.run("root", seed=big, params={"model": {"lr": 0.5}}, tags={"stage": "prep"}) as root:
        root.log("data", data)
        with seedreg.run("child", seed=root.spawn(1)[0], parent=root.id) as child:
            pass
    with seedreg.run("seq", seed=[7, 2**40]) as seq:
        pass
    result = invoke("list", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    runs = json.loads(result.stdout)
    assert isinstance(runs, list) and [r["id"] for r in runs] == [seq.id, child.id, root.id]
    by_id = {r["id"]: r for r in runs}
    for obj in runs:
        assert RUN_KEYS <= set(obj)
        assert obj["status"] == "completed"
        assert ISO_UTC.match(obj["started_at"]), obj["started_at"]
        assert ISO_UTC.match(obj["ended_at"]), obj["ended_at"]
        assert parse_iso(obj["ended_at"]) >= parse_iso(obj["started_at"])
        assert obj["numpy_version"] == np.__version__
        assert obj["python_version"] == ".".join(map(str, sys.version_info[:3]))
        assert obj["rng_digest"].startswith("blake3:")
        assert obj["replay_of"] is None
        assert obj["seed_source"] == "given"
    r = by_id[root.id]
    assert r["seed"] == str(big)  # a decimal string: 128 bits do not fit JSON numbers everywhere
    assert r["experiment"] == "root"
    assert r["params"] == {"model.lr": 0.5}
    assert r["tags"] == {"stage": "prep"}
    assert r["fingerprints"] == {"data": str(seedreg.fingerprint(data))}
    assert r["fingerprints"]["data"].startswith("blake3:")
    assert r["spawn_key"] == [] and r["parent"] is None
    c = by_id[child.id]
    assert c["seed"] == str(big) and c["spawn_key"] == [0] and c["parent"] == root.id
    assert c["fingerprints"] == {} and c["params"] == {}
    assert by_id[seq.id]["seed"] == ["7", str(2**40)]


def _strict_json(text: str):
    def refuse(token: str):
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_list_json_is_strict_json_with_nan_params():
    with seedreg.run("nan", seed=1, params={"loss": float("nan"), "best": float("inf")}):
        pass
    for args in (("list", "--json"), ("show", "--last", "--json")):
        data = _strict_json(invoke(*args).stdout)
        run = data[0] if isinstance(data, list) else data
        assert run["params"] == {"best": "Infinity", "loss": "NaN"}


def test_list_csv_has_a_header_and_one_row_per_run():
    ids = [record("e", seed) for seed in (1, 2)]
    seq = record("e", [5, 6])
    result = invoke("list", "--csv")
    assert result.exit_code == 0 and result.stderr == ""
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == LIST_COLUMNS
    assert [row[0] for row in rows[1:]] == [seq, ids[1], ids[0]]  # machine output: whole ids (issue 10)
    assert [row[3] for row in rows[1:]] == ["5,6", "2", "1"]
    assert all(row[2] == "completed" and row[7] == "1" for row in rows[1:])
    assert all(ISO_UTC.match(row[5]) for row in rows[1:])


def test_list_filters():
    a = record("alpha", 1)
    b = record("beta", 2)
    with pytest.raises(RuntimeError):
        with seedreg.run("alpha", seed=3) as failed:
            raise RuntimeError("x")

    def ids(*args: str) -> list[str]:
        result = invoke("list", "--json", *args)
        assert result.exit_code == 0, result.output
        return [r["id"] for r in json.loads(result.stdout)]

    assert ids() == [failed.id, b, a]
    assert ids("--experiment", "alpha") == [failed.id, a]
    assert ids("-e", "alpha", "-e", "beta") == [failed.id, b, a]
    assert ids("--experiment", "nothing") == []
    assert ids("--status", "failed") == [failed.id]
    assert ids("--status", "completed", "--experiment", "alpha") == [a]
    assert ids("--status", "completed", "--status", "failed") == [failed.id, b, a]
    # the note counts runs matching the filters, not all runs
    limited = invoke("list", "-e", "alpha", "-n", "1")
    assert "showing the newest 1 of 2 runs" in limited.stderr
    assert invoke("list", "-e", "beta", "-n", "1").stderr == ""


def test_list_limit_says_when_more_runs_exist():
    ids = [record("e", seed) for seed in range(3)]
    result = invoke("list", "--limit", "2")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.splitlines()[2:]] == [ids[2][:12], ids[1][:12]]
    assert result.stderr.strip() == "showing the newest 2 of 3 runs; --limit 0 shows all"
    assert "showing the newest 2 of 3 runs" in invoke("list", "-n", "2", "--json").stderr

    exact = invoke("list", "--limit", "3")
    assert exact.stderr == "" and len(exact.stdout.splitlines()) == 5
    everything = invoke("list", "--limit", "0", "--json")
    assert everything.stderr == "" and len(json.loads(everything.stdout)) == 3


def test_list_shows_20_by_default():
    for seed in range(21):
        with seedreg.run("many", seed=seed):
            pass
    result = invoke("list", "--json")
    assert len(json.loads(result.stdout)) == 20
    assert "showing the newest 20 of 21 runs" in result.stderr
    assert len(json.loads(invoke("list", "--json", "--limit", "0").stdout)) == 21


def test_list_of_an_empty_registry():
    seedreg.Registry().upgrade()
    table = invoke("list")
    assert table.exit_code == 0 and table.stdout == "" and table.stderr.strip() == "no runs match"
    as_json = invoke("list", "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == []


@pytest.mark.sqlite_only  # inspects or plants a SQLite file
def test_list_shows_a_crashed_run_without_writing(tmp_path: Path, registry_path: Path):
    code = (
        "import os, seedreg\n"
        "with seedreg.run('doomed', seed=1) as run:\n"
        "    print(run.id, flush=True)\n"
        "    seedreg.Registry().get(run.id)\n"  # its open is committed: this process reads its own registry
        "    os._exit(1)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    run_id = done.stdout.strip()
    result = invoke("list", "--json", "--status", "crashed")
    assert [r["id"] for r in json.loads(result.stdout)] == [run_id]
    assert json.loads(invoke("list", "--json", "--status", "running").stdout) == []
    assert query(registry_path, "SELECT status FROM runs") == [("running",)]


@pytest.mark.sqlite_only  # inspects or plants a SQLite file
def test_db_option_wins_over_seedreg_db(tmp_path: Path, registry_path: Path):
    other = tmp_path / "other.db"
    run_id = record(db=other)
    result = invoke("list", "--json", "--db", str(other))
    assert [r["id"] for r in json.loads(result.stdout)] == [run_id]
    assert invoke("show", run_id[:8], "--db", f"sqlite:///{other}").exit_code == 0
    assert_user_error(invoke("list"), "no registry at", str(registry_path))


# -- show ----------------------------------------------------------------------------------------


def test_show_by_id_prefix_and_last():
    first = record("first", 11, params={"lr": 0.1})
    last = record("second", 12)
    full = invoke("show", first)
    assert full.exit_code == 0 and full.stderr == ""
    text = full.stdout
    assert f"run         {first}" in text
    assert "experiment  first" in text
    assert "status      completed" in text
    assert "seed        11 (given)" in text
    assert "lr = 0.1" in text
    assert "draws" in text and "blake3:" in text
    assert invoke("show", first[:10]).stdout == text
    assert invoke("show", first.upper()).stdout == text
    newest = invoke("show", "--last")
    assert newest.exit_code == 0 and f"run         {last}" in newest.stdout


def test_show_json_is_one_run_object():
    data = np.linspace(0, 1, 7)
    with seedreg.run("shown", seed=[1, 2], tags={"who": {"team": "ml"}}) as run:
        run.log("data", data)
    result = invoke("show", "--last", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    obj = json.loads(result.stdout)
    assert isinstance(obj, dict)
    assert RUN_KEYS <= set(obj)
    assert obj["id"] == run.id
    assert obj["seed"] == ["1", "2"]
    assert obj["tags"] == {"who.team": "ml"}
    assert obj["fingerprints"] == {"data": str(seedreg.fingerprint(data))}
    assert ISO_UTC.match(obj["started_at"]) and ISO_UTC.match(obj["ended_at"])
    assert obj["environment"]["packages"]["numpy"] == np.__version__
    assert invoke("show", run.id[:6], "--json").stdout == result.stdout


def test_show_a_failed_run_includes_its_traceback():
    with pytest.raises(KeyError):
        with seedreg.run("broken", seed=1) as run:
            {}["missing"]
    result = invoke("show", run.id)
    assert "status      failed" in result.stdout
    assert "KeyError: 'missing'" in result.stdout


# -- db ------------------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # inspects or plants a SQLite file
def test_db_upgrade_then_current(registry_path: Path):
    created = invoke("db", "upgrade")
    assert created.exit_code == 0, created.output
    assert created.stdout.strip() == f"upgraded empty database -> {schema.HEAD} sqlite:///{registry_path}"
    assert query(registry_path, "SELECT version_num FROM alembic_version") == [(schema.HEAD,)]
    again = invoke("db", "upgrade")
    assert again.stdout.strip() == f"already at {schema.HEAD} (head) sqlite:///{registry_path}"
    current = invoke("db", "current")
    assert current.exit_code == 0
    assert current.stdout.strip() == f"{schema.HEAD} (head) sqlite:///{registry_path}"


@pytest.mark.sqlite_only  # inspects or plants a SQLite file
def test_db_current_of_an_empty_file(registry_path: Path):
    registry_path.touch()
    result = invoke("db", "current")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"- (empty) sqlite:///{registry_path}"


# -- user mistakes: exit 2, one line, no traceback -------------------------------------------------


@pytest.mark.sqlite_only  # inspects or plants a SQLite file
@pytest.mark.parametrize(
    "args",
    [("list",), ("list", "--json"), ("show", "abc"), ("show", "--last"), ("db", "current")],
    ids=" ".join,
)
def test_missing_registry_is_one_line_and_creates_nothing(args, registry_path: Path):
    assert_user_error(invoke(*args), "no registry at", str(registry_path), "SEEDREG_DB")
    assert not registry_path.exists()
    assert not list(registry_path.parent.glob("registry.db*"))


def test_unknown_run_and_bad_prefix():
    run_id = record()
    missing = next(c for c in "0123456789abcdef" if c != run_id[0])
    assert_user_error(invoke("show", missing * 6), "no run matches")
    assert_user_error(invoke("show", "not-hex"), "not a run id")


def test_ambiguous_prefix():
    seen: set[str] = set()
    while True:
        with seedreg.run("many", seed=len(seen)) as run:
            pass
        if run.id[0] in seen:
            break
        seen.add(run.id[0])
    assert_user_error(invoke("show", run.id[0]), "several runs")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("list", "--json", "--csv"), "--json and --csv"),
        (("show", "abc", "--last"), "--last"),
        (("show",), "--last"),
        (("show", "--last", "--db", "{other}"), "no runs"),
    ],
    ids=["json-and-csv", "run-and-last", "neither", "last-of-empty"],
)
def test_usage_mistakes(args, fragment, tmp_path: Path):
    record()
    other = tmp_path / "empty.db"
    seedreg.Registry(other).upgrade()
    assert_user_error(invoke(*[a.format(other=other) for a in args]), fragment)


@pytest.mark.sqlite_only  # inspects or plants a SQLite file
@pytest.mark.parametrize("args", [("list",), ("show", "--last"), ("db", "current"), ("db", "upgrade")], ids=" ".join)
def test_a_non_seedreg_database_is_refused(args, registry_path: Path):
    with sqlite3.connect(registry_path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    assert_user_error(invoke(*args), "not a seedreg registry")
    tables = {name for (name,) in query(registry_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"notes"}


@pytest.mark.sqlite_only  # inspects or plants a SQLite file
@pytest.mark.parametrize("args", [("list",), ("show", "--last"), ("db", "current"), ("db", "upgrade")],
                         ids=" ".join)
def test_a_file_that_is_not_a_database(args, registry_path: Path):
    registry_path.write_bytes(b"this is not an SQLite file " * 10)
    assert_user_error(invoke(*args), "not a database")
    assert registry_path.read_bytes() == b"this is not an SQLite file " * 10


@pytest.mark.sqlite_only  # inspects or plants a SQLite file
@pytest.mark.parametrize("args", [("list",), ("show", "--last"), ("db", "upgrade")], ids=" ".join)
def test_a_newer_schema_is_refused(args, registry_path: Path):
    record()
    with sqlite3.connect(registry_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff'")
    assert_user_error(invoke(*args), "newer seedreg")
    assert query(registry_path, "SELECT version_num FROM alembic_version") == [("ffff",)]


@pytest.mark.sqlite_only  # inspects or plants a SQLite file
def test_db_current_names_a_newer_schema(registry_path: Path):
    record()
    with sqlite3.connect(registry_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff'")
    result = invoke("db", "current")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"ffff (head is {schema.HEAD})")


# -- the real command ----------------------------------------------------------------------------


def test_python_dash_m_seedreg(registry_path: Path):
    run_id = record("real", 5)
    listed = seedreg_cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [run_id]
    shown = seedreg_cli("show", run_id[:8], "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["seed"] == "5"
    missing = seedreg_cli("show", "--last", env={"SEEDREG_DB": str(registry_path.parent / "none.db")})
    assert missing.returncode == 2
    (line,) = missing.stderr.splitlines()
    assert line.startswith(f"Error: no registry at {registry_path.parent / 'none.db'}") and "SEEDREG_DB" in line
    assert missing.stdout == ""
    assert not (registry_path.parent / "none.db").exists()


def test_python_dash_m_seedreg_version_and_help():
    version = seedreg_cli("--version")
    assert version.returncode == 0 and seedreg.__version__ in version.stdout
    helped = seedreg_cli("--help")
    assert helped.returncode == 0
    assert {"list", "show", "db"} <= set(re.findall(r"^  (\w+)", helped.stdout, re.M))


IMPORTS_SNIPPET = """\
import json, sys
from click.testing import CliRunner
from seedreg.cli import cli

result = CliRunner().invoke(cli, sys.argv[1:], catch_exceptions=False)
assert result.exit_code == 0, result.output
print(json.dumps(sorted(sys.modules)))
"""


@pytest.fixture(scope="module")
def list_modules(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every module imported by ``seedreg list`` over a registry with a run and its fingerprints."""
    path = tmp_path_factory.mktemp("imports") / "registry.db"
    with seedreg.run("plain", seed=1, db=path) as run:
        run.log("array", np.arange(100_000))
        run.log("value", {"a": 1})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDREG_")}
    done = subprocess.run([sys.executable, "-c", IMPORTS_SNIPPET, "list", "--db", str(path)],
                          capture_output=True, text=True, env=env, check=True)
    return set(json.loads(done.stdout))


@pytest.fixture(scope="module")
def list_imports(list_modules: set[str]) -> set[str]:
    """Top-level modules imported by ``seedreg list``."""
    return {name.split(".")[0] for name in list_modules}


def test_list_imports_no_other_commands_module(list_modules: set[str]):
    assert "seedreg.cli.runs" in list_modules  # list's own
    others = {f"seedreg.cli.{name}" for name in ("checks", "data", "schema", "seeds", "ui")}
    assert not others & list_modules


def test_list_does_not_import_alembic(list_imports: set[str]):
    assert "seedreg" in list_imports and "sqlalchemy" in list_imports  # it did run
    assert "alembic" not in list_imports


def test_list_does_not_import_numpy(list_imports: set[str]):
    assert "numpy" not in list_imports
