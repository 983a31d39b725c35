"""What a first-time user hits (issue 10 §4), each through the real path: real scripts in real
subprocesses, the CLI in-process (CliRunner) and as ``python -m seedreg``, real registry files."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import click
import numpy as np
import pytest
import synthetic
from click.testing import Result
from helpers import invoke, run_python, seedreg_cli
from sqlalchemy import event, text

import seedreg
from seedreg.cli import cli
from seedreg.db import engines, schema
from seedreg.errors import RegistryError, UsageError
from seedreg.fingerprints import kept_arrays

PY = sys.executable


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def run_ids(output: str) -> list[str]:
    return [line.split()[1] for line in output.splitlines() if line.startswith("RUN ")]


def query(sql: str, **params) -> list[tuple]:
    """Rows of a query on the test's registry, whichever backend it is."""
    with engines.engine_for(engines.resolve_url()).connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql), params)]


def count_runs() -> int:
    return query("SELECT count(*) FROM runs")[0][0]


def assert_one_line_error(result: Result, *fragments: str) -> str:
    """Exit 2, one ``Error:`` line on stderr naming every fragment, nothing on stdout, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stdout == "" and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def real_command(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """``python -m seedreg ...`` with ``input`` piped to its stdin (not a terminal)."""
    return subprocess.run([PY, "-m", "seedreg", *args], input=input, capture_output=True, text=True, timeout=300,
                          stdin=None if input is not None else subprocess.DEVNULL)


# -- 1. code piped to `python -` has no command to re-execute ------------------------------------

PIPED = """
import numpy as np, seedreg
with seedreg.run("piped", seed=1) as run:
    run.log("x", np.random.rand(3))
print("RUN", run.id)
"""


def test_a_script_piped_to_python_dash_is_refused_like_python_c(backend, tmp_path):
    done = subprocess.run([PY, "-"], input=PIPED, cwd=tmp_path, capture_output=True, text=True, check=True)
    [run_id] = run_ids(done.stdout)
    recorded = seedreg.Registry().get(run_id)
    assert recorded.launch == "interactive" and recorded.from_stdin and not recorded.replayable
    before = count_runs()

    assert_one_line_error(invoke("replay", run_id, "--yes"), run_id[:12], "`python -`", "no command to re-execute")
    refused = real_command("replay", run_id, "--yes", input="print('PIPED INTO THE REPLAY')\n")
    assert refused.returncode == 2 and refused.stdout == ""
    assert len(refused.stderr.splitlines()) == 1 and "`python -`" in refused.stderr
    assert "PIPED INTO THE REPLAY" not in refused.stderr
    assert count_runs() == before


def test_a_stdin_run_recorded_as_a_script_by_an_older_seedreg_is_refused_too(backend, tmp_path):
    done = subprocess.run([PY, "-"], input=PIPED, cwd=tmp_path, capture_output=True, text=True, check=True)
    [run_id] = run_ids(done.stdout)
    with engines.write(engines.engine_for(engines.resolve_url())) as conn:  # what older seedreg recorded
        conn.execute(text("UPDATE runs SET launch = 'script', script_path = :path WHERE id = :id"),
                     {"path": str(tmp_path / "<stdin>"), "id": run_id})
    assert seedreg.Registry().get(run_id).launch == "script"
    assert not seedreg.Registry().get(run_id).replayable
    assert_one_line_error(invoke("replay", run_id, "--yes"), "`python -`")


def test_a_replayed_child_never_reads_seedregs_stdin(backend, tmp_path):
    script = write(tmp_path / "reads_stdin.py", """
        import sys
        import seedreg

        with seedreg.run("reads-stdin", seed=1) as run:
            run.log("stdin", sys.stdin.read())
        print("RUN", run.id)
    """)
    done = subprocess.run([PY, str(script)], stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True)
    [run_id] = run_ids(done.stdout)

    replayed = real_command("replay", run_id, "--yes", "--json", input="not for the replayed child\n")

    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["verdict"] == "identical"


# -- 2. --db before the subcommand -------------------------------------------------------------------


def listed_ids(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [run["id"] for run in json.loads(result.stdout)]


def test_db_before_the_subcommand_and_the_subcommands_own_wins(tmp_path, registry_path):
    other = tmp_path / "other.db"
    with seedreg.run("elsewhere", seed=1, db=other) as run:
        pass
    missing = tmp_path / "none.db"

    assert listed_ids(invoke("--db", str(other), "list", "--json")) == [run.id]
    assert invoke("--db", str(other), "show", run.id[:8]).exit_code == 0
    assert invoke("--db", f"sqlite:///{other}", "db", "current").stdout.startswith(f"{schema.HEAD} (head)")
    assert listed_ids(invoke("--db", str(missing), "list", "--json", "--db", str(other))) == [run.id]
    assert_one_line_error(invoke("--db", str(other), "list", "--db", str(missing)), "no registry at", str(missing))
    assert_one_line_error(invoke("list"), "no registry at", str(registry_path))  # $SEEDREG_DB when neither

    as_command = seedreg_cli("--db", str(other), "list", "--json")
    assert as_command.returncode == 0 and [r["id"] for r in json.loads(as_command.stdout)] == [run.id]
    assert re.search(r"^  --db PATH\|URL ", invoke("--help").stdout, re.M)


# -- 3. a registry path that is not a database ----------------------------------------------------


@pytest.fixture(params=["text file", "directory"])
def not_a_database(request, tmp_path) -> tuple[Path, str]:
    """A registry path that is a text file or a directory, and what the error must call it."""
    path = tmp_path / "notes.db"
    if request.param == "text file":
        path.write_text("these are notes, not a database\n" * 20)
        return path, "is not a database"
    path.mkdir()
    return path, "is a directory"


@pytest.mark.parametrize("args", [
    ("list",), ("list", "--csv"), ("show", "--last"), ("audit",), ("sql", "SELECT 1"), ("experiments",),
    ("export",), ("diff", "abc", "def"), ("replay", "--last", "--yes"), ("delete", "abc", "--reason", "x"),
    ("db", "current"), ("db", "upgrade"), ("sync",), ("import", "{empty}"),
], ids=" ".join)
def test_a_registry_that_is_not_a_database_is_one_line_naming_it(args, not_a_database, tmp_path):
    path, what = not_a_database
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    content = path.read_bytes() if path.is_file() else None

    result = invoke(*[arg.format(empty=empty) for arg in args], "--db", str(path))

    assert_one_line_error(result, "could not open the registry", str(path), what)
    assert (path.read_bytes() if path.is_file() else None) == content
    assert list(tmp_path.glob("notes.db-*")) == []  # no -wal / -shm beside it


def test_a_with_block_on_a_registry_that_is_not_a_database_could_not_open_it(not_a_database):
    path, what = not_a_database
    with pytest.raises(RegistryError) as caught:
        with seedreg.run("never", seed=1, db=path):
            pytest.fail("the block ran although the registry could not be opened")
    message = str(caught.value)
    assert message.startswith("could not open the registry") and str(path) in message and what in message
    assert "write failed" not in message
    with pytest.raises(RegistryError, match="could not open the registry"):
        seedreg.Registry(path).runs()


# -- 4. machine output never shortens an id --------------------------------------------------------

ORIGINAL, REPLAY = "a1" * 16, "b2" * 16


def import_lines(*lines: str) -> None:
    assert seedreg.Registry().import_(list(lines)).ok


def test_csv_and_json_print_whole_ids_tables_their_first_12_characters(backend):
    import_lines(synthetic.line(id=ORIGINAL, experiment="e"),
                 synthetic.line(id=REPLAY, experiment="e", replay_of=ORIGINAL, replay_session="5" * 32,
                                started=datetime(2026, 1, 2)))
    rows = list(csv.DictReader(io.StringIO(invoke("list", "--csv").stdout)))
    assert [(r["id"], r["replay_of"]) for r in rows] == [(REPLAY, ORIGINAL), (ORIGINAL, "")]
    assert [(r["id"], r["replay_of"]) for r in json.loads(invoke("list", "--json").stdout)] == [
        (REPLAY, ORIGINAL), (ORIGINAL, None)]
    table = invoke("list").stdout.splitlines()
    assert table[2].split()[0] == REPLAY[:12] and ORIGINAL[:12] in table[2].split() and ORIGINAL not in table[2]


# -- 5. tables a person reads --------------------------------------------------------------------


def test_list_table_shortens_long_seeds_and_shows_spawn_keys_params_and_replay_verdicts(backend):
    with seedreg.run("wide", seed=None, params={"lr": 0.1, "model": {"depth": 3}}) as root:
        with seedreg.run("wide", seed=root.spawn(2)[1], parent=root) as child:
            pass
    import_lines(
        synthetic.line(id=ORIGINAL, experiment="replayed", started=datetime(2020, 1, 1),
                       replays=[synthetic.verdict(ORIGINAL, None, "identical", created=datetime(2020, 2, 1)),
                                synthetic.verdict(ORIGINAL, None, "different", session="7" * 32,
                                                  created=datetime(2020, 3, 1))]),
        synthetic.line(id=REPLAY, experiment="never-replayed", started=datetime(2019, 1, 1)))
    seed = str(root.seed)
    assert len(seed) > 30  # 128 bits of OS entropy

    table = invoke("list")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["id", "experiment", "status", "seed", "numpy", "started", "duration", "outputs",
                                "replay_of", "replayed", "params"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert rows[root.id[:12]].split()[3] == seed[:10] + "…"
    assert rows[child.id[:12]].split()[3] == seed[:10] + "…/[1]"
    assert rows[root.id[:12]].endswith("lr=0.1 model.depth=3")
    assert rows[ORIGINAL[:12]].split()[-1] == "different"  # the newest verdict
    assert "identical" not in rows[ORIGINAL[:12]] and "different" not in rows[REPLAY[:12]]
    assert seed not in table.stdout and len(lines[1].split()[3]) == len(seed[:10] + "…/[1]")  # the seed column's rule

    by_id = {r["id"]: r for r in csv.DictReader(io.StringIO(invoke("list", "--csv").stdout))}
    assert by_id[root.id]["seed"] == by_id[child.id]["seed"] == seed  # whole, no spawn key
    assert json.loads(by_id[root.id]["params"]) == {"lr": 0.1, "model.depth": 3} and by_id[child.id]["params"] == ""
    assert (by_id[ORIGINAL]["replayed"], by_id[REPLAY]["replayed"]) == ("different", "")
    objects = {r["id"]: r for r in json.loads(invoke("list", "--json").stdout)}
    assert objects[ORIGINAL]["last_verdict"] == "different" and objects[REPLAY]["last_verdict"] is None


def test_list_reads_replay_verdicts_in_one_batch_not_per_run(backend):
    ids = [f"{i:032x}" for i in range(1, 31)]
    import_lines(*(synthetic.line(id=run_id, started=datetime(2026, 1, 1, 0, i),
                                  replays=[synthetic.verdict(run_id, None, "identical")])
                   for i, run_id in enumerate(ids)))
    registry = seedreg.Registry()
    engine = registry.engine()
    statements: list[str] = []

    def count(conn, cursor, statement, *_):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        few = registry.runs(limit=3)
        few_statements = len(statements)
        statements.clear()
        many = registry.runs(limit=30)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(few) == 3 and len(many) == 30 and {r.last_verdict for r in many} == {"identical"}
    assert len(statements) == few_statements


@pytest.fixture
def two_runs(backend) -> tuple[seedreg.Run, seedreg.Run]:
    """A run with a generated seed and one with seed 2: same experiment, tag and depth."""
    made = []
    for seed, lr in ((None, 0.1), (2, 0.2)):
        with seedreg.run("train", seed=seed, params={"lr": lr, "depth": 3}, tags={"stage": "prep"}) as run:
            run.log("noise", np.random.rand(1000))
            run.log("constant", np.arange(1000))
        made.append(run)
    return made[0], made[1]


def diff_fields(stdout: str) -> dict[str, bool]:
    """Field -> marked ✗, for the rows of a ``diff`` table."""
    return {re.split(r"\s{2,}", line.removeprefix("✗ ").strip())[0]: line.startswith("✗ ")
            for line in stdout.splitlines()[2:]}


def test_diff_shows_the_differing_rows_with_short_digests_and_all_rows_with_all(two_runs):
    a, b = two_runs
    default = invoke("diff", a.id, b.id)
    assert default.exit_code == 0, default.output
    shown = diff_fields(default.stdout)
    assert shown == dict.fromkeys(["seed", "seed source", "rng digest", "param lr", "output noise"], True)
    assert "identical row(s) not shown; --all" in default.stderr
    assert re.search(r"[0-9a-f]{64}", default.stdout) is None and str(a.seed) not in default.stdout
    assert str(a.seed)[:10] + "…" in default.stdout and f"blake3:{a.fingerprints['noise'].hexdigest[:12]}…" in default.stdout

    every = invoke("diff", a.id, b.id, "--all")
    fields = diff_fields(every.stdout)
    assert fields["experiment"] is False and fields["output constant"] is False and fields["param lr"] is True
    assert len(fields) > len(shown) and every.stderr == ""

    whole = json.loads(invoke("diff", a.id, b.id, "--json").stdout)
    assert whole["a"]["seed"] == str(a.seed) and whole["outputs"][0]["original"] == str(a.fingerprints["noise"])

    same = invoke("diff", a.id, a.id)
    assert same.exit_code == 0 and "no differences" in same.stdout and "✗" not in same.stdout


def test_diff_exit_code_like_git_diff(two_runs):
    a, b = two_runs
    assert invoke("diff", a.id, b.id).exit_code == 0
    assert invoke("diff", a.id, b.id, "--exit-code").exit_code == 1
    assert invoke("diff", a.id, a.id, "--exit-code").exit_code == 0
    assert invoke("diff", a.id, b.id, "--json", "--exit-code").exit_code == 1
    assert seedreg_cli("diff", a.id, b.id, "--exit-code").returncode == 1
    helped = invoke("diff", "--help").stdout
    assert "--exit-code" in helped and "--all" in helped and "Exit 0" in helped


# -- 6. small arrays kept by default, so a replay names the element -------------------------------

SMALL = """
    import numpy as np
    import seedreg

    with seedreg.run("small", seed=5) as run:
        x = np.random.rand(500)         # 4 KB: one chunk, kept by default
        big = np.random.rand(100_000)   # 800 KB: 64 KiB chunks, not kept unless keep=True
        # EDIT
        run.log("x", x)
        run.log("big", big)
    print("RUN", run.id)
"""


def record_edited(tmp_path: Path, edit: str) -> str:
    """Record SMALL, then edit the script so its replay differs; the original run's id."""
    script = write(tmp_path / "small.py", SMALL)
    [run_id] = run_ids(run_python(script).stdout)
    script.write_text(script.read_text().replace("# EDIT", edit))
    return run_id


def test_a_differing_small_array_names_the_element_and_both_values(backend, tmp_path):
    original = record_edited(tmp_path, "x[123] = 0.5; big[70_000] = 0.25")
    legacy = np.random.RandomState(5)
    x = legacy.rand(500)

    result = invoke("replay", original, "--yes", "--json")

    assert result.exit_code == 1, result.output
    [block] = json.loads(result.stdout)["blocks"]
    out = {o["name"]: o for o in block["outputs"]}
    assert out["x"]["where"] == {"kind": "element", "chunk": 0, "elements": [0, 500], "start_index": [0],
                                 "element": 123, "index": [123], "original_value": repr(float(x[123])),
                                 "replay_value": "0.5", "differing_elements": 1}
    assert out["big"]["where"]["kind"] == "chunk" and "element" not in out["big"]["where"]

    report = seedreg_cli("replay", original, "--yes")
    assert report.returncode == 1, report.stderr
    lines = {line.split()[1]: line for line in report.stdout.splitlines() if line.strip()[:1] in ("✓", "✗")}
    assert f"first differing element 123 at index (123,): {float(x[123])!r} -> 0.5" in lines["x"]
    assert "first differing chunk" in lines["big"] and "keep=True" in lines["big"]


def kept_names(run_id: str) -> set[str]:
    return {name for (name, kept) in query("SELECT name, kept FROM fingerprints WHERE run_id = :id", id=run_id) if kept}


def test_what_run_log_keeps(backend, monkeypatch):
    url = engines.resolve_url()
    with seedreg.run("keep", seed=1) as run:
        logged = {
            "at_64_kib": run.log("at_64_kib", np.arange(8192, dtype=np.float64)),
            "booleans": run.log("booleans", np.ones(10, dtype=bool)),
            "scalar": run.log("scalar", np.float32(2.5)),
            "above_64_kib": run.log("above_64_kib", np.arange(8193, dtype=np.float64)),
            "strings": run.log("strings", np.array(["a", "b"])),
            "objects": run.log("objects", np.array(["a", None], dtype=object)),
            "opted_out": run.log("opted_out", np.arange(3.0) + 7, keep=False),
            "forced": run.log("forced", np.arange(100_000.0), keep=True),
            "a_list": run.log("a_list", [1, 2]),
        }
        with pytest.raises(UsageError, match="never kept"):
            run.log("strings_forced", np.array(["a", "c"]), keep=True)
    kept = {"at_64_kib", "booleans", "scalar", "forced"}
    assert kept_names(run.id) == kept
    for name, fp in logged.items():
        if fp.kind == "ndarray":
            assert kept_arrays.path_for(url, fp.hexdigest).exists() == (name in kept), name
    assert np.array_equal(kept_arrays.load(url, logged["at_64_kib"].hexdigest), np.arange(8192, dtype=np.float64))

    monkeypatch.setenv("SEEDREG_KEEP_SMALL", "0")
    with seedreg.run("keep", seed=2) as off:
        small = off.log("small", np.arange(5.0) - 1)
        off.log("forced", np.arange(5.0) - 2, keep=True)
    assert kept_names(off.id) == {"forced"} and not kept_arrays.path_for(url, small.hexdigest).exists()


def test_a_server_registry_without_a_store_keeps_nothing_by_default(backend, monkeypatch):
    if backend != "postgres":
        pytest.skip("a server registry: SQLite has its default store beside the file")
    monkeypatch.delenv("SEEDREG_STORE")
    with seedreg.run("no-store", seed=1) as run:
        run.log("small", np.arange(10.0))  # no store, no error
        with pytest.raises(UsageError, match="SEEDREG_STORE"):
            run.log("forced", np.arange(10.0) + 1, keep=True)
    assert run.status == "completed" and kept_names(run.id) == set()


def test_a_kept_file_that_does_not_match_its_digest_is_refused_never_compared(backend, tmp_path):
    original = record_edited(tmp_path, "x[123] = 0.5")
    url = engines.resolve_url()
    digest = seedreg.Registry().get(original).fingerprints["x"].hexdigest
    planted = kept_arrays.path_for(url, digest)
    planted.unlink()
    np.save(planted, np.random.RandomState(5).rand(500) + 1.0)  # another array under the original's name
    with pytest.raises(kept_arrays.KeptArrayError, match="does not match its digest"):
        kept_arrays.load(url, digest)

    result = invoke("replay", original, "--yes", "--json")

    assert result.exit_code == 1, result.output
    where = {o["name"]: o for o in json.loads(result.stdout)["blocks"][0]["outputs"]}["x"]["where"]
    assert where["kind"] == "chunk" and "element" not in where
    assert str(planted) in where["refused"] and "does not match its digest" in where["refused"]
    assert "does not match its digest" in invoke("replay", original, "--yes").stdout


# -- 7. status words agree -----------------------------------------------------------------------

# Its open is committed (this process reads its own registry), then the process dies inside its block.
CRASH = ("import os, seedreg\nwith seedreg.run('exp', seed=9) as run:\n    print('RUN', run.id, flush=True)\n"
         "    seedreg.Registry().get(run.id)\n    os._exit(1)\n")


def crash(tmp_path: Path) -> str:
    done = subprocess.run([PY, "-c", CRASH], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    [run_id] = run_ids(done.stdout)
    return run_id


def test_a_dead_run_is_crashed_in_audit_as_in_list(backend, tmp_path):
    run_id = crash(tmp_path)
    assert [r["status"] for r in json.loads(invoke("list", "--json").stdout)] == ["crashed"]

    text_report = invoke("audit")
    assert text_report.exit_code == 0, text_report.output
    assert f"{run_id} is crashed" in text_report.stdout and "is running" not in text_report.stdout
    assert json.loads(invoke("audit", "--json").stdout)["open_runs"] == [{"id": run_id, "status": "crashed"}]
    assert query("SELECT status FROM runs") == [("running",)]  # reading wrote nothing


def test_experiments_counts_interrupted_and_crashed_runs(backend, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with seedreg.run("exp", seed=1):
            raise KeyboardInterrupt
    with seedreg.run("exp", seed=2):
        pass
    crash(tmp_path)  # after this process's recorder opened: nothing persists the crash

    [summary] = json.loads(invoke("experiments", "--json").stdout)
    assert {k: summary[k] for k in ("runs", "completed", "failed", "interrupted", "crashed")} == {
        "runs": 3, "completed": 1, "failed": 0, "interrupted": 1, "crashed": 1}
    rows = list(csv.DictReader(io.StringIO(invoke("experiments", "--csv").stdout)))
    assert (rows[0]["interrupted"], rows[0]["crashed"]) == ("1", "1")
    header = invoke("experiments").stdout.splitlines()[0].split()
    assert header[:6] == ["experiment", "runs", "completed", "failed", "interrupted", "crashed"]


# -- 8. help and the prompt ----------------------------------------------------------------------


@pytest.mark.parametrize("group", [(), ("db",)], ids=["seedreg", "seedreg db"])
def test_help_describes_every_command_in_a_whole_sentence_at_80_columns(group):
    done = seedreg_cli(*group, "--help", env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    section = done.stdout.split("Commands:\n", 1)[1].splitlines()
    found: dict[str, str] = {}
    for line in section:
        assert len(line) <= 80, line
        match = re.fullmatch(r"  (\S+) +(\S.*)", line)
        if match:
            name = match[1]
            found[name] = match[2]
        else:  # a long description wraps onto lines of its own, whole
            found[name] += " " + line.strip()
    command = cli.get_command(click.Context(cli), "db") if group else cli
    assert isinstance(command, click.Group)
    assert set(found) == set(command.list_commands(click.Context(command)))
    for name, description in found.items():
        assert description.endswith(".") and not description.endswith("..."), (name, description)


def test_a_piped_answer_ends_the_prompt_line_before_the_child_writes(backend, tmp_path):
    script = write(tmp_path / "prints.py", """
        import seedreg

        with seedreg.run("prints", seed=1) as run:
            pass
        print("RUN", run.id)
    """)
    [run_id] = run_ids(run_python(script).stdout)

    done = real_command("replay", run_id, input="y\n")

    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    [prompt] = [line for line in lines if "Run it?" in line]
    assert prompt.rstrip().endswith("[y/N]:"), prompt
    assert any(line.startswith("RUN ") for line in lines), done.stderr


def test_a_new_process_imports_the_block_machinery_without_a_full_collection_and_leaves_the_collector_on(tmp_path):
    """On an existing registry, the first block's imports and its engine pause the cyclic collector (a
    full pass over NumPy's and SQLAlchemy's objects was ~25 ms); after the block the collector is on,
    and one the user turned off stays off."""
    script = tmp_path / "first.py"
    script.write_text(textwrap.dedent(f"""
        import gc, sys
        import numpy as np, sqlalchemy
        off = sys.argv[1] == "off"
        if off:
            gc.disable()
        full = gc.get_stats()[2]["collections"]
        import seedreg
        with seedreg.run("first", seed=1, db={str(tmp_path / "r.db")!r}) as run:
            run.log("x", np.arange(10))
        print(gc.get_stats()[2]["collections"] - full, gc.isenabled())
    """))
    subprocess.run([PY, str(script), "on"], check=True)  # creates the registry (Alembic's imports: not this case)
    for given, enabled in (("on", "True"), ("off", "False")):
        done = subprocess.run([PY, str(script), given], capture_output=True, text=True, check=True)
        assert done.stdout.split() == ["0", enabled], done.stderr


def test_a_scripts_first_block_imports_neither_the_notebook_modules_nor_the_run_record(tmp_path):
    """Outside a Jupyter kernel a block needs no notebook code, and it reads no runs: building the run
    record's dataclass was the costliest of its imports."""
    code = textwrap.dedent(f"""
        import sys
        import numpy as np, seedreg
        with seedreg.run("first", seed=1, db={str(tmp_path / "r.db")!r}) as run:
            run.log("x", np.arange(10))
        print(sorted(m for m in ("seedreg.notebook.kernel", "seedreg.notebook.cells", "seedreg.records")
                     if m in sys.modules))
    """)
    for _ in range(2):  # a new registry, then an existing one
        done = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
        assert done.stdout.split() == ["[]"], done.stderr
    assert seedreg.Registry(tmp_path / "r.db").runs()[0].notebook is None
