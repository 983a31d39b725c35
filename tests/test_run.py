"""The run record (DESIGN §1): status, RNG digest, fingerprints, params and tags, command,
environment, and runs from forked, spawned and crashed processes."""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import blake3
import numpy as np
import pytest
from helpers import backend_url, run_python

import seedreg
from seedreg.errors import DuplicateNameError, UnknownRunError, UsageError

pytestmark = pytest.mark.usefixtures("backend")  # every test runs on SQLite and PostgreSQL


def query(path: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, args).fetchall()


def write_script(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )
    return done.stdout.strip()


RECORD_SCRIPT = """\
    import sys
    import numpy as np
    import seedreg

    with seedreg.run("scripted", seed=7) as run:
        run.log("draws", np.random.randint(0, 100, 4))
    print(run.id)
"""


# -- status ----------------------------------------------------------------------------------


def test_completed_run():
    with seedreg.run("ok", seed=1) as run:
        assert run.status == "running"
    assert run.status == "completed"
    record = seedreg.Registry().get(run.id)
    assert record.status == "completed"
    assert record.error is None
    assert record.ended_at is not None and record.ended_at >= record.started_at
    assert record.duration is not None and record.duration >= 0
    assert record.experiment == "ok"
    assert record.hostname == socket.gethostname()
    assert record.pid == os.getpid()
    assert record.executable == sys.executable
    assert record.cwd == os.getcwd()
    assert record.python_version == platform.python_version()
    assert record.numpy_version == np.__version__


def test_failed_run_keeps_the_traceback_and_the_exception_propagates():
    def train():
        raise ZeroDivisionError("lr went to zero")

    with pytest.raises(ZeroDivisionError, match="lr went to zero"):
        with seedreg.run("bad", seed=1) as run:
            train()
    assert run.status == "failed"
    record = seedreg.Registry().get(run.id)
    assert record.status == "failed"
    assert record.error.startswith("Traceback (most recent call last):")
    assert "in train" in record.error
    assert "ZeroDivisionError: lr went to zero" in record.error
    assert record.ended_at is not None


def test_keyboard_interrupt_marks_the_run_interrupted_and_propagates():
    with pytest.raises(KeyboardInterrupt):
        with seedreg.run("stopped", seed=1) as run:
            raise KeyboardInterrupt
    assert run.status == "interrupted"
    assert seedreg.Registry().get(run.id).status == "interrupted"


@pytest.mark.parametrize(("code", "status"), [(0, "completed"), (None, "completed"), (3, "failed")])
def test_sys_exit_inside_the_block(code, status):
    with pytest.raises(SystemExit):
        with seedreg.run("exits", seed=1) as run:
            sys.exit(code)
    assert seedreg.Registry().get(run.id).status == status


def test_a_run_cannot_be_entered_twice():
    block = seedreg.run("once", seed=1)
    with block:
        pass
    with pytest.raises(UsageError):
        with block:
            pass


def test_experiment_name_must_be_a_non_empty_string(registry_path: Path):
    for bad in ("", "   ", None, 5, "x" * 256):
        with pytest.raises(UsageError):
            seedreg.run(bad, seed=1)
    assert not registry_path.exists()


# -- RNG-state digest ---------------------------------------------------------------------------


def _digest_after(draw_extra: str | None = None) -> str:
    import random

    with seedreg.run("digest", seed=11) as run:
        np.random.random(5)
        run.rng.normal(size=5)
        random.random()
        if draw_extra == "legacy":
            np.random.random()
        elif draw_extra == "rng":
            run.rng.random()
        elif draw_extra == "random":
            random.random()
    digest = seedreg.Registry().get(run.id).rng_digest
    assert digest == run_rng_digest_from_file(run.id)
    return digest


def run_rng_digest_from_file(run_id: str) -> str:
    return query(Path(os.environ["SEEDREG_DB"]), "SELECT rng_digest FROM runs WHERE id = ?", run_id)[0][0]


@pytest.mark.sqlite_only  # inspects the SQLite file itself
def test_rng_digest_is_equal_for_the_same_draws():
    first, second = _digest_after(), _digest_after()
    assert first.startswith("blake3:")
    assert first == second


@pytest.mark.sqlite_only  # inspects the SQLite file itself
@pytest.mark.parametrize("extra", ["legacy", "rng", "random"])
def test_rng_digest_differs_after_one_more_draw(extra: str):
    assert _digest_after(extra) != _digest_after()


def test_rng_digest_differs_for_another_seed():
    with seedreg.run("a", seed=1):
        pass
    with seedreg.run("b", seed=2):
        pass
    digests = {r.experiment: r.rng_digest for r in seedreg.Registry().runs()}
    assert digests["a"] and digests["b"] and digests["a"] != digests["b"]


# -- fingerprints --------------------------------------------------------------------------------


def test_log_stores_fingerprints_immediately():
    data = np.arange(12, dtype=np.float64).reshape(3, 4)
    with seedreg.run("logs", seed=1) as run:
        fp = run.log("data", data)
        run.log("note", {"k": [1, 2.5, "x"]})
        # a second reader sees them while the block is still open
        record = seedreg.Registry().get(run.id)
        assert record.status == "running"
        assert set(record.fingerprints) == {"data", "note"}
        assert record.fingerprints["data"] == seedreg.fingerprint(data)
        assert str(record.fingerprints["note"]) == str(seedreg.fingerprint({"k": [1, 2.5, "x"]}))
    assert fp == seedreg.fingerprint(data)
    assert str(fp).startswith("blake3:")
    assert run.fingerprints == {"data": fp, "note": seedreg.fingerprint({"k": [1, 2.5, "x"]})}
    stored = seedreg.Registry().get(run.id).fingerprints["data"]
    assert str(stored) == str(fp)
    assert stored.shape == (3, 4)
    assert stored.chunks == fp.chunks
    # logging order is kept
    assert list(seedreg.Registry().get(run.id).fingerprints) == ["data", "note"]


def test_logging_the_same_name_twice_is_refused():
    with seedreg.run("dup", seed=1) as run:
        run.log("x", np.zeros(3))
        with pytest.raises(DuplicateNameError) as caught:
            run.log("x", np.ones(3))
        assert isinstance(caught.value, ValueError)
    stored = seedreg.Registry().get(run.id).fingerprints
    assert list(stored) == ["x"]
    assert stored["x"] == seedreg.fingerprint(np.zeros(3))
    assert run.status == "completed"  # the caught error did not fail the run


def test_log_needs_an_open_block():
    block = seedreg.run("closed", seed=1)
    with pytest.raises(UsageError):
        block.log("early", 1)
    with block:
        pass
    with pytest.raises(UsageError):
        block.log("late", 1)
    assert seedreg.Registry().get(block.id).fingerprints == {}


@pytest.mark.parametrize("name", ["", None, "x" * 256])
def test_log_needs_a_name(name):
    with seedreg.run("names", seed=1) as run:
        with pytest.raises(UsageError):
            run.log(name, 1)


def test_log_of_an_unsupported_type_raises_type_error_and_stores_nothing():
    with seedreg.run("bad-log", seed=1) as run:
        with pytest.raises(TypeError):
            run.log("obj", object())
    assert seedreg.Registry().get(run.id).fingerprints == {}


# -- params and tags ------------------------------------------------------------------------------


def test_params_and_tags_are_flattened_and_keep_their_types():
    params = {
        "model": {"lr": 0.1, "layers": 3, "opt": {"name": "adam", "nesterov": False}},
        "test_size": 1.0,
        "epochs": 10,
        "note": None,
        "big": 2**70,
        "np_float": np.float32(0.5),
        "np_int": np.int64(4),
        "np_bool": np.True_,
        "nan": float("nan"),
        "inf": float("inf"),
        "ninf": float("-inf"),
        "sizes": [1, 2, 3],
    }
    tags = {"stage": "prep", "owner": {"team": "ml"}, "flag": True}
    with seedreg.run("p", seed=1, params=params, tags=tags) as run:
        pass
    assert run.params["model.opt.name"] == "adam"
    record = seedreg.Registry().get(run.id)
    p = record.params
    assert set(p) == {
        "model.lr", "model.layers", "model.opt.name", "model.opt.nesterov", "test_size", "epochs",
        "note", "big", "np_float", "np_int", "np_bool", "nan", "inf", "ninf", "sizes",
    }
    expected_types = {
        "model.lr": float, "model.layers": int, "model.opt.name": str, "model.opt.nesterov": bool,
        "test_size": float, "epochs": int, "big": int, "np_float": float, "np_int": int, "np_bool": bool,
    }
    for key, kind in expected_types.items():
        assert type(p[key]) is kind, (key, p[key])
    assert p["model.lr"] == 0.1 and p["model.layers"] == 3 and p["model.opt.nesterov"] is False
    assert p["test_size"] == 1.0 and p["epochs"] == 10 and p["big"] == 2**70
    assert p["np_float"] == 0.5 and p["np_int"] == 4 and p["np_bool"] is True
    assert p["note"] is None
    assert math.isnan(p["nan"])
    assert p["inf"] == math.inf and p["ninf"] == -math.inf
    assert p["sizes"] == [1, 2, 3]
    assert record.tags == {"stage": "prep", "owner.team": "ml", "flag": True}
    assert record.tags["flag"] is True


@pytest.mark.parametrize(
    "params",
    [{"s": {1, 2}}, {"o": object()}, {"nested": {"deep": object()}}, {1: "x"}, {"": 1}, {"l": [object()]}],
    ids=["set", "object", "nested-object", "int-key", "empty-key", "list-of-object"],
)
def test_bad_param_values_are_refused_before_anything_is_written(params, registry_path: Path):
    with pytest.raises(UsageError):
        seedreg.run("p", seed=1, params=params)
    with pytest.raises(UsageError):
        seedreg.run("p", seed=1, tags=params)
    assert not registry_path.exists()


# -- the command and where it ran (real subprocesses) ------------------------------------------------


def test_script_run_records_its_command_and_environment(tmp_path: Path):
    script = write_script(tmp_path / "exp.py", RECORD_SCRIPT)
    workdir = tmp_path / "work"
    workdir.mkdir()
    done = run_python(script, "--alpha", "1", cwd=workdir, env={"PYTHONHASHSEED": "123"})
    record = seedreg.Registry().get(done.stdout.strip())
    assert record.status == "completed"
    assert record.launch == "script"
    assert record.argv == [str(script), "--alpha", "1"]
    assert record.command == [sys.executable, str(script), "--alpha", "1"]
    assert record.executable == sys.executable
    assert record.cwd == str(workdir)
    assert record.script_path == str(script)
    assert record.script_digest == "blake3:" + blake3.blake3(script.read_bytes()).hexdigest()
    assert record.pythonhashseed == "123"
    assert record.pid != os.getpid()
    assert record.replayable
    assert record.numpy_version == np.__version__
    assert record.environment is not None and record.environment.numpy_version == np.__version__


def test_script_outside_git_records_no_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # GIT_CEILING_DIRECTORIES: git must not find a repository above tmp_path
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    script = write_script(tmp_path / "exp.py", RECORD_SCRIPT)
    done = run_python(script, cwd=tmp_path)
    assert done.stderr == ""
    record = seedreg.Registry().get(done.stdout.strip())
    assert record.git_commit is None and record.git_dirty is None
    assert record.pythonhashseed is None


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_script_in_git_records_commit_and_dirty_flag(tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    script = write_script(repo / "exp.py", RECORD_SCRIPT)
    git(repo, "init", "-q")
    git(repo, "add", "exp.py")
    git(repo, "commit", "-q", "-m", "first")
    commit = git(repo, "rev-parse", "HEAD")

    clean = seedreg.Registry().get(run_python(script, cwd=repo).stdout.strip())
    assert clean.git_commit == commit and len(commit) == 40
    assert clean.git_dirty is False

    script.write_text(script.read_text() + "# edited\n")
    dirty = seedreg.Registry().get(run_python(script, cwd=repo).stdout.strip())
    assert dirty.git_commit == commit
    assert dirty.git_dirty is True
    assert dirty.script_digest != clean.script_digest
    assert dirty.script_digest == "blake3:" + blake3.blake3(script.read_bytes()).hexdigest()


def test_python_dash_c_is_interactive(tmp_path: Path):
    code = "import seedreg\nwith seedreg.run('c', seed=1) as run: pass\nprint(run.id)"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    record = seedreg.Registry().get(done.stdout.strip())
    assert record.launch == "interactive"
    assert record.argv == ["-c"]
    assert record.script_path is None and record.script_digest is None
    assert not record.replayable


def test_python_dash_m_is_module(tmp_path: Path):
    package = tmp_path / "proj" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    module = write_script(package / "mod.py", RECORD_SCRIPT)
    done = subprocess.run(
        [sys.executable, "-m", "pkg.mod", "x"], cwd=tmp_path / "proj",
        capture_output=True, text=True, check=True, env=os.environ.copy(),
    )
    record = seedreg.Registry().get(done.stdout.strip())
    assert record.launch == "module"
    assert record.command == [sys.executable, "-m", "pkg.mod", "x"]
    assert record.argv == [str(module), "x"]
    assert record.script_path == str(module)
    assert record.script_digest == "blake3:" + blake3.blake3(module.read_bytes()).hexdigest()
    assert record.replayable


def test_imported_seedable_libraries_are_recorded(monkeypatch: pytest.MonkeyPatch):
    fake = type(sys)("torch")
    fake.__version__ = "9.9.9"
    monkeypatch.setitem(sys.modules, "torch", fake)
    monkeypatch.setenv("SEEDREG_NO_SEEDERS", "torch")  # a stand-in module: its seeder would fail on it
    with seedreg.run("libs", seed=1) as run:
        pass
    record = seedreg.Registry().get(run.id)
    assert record.libraries["torch"] == "9.9.9"
    assert record.to_json()["libraries"]["torch"] == "9.9.9"


@pytest.mark.sqlite_only  # inspects the SQLite file itself
def test_a_registry_deleted_between_runs_is_created_again(registry_path: Path):
    # e.g. a notebook session whose seedreg.db was removed: the next run must not vanish
    with seedreg.run("first", seed=1):
        pass
    for suffix in ("", "-wal", "-shm"):
        Path(f"{registry_path}{suffix}").unlink(missing_ok=True)
    with seedreg.run("second", seed=2) as run:
        run.log("x", 1)
    assert registry_path.exists()
    assert [(r.id, r.status) for r in seedreg.Registry().runs()] == [(run.id, "completed")]
    assert query(registry_path, "SELECT count(*) FROM environments") == [(1,)]


# -- environments are shared ----------------------------------------------------------------------


@pytest.mark.sqlite_only  # inspects the SQLite file itself
def test_runs_of_one_process_share_one_environment_row(registry_path: Path):
    for seed in range(4):
        with seedreg.run("env", seed=seed):
            pass
    assert query(registry_path, "SELECT count(*) FROM environments") == [(1,)]
    assert query(registry_path, "SELECT count(DISTINCT environment_id), count(*) FROM runs") == [(1, 4)]
    record = seedreg.Registry().get(seedreg.Registry().last().id)
    assert record.environment is not None
    assert record.environment.packages["numpy"] == np.__version__


@pytest.mark.sqlite_only  # inspects the SQLite file itself
def test_runs_of_different_processes_share_one_environment_row(tmp_path: Path, registry_path: Path):
    with seedreg.run("here", seed=1):
        pass
    script = write_script(tmp_path / "exp.py", RECORD_SCRIPT)
    run_python(script, cwd=tmp_path)
    run_python(script, cwd=tmp_path)
    assert query(registry_path, "SELECT count(*) FROM runs") == [(3,)]
    assert query(registry_path, "SELECT count(*) FROM environments") == [(1,)]
    assert len({pid for (pid,) in query(registry_path, "SELECT pid FROM runs")}) == 3


# -- fork and spawn -------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_inside_an_open_block():
    with seedreg.run("root", seed=5) as root:
        (child_seed,) = root.spawn(1)
        root.log("before", np.arange(3))
        pid = os.fork()
        if pid == 0:  # the child: its own run, its own connections
            code = 1
            try:
                with seedreg.run("worker", seed=child_seed, parent=root.id) as worker:
                    worker.log("part", worker.rng.random(4))
                code = 0
            finally:
                os._exit(code)
        _, wait_status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(wait_status) == 0
        root.log("after", np.arange(4))  # the parent's connections still work
    registry = seedreg.Registry()
    runs = registry.runs()
    assert len(runs) == 2
    (worker,) = [r for r in runs if r.experiment == "worker"]
    assert worker.status == "completed"
    assert worker.parent == root.id and worker.spawn_key == (0,)
    assert worker.pid == pid
    expected = np.random.default_rng(np.random.SeedSequence(5, spawn_key=(0,))).random(4)
    assert worker.fingerprints["part"] == seedreg.fingerprint(expected)
    record = registry.get(root.id)
    assert record.status == "completed"
    assert list(record.fingerprints) == ["before", "after"]



@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_inherits_no_per_process_state():
    """One fork hook resets what belongs to the parent: engines, recorders, open runs' heartbeat,
    the fingerprint pool, and the process facts (the child's own pid)."""
    from seedreg.db import engines
    from seedreg.fingerprints import encoding
    from seedreg.recording import environment, heartbeat, writer

    with seedreg.run("root", seed=5) as root:
        seedreg.fingerprint(np.arange(1_000_000.0))  # starts the fingerprint pool
        assert engines._engines and writer._recorders and root.id in heartbeat._open and encoding._pool
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                state = [bool(engines._engines), bool(writer._recorders), bool(heartbeat._open),
                         heartbeat._thread is not None, encoding._pool is not None,
                         environment.process_facts().pid == os.getpid()]
                os.write(write, json.dumps(state).encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            state = json.loads(pipe.read())
        os.waitpid(pid, 0)
        assert state == [False, False, False, False, False, True]
        assert engines._engines and writer._recorders and root.id in heartbeat._open  # the parent keeps its own
        assert environment.process_facts().pid == os.getpid()

WORKERS_SCRIPT = """\
    import multiprocessing as mp
    import sys
    import numpy as np
    import seedreg

    def work(parent_id, seed, name):
        with seedreg.run(name, seed=seed, parent=parent_id) as run:
            run.log("part", run.rng.random(3))

    if __name__ == "__main__":
        with seedreg.run("root", seed=9) as root:
            children = root.spawn(2)
            for index, method in enumerate(["fork", "spawn"]):
                process = mp.get_context(method).Process(
                    target=work, args=(root.id, children[index], "worker-" + method))
                process.start()
                process.join()
                if process.exitcode != 0:
                    sys.exit(f"{method} worker exited {process.exitcode}")
            root.log("total", np.arange(5))
        print(root.id)
"""


@pytest.mark.slow  # many processes
def test_fork_and_spawn_workers_record_child_runs(tmp_path: Path):
    script = write_script(tmp_path / "workers.py", WORKERS_SCRIPT)
    root_id = run_python(script, cwd=tmp_path).stdout.strip()
    registry = seedreg.Registry()
    runs = {r.experiment: r for r in registry.runs()}
    assert set(runs) == {"root", "worker-fork", "worker-spawn"}
    assert all(r.status == "completed" for r in runs.values())
    for key, method in enumerate(["fork", "spawn"]):
        worker = runs["worker-" + method]
        assert worker.parent == root_id
        assert worker.spawn_key == (key,)
        assert worker.seed == 9
        assert worker.pid != runs["root"].pid
        expected = np.random.default_rng(np.random.SeedSequence(9, spawn_key=(key,))).random(3)
        assert worker.fingerprints["part"] == seedreg.fingerprint(expected)
    assert runs["root"].fingerprints["total"] == seedreg.fingerprint(np.arange(5))


# -- crashed runs ----------------------------------------------------------------------------------


CRASH_SCRIPT = """\
    import os
    import signal
    import sys
    import numpy as np
    import seedreg

    with seedreg.run("doomed", seed=3) as run:
        run.log("first", np.arange(6))
        print(run.id, flush=True)
        seedreg.Registry().get(run.id)  # its writes are committed: this process reads its own registry
        if sys.argv[1] == "exit":
            os._exit(1)
        os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.sqlite_only  # inspects the SQLite file itself
@pytest.mark.parametrize("how", ["exit", "kill"])
def test_crashed_run_is_shown_as_crashed_and_persisted_by_the_next_block(how: str, tmp_path: Path,
                                                                         registry_path: Path):
    script = write_script(tmp_path / "crash.py", CRASH_SCRIPT)
    done = run_python(script, how, cwd=tmp_path, check=False)
    assert done.returncode != 0
    run_id = done.stdout.strip()

    registry = seedreg.Registry()
    record = registry.get(run_id)
    assert record.status == "crashed"
    assert record.ended_at is None
    assert record.fingerprints["first"] == seedreg.fingerprint(np.arange(6))
    assert [r.id for r in registry.runs(status="crashed")] == [run_id]
    assert registry.runs(status="running") == []
    # readers only show it: the file still says running
    assert query(registry_path, "SELECT status FROM runs WHERE id = ?", run_id) == [("running",)]

    with seedreg.run("next", seed=1):
        pass
    assert query(registry_path, "SELECT status FROM runs WHERE id = ?", run_id) == [("crashed",)]
    assert seedreg.Registry().get(run_id).status == "crashed"
    assert seedreg.Registry().get(run_id).fingerprints["first"] == seedreg.fingerprint(np.arange(6))


def test_an_open_run_of_a_live_process_is_running(registry_path: Path):
    with seedreg.run("open", seed=1) as run:
        assert seedreg.Registry().get(run.id).status == "running"
        assert [r.id for r in seedreg.Registry().runs(status="running")] == [run.id]
        assert seedreg.Registry().runs(status="crashed") == []
    assert json.loads(json.dumps(seedreg.Registry().get(run.id).to_json()))["status"] == "completed"


@pytest.mark.sqlite_only  # inspects the SQLite file itself
def test_a_run_of_another_host_with_a_stale_heartbeat_is_crashed(registry_path: Path):
    with seedreg.run("template", seed=1) as run:
        pass
    conn = sqlite3.connect(registry_path)
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM runs WHERE id = ?", (run.id,)).fetchone())
    long_ago = (datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=2)).isoformat(sep=" ")
    row.update(id=uuid.uuid4().hex, hostname="another-host.example.org", status="running",
               started_at=long_ago, heartbeat_at=long_ago, ended_at=None, duration=None, rng_digest=None)
    conn.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
    conn.commit()
    conn.close()
    assert seedreg.Registry().get(row["id"]).status == "crashed"


CONCURRENT_SCRIPT = """\
    import sys
    import numpy as np
    import seedreg

    for i in range(int(sys.argv[1])):
        with seedreg.run("concurrent", seed=i, params={"worker": sys.argv[2]}) as run:
            run.log("x", np.arange(i + 1))
"""


@pytest.mark.sqlite_only  # inspects the SQLite file itself
@pytest.mark.slow  # many processes
def test_processes_writing_one_new_file_at_once_lose_nothing(tmp_path: Path, registry_path: Path):
    # The registry does not exist yet: the processes also race to create it.
    script = write_script(tmp_path / "many_writers.py", CONCURRENT_SCRIPT)
    processes = [
        subprocess.Popen([sys.executable, str(script), "5", str(k)], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in range(4)
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert query(registry_path, "SELECT count(*), count(DISTINCT pid) FROM runs WHERE status = 'completed'") == [(20, 4)]
    assert query(registry_path, "SELECT count(*) FROM fingerprints") == [(20,)]
    assert query(registry_path, "SELECT count(*) FROM environments") == [(1,)]
    assert query(registry_path, "SELECT version_num FROM alembic_version") == [(seedreg.db.schema.HEAD,)]
    runs = seedreg.Registry().runs(limit=0)
    assert sorted(r.params["worker"] for r in runs) == sorted(str(k) for k in range(4) for _ in range(5))


def _copy_as_running(registry_path: Path, run_id: str, **changes) -> str:
    """A copy of ``run_id``'s row, open (running) and changed as given: a run of another process."""
    conn = sqlite3.connect(registry_path)
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone())
    row.update(id=uuid.uuid4().hex, status="running", ended_at=None, duration=None, rng_digest=None, **changes)
    conn.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
    conn.commit()
    conn.close()
    return row["id"]


@pytest.mark.sqlite_only  # inspects the SQLite file itself
def test_a_reused_pid_does_not_keep_a_dead_run_running(registry_path: Path):
    import psutil

    with seedreg.run("template", seed=1) as run:
        pass
    started = psutil.Process().create_time()
    alive = _copy_as_running(registry_path, run.id, pid=os.getpid(), process_started=started)
    # same pid, but the process that had it started long before this one: pid reused
    reused = _copy_as_running(registry_path, run.id, pid=os.getpid(), process_started=started - 3600)
    registry = seedreg.Registry()
    assert registry.get(alive).status == "running"
    assert registry.get(reused).status == "crashed"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_worker_that_dies_leaves_a_crashed_child_run():
    with seedreg.run("root", seed=5) as root:
        pid = os.fork()
        if pid == 0:
            try:
                with seedreg.run("worker", seed=root.spawn(1)[0], parent=root.id) as worker:
                    worker.log("part", 1)
                    seedreg.Registry().get(worker.id)  # committed: this process reads its own registry
                    os._exit(0)  # dies inside its block
            finally:
                os._exit(1)
        os.waitpid(pid, 0)
        (worker,) = seedreg.Registry().runs(experiment="worker")
        assert worker.status == "crashed"  # while its parent process is alive
        assert worker.fingerprints["part"] == seedreg.fingerprint(1)
        assert seedreg.Registry().get(root.id).status == "running"
    assert seedreg.Registry().get(root.id).status == "completed"


def test_a_child_of_a_parent_that_never_appears_is_refused_and_leaves_nothing(backend):
    # A parent another process holds back is waited for a little; one that never comes is an error.
    url = backend_url(backend)
    with seedreg.run("root", seed=1, db=url):
        pass
    missing = "0" * 32
    with pytest.raises(UnknownRunError, match=f"parent run '{missing}' is not in"):
        with seedreg.run("orphan", seed=2, parent=missing, db=url):
            pass
    assert [r.experiment for r in seedreg.Registry(url).runs(limit=None)] == ["root"]
