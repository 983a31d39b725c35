"""``seedreg replay`` (DESIGN §4): real scripts recorded as real subprocesses, replayed through
the CLI (in-process with CliRunner, and as ``python -m seedreg`` for the key paths), compared
block by block against what the original recorded in a real SQLite file."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from helpers import backend_url, invoke, run_python, seedreg_cli

import seedreg
from seedreg.db import engines
from seedreg.replay.compare import compare_block

pytestmark = pytest.mark.usefixtures("backend")  # every test runs on SQLite and PostgreSQL

PY = sys.executable
#: Elements per chunk of a float64 array between 64 KiB and 4 MiB: 64 KiB chunks (DESIGN §2).
CHUNK_F8 = 64 * 1024 // 8


# -- helpers -------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, (old, text)
    path.write_text(text.replace(old, new))


def ids(output: str, tag: str = "RUN") -> list[str]:
    """The run ids a script printed as ``RUN <id>`` lines."""
    return [line.split()[1] for line in output.splitlines() if line.startswith(tag + " ")]


def record(script: Path, *args: str, env: dict | None = None, cwd: Path | None = None) -> list[str]:
    found = ids(run_python(script, *args, env=env, cwd=cwd).stdout)
    assert found, "the script printed no run id"
    return found


def replay_json(run_id: str, *extra: str) -> tuple[Result, dict]:
    result = invoke("replay", run_id, "--yes", "--json", *extra)
    return result, json.loads(result.stdout)


@pytest.fixture
def db(backend: str) -> str:
    """The URL of this test's registry: the SQLite file, or the PostgreSQL database ``backend`` made."""
    return backend_url(backend)


def query(db: str, sql: str, *args) -> list[tuple]:
    """Rows of a query on the registry at URL ``db``, whichever backend it is (``?`` placeholders)."""
    from sqlalchemy import text

    parts = sql.split("?")
    named = "".join(part + (f":p{i}" if i < len(parts) - 1 else "") for i, part in enumerate(parts))
    with engines.engine_for(db).connect() as conn:
        return [tuple(row) for row in conn.execute(text(named), {f"p{i}": a for i, a in enumerate(args)})]


def count_runs(db: str) -> int:
    return query(db, "SELECT count(*) FROM runs")[0][0]


def block_for(data: dict, original: str) -> dict:
    [block] = [b for b in data["blocks"] if b["original"] == original]
    return block


def outputs(block: dict) -> dict[str, dict]:
    return {o["name"]: o for o in block["outputs"]}


def assert_refused(result: Result, *fragments: str) -> str:
    """Exit 2 with one ``Error:`` line naming the reason; nothing on stdout, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == errors[0]
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def assert_report_shape(data: dict) -> None:
    """The keys of ``replay --json`` (DESIGN §4/§5) for an identical one-block replay."""
    assert set(data) == {"run", "root", "session", "command", "cwd", "returncode", "verdict", "notes", "blocks"}
    assert isinstance(data["command"], list) and isinstance(data["notes"], list)
    [block] = data["blocks"]
    assert set(block) == {"original", "replay", "experiment", "verdict", "outputs", "rng_digest", "status",
                          "environment", "params", "notes"}
    assert block["experiment"] == "seeded"
    for out in block["outputs"]:
        assert set(out) == {"name", "state", "original", "replay"}  # "where" only when different
        assert out["original"].startswith("blake3:") and out["original"] == out["replay"]
    assert set(block["rng_digest"]) == {"identical", "original", "replay"}
    assert set(block["status"]) == {"identical", "original", "replay"}
    assert block["status"]["original"] == block["status"]["replay"] == "completed"
    assert isinstance(block["environment"], list) and isinstance(block["notes"], list)


SEEDED = """
    import random
    import numpy as np
    import seedreg

    with seedreg.run("seeded", seed=SEED, params={"n": 1000}, tags={"stage": "prep"}) as run:
        run.log("legacy", np.random.permutation(1000))
        run.log("gen", run.rng.normal(size=50))
        run.log("py", [random.random() for _ in range(5)])
    print("RUN", run.id)
"""


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Path, str]:
    """A script recorded once with seed 101: (script, run id)."""
    script = write(tmp_path / "seeded.py", SEEDED.replace("SEED", "101"))
    [run_id] = record(script)
    return script, run_id


# -- identical replays ---------------------------------------------------------------------


def test_identical_replay_of_a_seeded_script_records_a_new_run(seeded, db):
    script, original = seeded
    before = count_runs(db)

    result, data = replay_json(original)

    assert result.exit_code == 0, result.output
    assert_report_shape(data)
    assert data["verdict"] == "identical"
    assert data["run"] == data["root"] == original
    assert data["returncode"] == 0
    assert data["command"] == [PY, str(script)]
    assert data["cwd"] == str(script.parent)
    [block] = data["blocks"]
    assert block["original"] == original and block["verdict"] == "identical"
    assert {o["name"]: o["state"] for o in block["outputs"]} == {
        "legacy": "identical", "gen": "identical", "py": "identical"}
    assert block["rng_digest"]["identical"] and block["status"]["identical"]
    assert block["environment"] == []  # nothing changed: same interpreter, same script

    assert count_runs(db) == before + 1
    registry = seedreg.Registry()
    first, again = registry.get(original), registry.get(block["replay"])
    assert again.replay_of == original and again.replay_session == data["session"]
    assert again.seed_source == "replay" and again.seed == 101 and first.seed_source == "given"
    assert again.params == first.params and again.tags == first.tags
    assert again.fingerprints == first.fingerprints and again.rng_digest == first.rng_digest
    assert again.status == "completed"

    # a replay's id stands for its original
    result, data = replay_json(block["replay"][:10])
    assert result.exit_code == 0
    assert data["run"] == original and data["blocks"][0]["original"] == original
    assert data["blocks"][0]["replay"] not in (block["replay"], original)


def test_replay_as_a_real_command_keeps_stdout_for_the_report(seeded, registry_path):
    """``python -m seedreg replay --json``: the script's own prints go to stderr, stdout is JSON."""
    _, original = seeded

    done = seedreg_cli("replay", original[:8], "--yes", "--json")

    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["verdict"] == "identical" and data["run"] == original
    assert f"RUN {data['blocks'][0]['replay']}" in done.stderr


def test_unseeded_run_replays_with_its_generated_seed(tmp_path):
    script = write(tmp_path / "unseeded.py", SEEDED.replace("SEED", "None"))
    [original] = record(script)
    first = seedreg.Registry().get(original)
    assert first.seed_source == "generated" and first.seed >= 2**32  # 128 bits of OS entropy

    result, data = replay_json(original)

    assert result.exit_code == 0, result.output
    assert data["verdict"] == "identical"
    again = seedreg.Registry().get(data["blocks"][0]["replay"])
    assert again.seed == first.seed and again.seed_source == "replay"


def test_kth_root_block_takes_the_kth_original_seed_whatever_the_code_passes(tmp_path):
    script = write(tmp_path / "blocks.py", """
        import numpy as np
        import seedreg

        SEEDS = [11, 22, 33]
        for k, seed in enumerate(SEEDS):
            with seedreg.run(f"block{k}", seed=seed) as run:
                run.log("x", np.random.randint(0, 2**31, size=20))
                run.log("g", run.rng.random(4))
            print("RUN", run.id)
    """)
    originals = record(script)
    edit(script, "SEEDS = [11, 22, 33]", "SEEDS = [7, 8, None]")

    result, data = replay_json(originals[0])

    assert result.exit_code == 0, result.output
    assert [b["original"] for b in data["blocks"]] == originals
    assert [b["verdict"] for b in data["blocks"]] == ["identical"] * 3
    registry = seedreg.Registry()
    replays = [registry.get(b["replay"]) for b in data["blocks"]]
    assert [r.seed for r in replays] == [11, 22, 33]
    assert [r.experiment for r in replays] == ["block0", "block1", "block2"]
    assert [r.block_index for r in replays] == [0, 1, 2]
    # the edited script is an environment change, reported but never a difference
    for block in data["blocks"]:
        assert [c["field"] for c in block["environment"]] == ["script_digest"]


def test_module_run_replays_as_python_m_in_its_recorded_cwd(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "__init__.py").write_text("")
    write(project / "pkg" / "mod.py", """
        import numpy as np
        import seedreg

        with seedreg.run("module", seed=5) as run:
            run.log("x", np.random.rand(10))
        print("RUN", run.id)
    """)
    done = subprocess.run([PY, "-m", "pkg.mod"], cwd=project, capture_output=True, text=True, check=True)
    [original] = ids(done.stdout)
    first = seedreg.Registry().get(original)
    assert first.launch == "module" and first.command == [PY, "-m", "pkg.mod"]
    assert first.cwd == str(project)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # `python -m pkg.mod` only works from the recorded cwd
    result, data = replay_json(original)

    assert result.exit_code == 0, result.output
    assert data["cwd"] == str(project) and data["command"] == [PY, "-m", "pkg.mod"]
    assert data["verdict"] == "identical"


WORKERS = """
    import multiprocessing
    import sys
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np
    import seedreg


    def work(parent, child):
        with seedreg.run("worker", seed=child, parent=parent) as w:
            w.log("x", w.rng.normal(size=64))
            w.log("legacy", np.random.rand(8))
        return w.id


    if __name__ == "__main__":
        method = sys.argv[1]
        with seedreg.run("root", seed=2024) as run:
            children = run.spawn(4)
            for child in children[:2]:
                with seedreg.run("inproc", seed=child, parent=run.id) as c:
                    c.log("x", c.rng.normal(size=64))
            with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context(method)) as pool:
                workers = list(pool.map(work, [run.id, run.id], children[2:]))
            run.log("root", np.random.rand(16))
        print("RUN", run.id)
        for worker in workers:
            print("WORKER", worker)
"""


@pytest.mark.parametrize(("method", "asked"), [("fork", "root"), ("spawn", "worker")])
@pytest.mark.slow  # worker processes, then replays
def test_spawned_children_in_process_and_in_workers_replay_identically(tmp_path, method, asked):
    """Children in the root's process and in worker processes (forked or spawned) take their
    original's seed; replaying a worker's run replays its root's command, that worker first."""
    script = write(tmp_path / "workers.py", WORKERS)
    done = run_python(script, method)
    [root] = ids(done.stdout)
    worker = ids(done.stdout, "WORKER")[-1]
    registry = seedreg.Registry()
    children = registry.runs(experiment=["inproc", "worker"], limit=None)
    assert sorted(c.spawn_key for c in children) == [(0,), (1,), (2,), (3,)]
    assert all(c.parent == root for c in children)
    assert {c.pid for c in children if c.experiment == "worker"}.isdisjoint({registry.get(root).pid})
    wanted = root if asked == "root" else worker

    result, data = replay_json(wanted[:10])

    assert result.exit_code == 0, result.output
    assert data["run"] == wanted and data["root"] == root
    assert data["command"] == [PY, str(script), method]  # the root's argv, never a worker's
    assert data["blocks"][0]["original"] == wanted
    assert data["verdict"] == "identical"
    assert len(data["blocks"]) == 5
    assert {b["original"] for b in data["blocks"]} == {root} | {c.id for c in children}
    assert all(b["verdict"] == "identical" for b in data["blocks"])
    replay_root = block_for(data, root)["replay"]
    for child in children:
        again = registry.get(block_for(data, child.id)["replay"])
        assert again.parent == replay_root and again.replay_of == child.id
        assert again.spawn_key == child.spawn_key and again.seed == child.seed == 2024
        assert again.seed_source == "replay"
        assert again.fingerprints == child.fingerprints


# -- differences -----------------------------------------------------------------------------

CHANGED = """
    import numpy as np
    import seedreg

    with seedreg.run("changed", seed=77) as run:
        a = np.random.rand(600, 500)   # 2.4 MB of float64: ~37 chunks of 64 KiB
        k = np.random.rand(40, 100)
        s = np.arange(10)
        # EDIT
        run.log("a", a)
        run.log("k", k, keep=True)
        run.log("s", s)
        run.log("g", run.rng.integers(0, 100, size=30))
    print("RUN", run.id)
"""


def test_changed_script_names_the_output_and_where_it_diverged(tmp_path):
    script = write(tmp_path / "changed.py", CHANGED)
    [original] = record(script)
    edit(script, "# EDIT", "a[300, 7] += 1.0; k[3, 7] = 0.5; k[10, 0] = 0.25; s = np.arange(11)")

    result, data = replay_json(original)

    assert result.exit_code == 1, result.output
    assert data["verdict"] == "different" and data["returncode"] == 0
    [block] = data["blocks"]
    assert block["verdict"] == "different"
    out = outputs(block)
    assert {name: o["state"] for name, o in out.items()} == {
        "a": "different", "k": "different", "s": "different", "g": "identical"}
    assert block["rng_digest"]["identical"] and block["status"]["identical"]

    flat = 300 * 500 + 7
    chunk = flat // CHUNK_F8
    start, stop = chunk * CHUNK_F8, (chunk + 1) * CHUNK_F8
    assert out["a"]["where"] == {
        "kind": "chunk", "chunk": chunk, "elements": [start, stop], "start_index": [start // 500, start % 500]}
    assert start <= flat < stop and chunk > 0

    legacy = np.random.RandomState(77)
    legacy.rand(600, 500)
    k = legacy.rand(40, 100)
    assert out["k"]["where"] == {
        "kind": "element", "chunk": 0, "elements": [0, 4000], "start_index": [0, 0],  # one 32 KB chunk
        "element": 3 * 100 + 7, "index": [3, 7],
        "original_value": repr(float(k[3, 7])), "replay_value": "0.5",
        "differing_elements": 2,
    }
    assert out["s"]["where"]["kind"] == "shape" and out["s"]["where"]["reason"] == "dtype or shape differs"
    assert out["s"]["where"]["original"]["shape"] == [10] and out["s"]["where"]["replay"]["shape"] == [11]
    assert "where" not in out["g"]

    text = seedreg_cli("replay", original, "--yes")
    assert text.returncode == 1, text.stderr
    lines = {line.split()[1]: line for line in text.stdout.splitlines() if line.strip()[:1] in ("✓", "✗")}
    assert lines["a"].lstrip().startswith("✗") and f"first differing chunk {chunk}" in lines["a"]
    assert f"[{start}, {stop})" in lines["a"]
    assert "first differing element 307 at index (3, 7)" in lines["k"] and "(2 differ)" in lines["k"]
    assert lines["g"].lstrip().startswith("✓")
    assert "verdict: different" in text.stdout


def test_replay_that_raises_where_the_original_completed_differs(tmp_path):
    script = write(tmp_path / "raises.py", """
        import numpy as np
        import seedreg

        with seedreg.run("raises", seed=3) as run:
            run.log("x", np.random.rand(5))
            # EDIT
        print("RUN", run.id)
    """)
    [original] = record(script)
    edit(script, "# EDIT", 'raise RuntimeError("boom")')

    result, data = replay_json(original)

    assert result.exit_code == 1, result.output
    assert data["returncode"] != 0
    [block] = data["blocks"]
    assert block["verdict"] == "different"
    assert block["status"] == {"identical": False, "original": "completed", "replay": "failed"}
    assert outputs(block)["x"]["state"] == "identical"
    assert "RuntimeError: boom" in result.stderr  # the replayed process's output is relayed
    assert "boom" in seedreg.Registry().get(block["replay"]).error


@pytest.mark.parametrize(("recorded", "replayed", "verdicts"), [
    (2, 3, ["identical", "identical", "extra"]),
    (2, 1, ["identical", "missing"]),
])
@pytest.mark.slow  # a long subprocess suite (a replay per case)
def test_a_block_added_or_removed_is_a_difference(tmp_path, recorded, replayed, verdicts):
    script = write(tmp_path / "loop.py", f"""
        import numpy as np
        import seedreg

        N = {recorded}
        for k in range(N):
            with seedreg.run("loop", seed=k) as run:
                run.log("x", np.random.rand(4))
            print("RUN", run.id)
    """)
    originals = record(script)
    edit(script, f"N = {recorded}", f"N = {replayed}")

    result, data = replay_json(originals[0])

    assert result.exit_code == 1, result.output
    assert data["verdict"] == "different"
    assert [b["verdict"] for b in data["blocks"]] == verdicts
    odd = data["blocks"][-1]
    if odd["verdict"] == "missing":
        assert odd["original"] == originals[-1] and odd["replay"] is None
    else:
        assert odd["original"] is None and odd["replay"] is not None
    if odd["verdict"] == "extra":
        # the extra block belongs to the replay: never taken for a new original run (--last)
        registry = seedreg.Registry()
        assert registry.last().id == originals[-1]
        assert odd["replay"] in {r.id for r in registry.runs(replays=True)}
        assert odd["replay"] not in {r.id for r in registry.runs(replays=False)}
        text = invoke("replay", "--last", "--yes")
        assert text.exit_code == 1 and "EXTRA" in text.stdout


def test_one_more_unlogged_draw_changes_the_rng_digest(tmp_path):
    """Block k draws one more number from legacy np.random, run.rng or random: never logged."""
    script = write(tmp_path / "rng.py", """
        import random
        import numpy as np
        import seedreg

        for k in range(4):
            with seedreg.run(f"rng{k}", seed=9) as run:
                run.log("x", np.random.rand(5))
                run.log("y", run.rng.random(5))
                run.log("z", random.random())
                pass  # EDIT
            print("RUN", run.id)
    """)
    originals = record(script)
    edit(script, "pass  # EDIT", "[np.random.rand, run.rng.random, random.random, lambda: 0][k]()")

    result, data = replay_json(originals[0])

    assert result.exit_code == 1, result.output
    assert [b["original"] for b in data["blocks"]] == originals
    for block in data["blocks"]:
        assert all(o["state"] == "identical" for o in block["outputs"])
        assert block["status"]["identical"]
    assert [b["rng_digest"]["identical"] for b in data["blocks"]] == [False, False, False, True]
    assert [b["verdict"] for b in data["blocks"]] == ["different"] * 3 + ["identical"]
    assert data["blocks"][0]["rng_digest"]["original"] != data["blocks"][0]["rng_digest"]["replay"]


# -- environment changes are reported, never a difference ------------------------------------


def test_environment_change_is_reported_but_not_a_difference(tmp_path):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    script = write(tmp_path / "seeded.py", SEEDED.replace("SEED", "101"))
    subprocess.run([*git, "add", "seeded.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    [original] = record(script)
    first = seedreg.Registry().get(original)
    assert first.git_commit and first.git_dirty is False

    edit(script, "import random", "import random  # a comment: same code, another digest")
    subprocess.run([*git, "commit", "-q", "-am", "two"], check=True)
    result, data = replay_json(original)

    assert result.exit_code == 0, result.output
    [block] = data["blocks"]
    assert block["verdict"] == "identical"
    changed = {c["field"]: c for c in block["environment"]}
    assert set(changed) == {"script_digest", "git_commit"}
    assert changed["git_commit"]["original"] == first.git_commit
    assert changed["script_digest"]["original"] == first.script_digest


def test_recorded_interpreter_gone_uses_the_current_one_and_says_so(tmp_path):
    gone = tmp_path / "python-gone"
    gone.symlink_to(PY)
    script = write(tmp_path / "seeded.py", SEEDED.replace("SEED", "101"))
    site = next(p for p in sys.path if p.endswith("site-packages"))
    done = subprocess.run(
        [str(gone), str(script)], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(seedreg.__file__).parents[1]), site])},
    )
    [original] = ids(done.stdout)
    assert seedreg.Registry().get(original).command[0] == str(gone)
    gone.unlink()

    result, data = replay_json(original)

    assert result.exit_code == 0, result.output
    assert data["command"][0] == PY
    assert any(str(gone) in note and "no longer exists" in note for note in data["notes"])
    assert data["verdict"] == "identical"


def test_nep19_note_only_when_a_generator_run_differs_after_a_numpy_change(tmp_path):
    """Recorded runs, compared as if the second ran on another NumPy (the note of DESIGN §4)."""
    script = write(tmp_path / "two.py", """
        import numpy as np
        import seedreg

        for seed in (1, 2):
            with seedreg.run("gen", seed=seed) as run:
                run.log("x", run.rng.random(3))
            print("RUN", run.id)
        for seed in (1, 2):
            with seedreg.run("legacy", seed=seed) as run:
                run.log("x", np.random.rand(3))
            print("RUN", run.id)
    """)
    gen1, gen2, leg1, leg2 = (seedreg.Registry().get(i) for i in record(script))
    assert gen1.generator_used and not leg1.generator_used
    upgraded = dataclasses.replace(gen2, numpy_version="99.0.0")

    block = compare_block(gen1, upgraded)
    assert block.verdict == "different"
    assert [c[0] for c in block.environment] == ["numpy_version"]
    assert any("NEP 19" in note for note in block.notes)

    assert compare_block(gen1, dataclasses.replace(gen1, numpy_version="99.0.0")).notes == []
    assert compare_block(leg1, dataclasses.replace(leg2, numpy_version="99.0.0")).notes == []
    assert compare_block(gen1, gen2).notes == []  # same NumPy: the code is to blame


# -- refused replays ------------------------------------------------------------------------------


def test_interactive_run_is_refused(tmp_path, db):
    code = textwrap.dedent("""
        import numpy as np, seedreg
        with seedreg.run("interactive", seed=1) as run:
            run.log("x", np.random.rand(3))
        print("RUN", run.id)
    """)
    done = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    [original] = ids(done.stdout)
    assert seedreg.Registry().get(original).launch == "interactive"
    before = count_runs(db)

    line = assert_refused(invoke("replay", original, "--yes"), "python -c")
    assert "REPL" in line
    assert count_runs(db) == before

    as_command = seedreg_cli("replay", original, "--yes")
    assert as_command.returncode == 2 and as_command.stdout == ""
    assert as_command.stderr.strip().count("\n") == 0 and "python -c" in as_command.stderr


@pytest.mark.parametrize("answer", ["n\n", ""], ids=["declined", "no-answer"])
def test_declined_or_unanswered_confirmation_runs_nothing(seeded, db, answer):
    script, original = seeded
    before = count_runs(db)

    result = invoke("replay", original, input=answer)

    assert_refused(result, "--yes", "declined")
    assert shlex.join([PY, str(script)]) in result.stderr  # the command was shown before asking
    assert count_runs(db) == before
    assert query(db, "SELECT count(*) FROM replays") == [(0,)]


def test_real_command_without_a_terminal_answer_refuses(seeded, db):
    _, original = seeded
    before = count_runs(db)
    done = subprocess.run([PY, "-m", "seedreg", "replay", original], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.rstrip().splitlines()[-1].startswith("Error:")
    assert "--yes" in done.stderr.rstrip().splitlines()[-1]
    assert count_runs(db) == before


def test_dry_run_prints_the_command_and_records_nothing(seeded, db):
    script, original = seeded
    before = count_runs(db)

    result = invoke("replay", original, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"would run: {shlex.join([PY, str(script)])}  (in {script.parent})"
    as_json = invoke("replay", original, "--dry-run", "--json")
    assert json.loads(as_json.stdout) == {"command": [PY, str(script)], "cwd": str(script.parent), "notes": []}

    assert count_runs(db) == before
    assert query(db, "SELECT count(*) FROM replays") == [(0,)]


def test_recorded_cwd_gone_is_refused(tmp_path, db):
    gone = tmp_path / "gone"
    gone.mkdir()
    script = write(gone / "seeded.py", SEEDED.replace("SEED", "101"))
    [original] = record(script, cwd=gone)
    script.unlink()
    gone.rmdir()
    before = count_runs(db)

    assert_refused(invoke("replay", original, "--yes"), str(gone), "no longer exists")
    assert count_runs(db) == before


def test_unknown_run_is_refused():
    invoke("db", "upgrade")
    assert_refused(invoke("replay", "abcdef", "--yes"), "abcdef")


@pytest.mark.parametrize("hashseed", [None, "7"], ids=["unset", "other"])
@pytest.mark.slow  # a long subprocess suite (a replay per case)
def test_recorded_pythonhashseed_is_passed_to_the_replay(tmp_path, monkeypatch, hashseed):
    script = write(tmp_path / "hashing.py", """
        import numpy as np
        import seedreg

        with seedreg.run("hash", seed=1) as run:
            run.log("hash", hash("abc"))
            run.log("set order", list({"alpha", "beta", "gamma", "delta", "epsilon"}))
        print("RUN", run.id, hash("abc"))
    """)
    done = run_python(script, env={"PYTHONHASHSEED": "123"})
    [original] = ids(done.stdout)
    assert seedreg.Registry().get(original).pythonhashseed == "123"
    if hashseed is None:
        monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    else:
        monkeypatch.setenv("PYTHONHASHSEED", hashseed)  # the recorded one must win

    result, data = replay_json(original)

    assert result.exit_code == 0, result.output
    assert data["verdict"] == "identical"
    assert seedreg.Registry().get(data["blocks"][0]["replay"]).pythonhashseed == "123"


# -- where verdicts live ----------------------------------------------------------------------------


@pytest.mark.slow  # a long subprocess suite (four replays)
def test_verdicts_are_stored_apart_and_the_originals_stay_untouched(tmp_path, db):
    script = write(tmp_path / "two.py", """
        import numpy as np
        import seedreg

        for k in range(2):
            with seedreg.run(f"block{k}", seed=k + 1, params={"k": k}) as run:
                x = np.random.rand(8)
                # EDIT
                run.log("x", x)
            print("RUN", run.id)
    """)
    first, second = record(script)

    def snapshot():
        return {table: query(db, f"SELECT * FROM {table} WHERE run_id IN (?, ?) ORDER BY 1, 2",
                             first, second)
                for table in ("params", "fingerprints", "chain")} | {
            "runs": query(db, "SELECT * FROM runs WHERE id IN (?, ?) ORDER BY id", first, second)}

    before = snapshot()
    same, _ = replay_json(first)
    edit(script, "# EDIT", "if k == 1: x[0] = -1.0")
    changed, after_edit = replay_json(first)
    assert (same.exit_code, changed.exit_code) == (0, 1)

    assert snapshot() == before
    rows = query(db, "SELECT session, original_id, replay_id, verdict, details FROM replays ORDER BY id")
    assert len(rows) == 4
    by_session: dict[str, dict[str, str]] = {}
    for session, original_id, replay_id, verdict, details in rows:
        by_session.setdefault(session, {})[original_id] = verdict
        assert json.loads(details)["replay"] == replay_id
        assert query(db, "SELECT replay_of, replay_session FROM runs WHERE id = ?", replay_id) == [
            (original_id, session)]
    assert len(by_session) == 2
    assert by_session.pop(after_edit["session"]) == {first: "identical", second: "different"}
    assert list(by_session.values()) == [{first: "identical", second: "identical"}]

    audit = invoke("audit")
    assert audit.exit_code == 0, audit.output

    show = invoke("show", second)
    assert show.exit_code == 0
    replay_lines = show.stdout.split("replays:\n", 1)[1].splitlines()
    assert sorted(line.split()[-1] for line in replay_lines) == ["different", "identical"]
    assert block_for(after_edit, second)["replay"][:12] in show.stdout
    shown = json.loads(invoke("show", second, "--json").stdout)
    assert sorted(r["verdict"] for r in shown["replays"]) == ["different", "identical"]
    assert {r["original"] for r in shown["replays"]} == {second}
    assert set(shown["replays"][0]) >= {"session", "original", "replay", "verdict", "created_at"}
