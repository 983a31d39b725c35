"""What a run records about where it ran: the environment snapshot, packages, process, git."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import blake3
import numpy as np
import pytest
from helpers import run_python

from seedreg.recording import environment as env_module
from seedreg.recording.environment import (
    environment,
    file_digest,
    git_state,
    imported_libraries,
    installed_packages,
    process_facts,
    script_changed,
)
from seedreg.records import ENVIRONMENT_FIELDS, EnvironmentRecord, environment_record


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )
    return done.stdout.strip()


def test_environment_snapshot():
    snap = environment()
    assert snap.numpy_version == np.__version__
    assert snap.python_version == platform.python_version()
    assert snap.python_implementation == platform.python_implementation()
    assert snap.machine == platform.machine()
    assert snap.platform == platform.platform()
    assert snap.packages["numpy"] == importlib.metadata.version("numpy")
    assert snap.packages["sqlalchemy"] == importlib.metadata.version("sqlalchemy")
    assert len(snap.digest) == 64 and int(snap.digest, 16) >= 0


def test_environment_is_computed_once_and_its_digest_is_stable():
    first = environment()
    assert environment() is first
    again = EnvironmentRecord(**{f.name: getattr(first, f.name) for f in dataclasses.fields(first)})
    assert again.digest == first.digest
    assert again.packages_json == first.packages_json


def test_environment_digest_changes_with_any_package():
    snap = environment()
    packages = dict(snap.packages)
    packages["numpy"] = packages["numpy"] + ".post1"
    changed = dataclasses.replace(snap, packages=packages)
    assert changed.digest != snap.digest
    assert dataclasses.replace(snap, packages={**snap.packages, "newpkg": "1.0"}).digest != snap.digest
    assert dataclasses.replace(snap, numpy_version="0.0").digest != snap.digest
    # package order does not matter
    reordered = dataclasses.replace(snap, packages=dict(reversed(list(snap.packages.items()))))
    assert reordered.digest == snap.digest



def test_one_environment_type_with_a_digest_that_never_changes():
    """The type runs record, the registry returns and import checks is one: its digest is pinned, and a
    row built from its stored form (an environments row, an export line's environment) is itself again."""
    record = EnvironmentRecord(python_version="3.11.9", python_implementation="CPython", platform="Linux-x",
                               machine="x86_64", numpy_version="1.26.4", blas=None,
                               packages={"seedreg": "0.1.0", "numpy": "1.26.4"})
    assert record.digest == "ad36a6c5f58cabb74595b7d13b6dcb5c8df6defc5106bb2c41a6ec7c1770e21f"
    row = record.as_row()
    assert tuple(row) == ENVIRONMENT_FIELDS and row["packages"] == '{"numpy":"1.26.4","seedreg":"0.1.0"}'
    assert environment_record(row) == record and environment_record(row).digest == row["digest"]
    assert environment_record({f"env_{k}": v for k, v in row.items()}, "env_") == record
    assert isinstance(environment(), EnvironmentRecord)

def test_installed_packages():
    packages = installed_packages()
    for name in ("numpy", "sqlalchemy", "click", "blake3", "alembic"):
        assert packages[name] == importlib.metadata.version(name), name
    assert all(name == name.lower() and "_" not in name and "." not in name for name in packages)
    assert list(packages) == sorted(packages)


def test_installed_packages_reads_dist_info_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "Fancy_Name.Pkg-1.2.3.dist-info").mkdir()
    (tmp_path / "old_style-0.9.egg-info").mkdir()
    (tmp_path / "numpy-0.0.1.dist-info").mkdir()  # later on sys.path than the real one: ignored
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path)])
    packages = installed_packages()
    assert packages["fancy-name-pkg"] == "1.2.3"
    assert packages["old-style"] == "0.9"
    assert packages["numpy"] == np.__version__


def test_imported_libraries_lists_only_imported_seedable_ones(monkeypatch: pytest.MonkeyPatch):
    fake = type(sys)("torch")
    fake.__version__ = "9.9.9"
    monkeypatch.setitem(sys.modules, "torch", fake)
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    found = imported_libraries()
    assert found["torch"] == "9.9.9"
    assert "jax" not in found
    assert "numpy" not in found  # numpy is recorded on its own


def test_process_facts():
    facts = process_facts()
    assert facts.pid == os.getpid()
    assert facts.executable == sys.executable
    assert facts.argv == sys.argv
    assert facts.hostname
    assert facts.process_started is None or facts.process_started > 0
    assert facts.launch in ("script", "module", "interactive")


def test_pythonhashseed_is_read_when_set(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    assert process_facts().pythonhashseed == "0"
    monkeypatch.delenv("PYTHONHASHSEED")
    assert process_facts().pythonhashseed is None


def test_file_digest_and_script_changed(tmp_path: Path):
    script = tmp_path / "s.py"
    script.write_bytes(b"print(1)\n")
    digest = file_digest(script)
    assert digest == "blake3:" + blake3.blake3(b"print(1)\n").hexdigest()
    assert file_digest(tmp_path / "missing.py") is None
    assert not script_changed(str(script), digest)
    script.write_bytes(b"print(2)\n")
    assert script_changed(str(script), digest)
    assert not script_changed(None, None)


def test_git_state_outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_state(str(plain)) == (None, None)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_state_of_a_repository(tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.txt").write_text("one\n")
    git(repo, "init", "-q")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "first")
    commit = git(repo, "rev-parse", "HEAD")
    (repo / "untracked.txt").write_text("not part of the tree\n")
    assert git_state(str(repo)) == (commit, False)  # untracked files do not make it dirty
    (repo / "a.txt").write_text("two\n")
    env_module.git_state.cache_clear()  # cached per directory: once per process in real use
    assert git_state(str(repo)) == (commit, True)


def test_git_state_without_git_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    env_module.git_state.cache_clear()
    try:
        assert git_state(str(tmp_path)) == (None, None)
    finally:
        env_module.git_state.cache_clear()


def test_process_start_time_is_the_one_psutil_reads():
    """Read from /proc without importing psutil, it must still be what liveness compares with psutil's."""
    psutil = pytest.importorskip("psutil")
    assert env_module._process_started() == pytest.approx(psutil.Process().create_time(), abs=1e-6)


def test_username_is_the_one_getpass_finds(monkeypatch: pytest.MonkeyPatch):
    import getpass

    assert env_module._username() == getpass.getuser()
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    assert env_module._username() == getpass.getuser()


# -- git in real processes: once per process, never outside a checkout ----------------------------

TWO_BLOCKS = """\
import json, seedreg
ids = []
for seed in (1, 2):
    with seedreg.run("git", seed=seed) as run:
        pass
    ids.append(run.id)
print(json.dumps(ids))
"""


def logging_git(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose ``git`` logs every call, then runs the real one."""
    real = shutil.which("git")
    assert real is not None
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "git-calls.log"
    wrapper = folder / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(log))}\nexec {shlex.quote(real)} "$@"\n')
    wrapper.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}, log


def recorded_git(registry_path: Path, run_ids: list[str]) -> list[tuple[str | None, bool | None]]:
    with sqlite3.connect(registry_path) as conn:
        rows = [conn.execute("SELECT git_commit, git_dirty FROM runs WHERE id = ?", (run_id,)).fetchone()
                for run_id in run_ids]
    return [(commit, None if dirty is None else bool(dirty)) for commit, dirty in rows]


def committed_repo(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "a.txt").write_text("one\n")
    git(repo, "init", "-q")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "first")
    return repo, git(repo, "rev-parse", "HEAD")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_script_in_a_git_checkout_records_its_commit_with_one_git_call(tmp_path: Path, registry_path: Path):
    repo, commit = committed_repo(tmp_path)
    script = repo / "src" / "two_blocks.py"  # untracked, one folder below the top: git is found walking up
    script.write_text(TWO_BLOCKS)
    env, log = logging_git(tmp_path)
    ids = json.loads(run_python(script, env=env, cwd=tmp_path).stdout)
    assert recorded_git(registry_path, ids) == [(commit, False), (commit, False)]
    calls = [line.split() for line in log.read_text().splitlines()]
    assert [args[args.index("-C") + 2] for args in calls] == ["status"]  # once, for both blocks
    # Started while SQLAlchemy was still to import: its stat() calls on one core, the other left to the script.
    assert calls[0][:2] == ["-c", "core.preloadIndex=false"]

    (repo / "a.txt").write_text("two\n")
    ids = json.loads(run_python(script, env=env, cwd=tmp_path).stdout)
    assert recorded_git(registry_path, ids) == [(commit, True), (commit, True)]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_outside_a_git_checkout_git_never_runs(tmp_path: Path, registry_path: Path):
    plain = tmp_path / "plain"
    plain.mkdir()
    script = plain / "two_blocks.py"
    script.write_text(TWO_BLOCKS)
    env, log = logging_git(tmp_path)
    ids = json.loads(run_python(script, env=env, cwd=plain).stdout)
    assert recorded_git(registry_path, ids) == [(None, None), (None, None)]
    assert not log.exists()


@pytest.mark.skipif(shutil.which("git") is None or not hasattr(os, "fork"), reason="needs git and fork")
def test_a_forked_child_does_not_read_its_parents_git(tmp_path: Path, registry_path: Path):
    repo, commit = committed_repo(tmp_path)
    script = repo / "fork.py"
    script.write_text(
        "import os, sys, seedreg\n"
        "seedreg.run  # starts the parent's git status\n"
        "pid = os.fork()\n"
        "with seedreg.run('child' if pid == 0 else 'parent', seed=1) as run:\n"
        "    pass\n"
        "if pid == 0:\n"
        "    open(sys.argv[1], 'w').write(run.id)\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print(run.id)\n")
    env, log = logging_git(tmp_path)
    child = tmp_path / "child-id"
    parent = run_python(script, str(child), env=env, cwd=tmp_path).stdout.strip()
    assert recorded_git(registry_path, [parent, child.read_text()]) == [(commit, False), (commit, False)]
    assert len(log.read_text().splitlines()) == 2  # the parent's and the child's own


def test_a_git_that_does_not_answer_in_time_leaves_dirty_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    folder = tmp_path / "bin"
    folder.mkdir()
    slow = folder / "git"  # `status` hangs in a child of the script (which holds the pipe open); rev-parse answers
    slow.write_text('#!/bin/sh\ncase "$*" in *status*) sleep 5;; *) echo 0123abcd;; esac\n')
    slow.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(env_module, "GIT_TIMEOUT", 0.5)
    env_module.git_state.cache_clear()
    started = time.monotonic()
    try:
        assert git_state(str(repo)) == ("0123abcd", None)
    finally:
        env_module.git_state.cache_clear()
    assert time.monotonic() - started < 3


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_repository_without_a_commit_has_no_git_state(tmp_path: Path):
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q")
    env_module.git_state.cache_clear()
    try:
        assert git_state(str(repo)) == (None, None)
    finally:
        env_module.git_state.cache_clear()
