"""``Registry(url, readonly=True)``: the database itself refuses writes, and reading writes nothing.

On SQLite the file's bytes and mtime stay the same and no ``-wal`` or ``-shm`` file appears beside
it (connecting read-write sets ``journal_mode`` and a read-only connection to a WAL file would
create them); on PostgreSQL the session's transactions are READ ONLY. Every reading command opens
the registry this way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import backend_url, invoke, run_python, seedreg_cli
from sqlalchemy import text

import seedreg
from seedreg import Registry, UsageError
from seedreg.db import engines


def _record(n: int = 3) -> list[str]:
    ids = []
    for seed in range(n):
        with seedreg.run("ro", seed=seed, params={"lr": 0.1 * (seed + 1)}) as run:
            run.log("x", np.arange(10) * seed)
            run.log("acc", 0.5 + seed / 10)
        ids.append(run.id)
    return ids


def _closed(url: str) -> None:
    """Close this process's writer connections: the last close checkpoints and removes -wal and -shm."""
    engines.forget(url)


def _state(path: Path) -> tuple[str, int, list[str]]:
    return (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns,
            sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name)))


def test_reading_changes_no_byte_and_creates_no_wal(registry_path: Path):
    ids = _record()
    _closed(engines.resolve_url())
    before = _state(registry_path)
    assert before[2] == ["registry.db"]
    registry = Registry(readonly=True)
    assert len(registry.runs()) == 3 and registry.get(ids[0][:8]).id == ids[0]
    assert registry.count() == 3 and registry.experiments()[0].runs == 3
    assert registry.audit().ok and registry.chain_head()[0] == 3
    assert registry.compare(ids[:2]).rows and registry.replay_history() == []
    assert [g.n for g in registry.seeds()] == [1, 1, 1]
    for command in (["list"], ["show", ids[0]], ["diff", *ids], ["experiments"], ["seeds", "--json"], ["audit"],
                    ["export"], ["db", "current"]):
        result = invoke(*command)
        assert result.exit_code == 0, (command, result.output)
    assert _state(registry_path) == before


def test_reading_while_a_writer_has_the_file_open_sees_its_runs(registry_path: Path):
    _record(2)  # this process's writer engine stays open: the -wal file exists
    assert (registry_path.parent / "registry.db-wal").exists()
    registry = Registry(readonly=True)
    assert registry.count() == 2
    _record(1)
    assert registry.count() == 3  # a new connection per read: it sees what was written since


def test_a_pooled_reader_sees_what_a_writer_process_wrote_since(registry_path: Path, tmp_path: Path):
    script = tmp_path / "write.py"
    script.write_text("import seedreg\nwith seedreg.run('w', seed=1) as run:\n    run.log('a', 1.0)\n")
    run_python(script)
    registry = Registry(readonly=True)
    assert registry.count() == 1  # read from the file alone (immutable): no -wal beside it
    run_python(script)  # its last close checkpointed into the file and removed its -wal
    assert registry.count() == 2
    assert sorted(p.name for p in registry_path.parent.iterdir() if p.name.startswith("registry.db")) == ["registry.db"]


def test_the_database_refuses_a_write_through_a_read_only_engine(backend):
    _record(1)
    registry = Registry(backend_url(backend), readonly=True)
    with pytest.raises(Exception, match="(?i)read-?only"), registry.engine().begin() as conn:
        conn.execute(text("DELETE FROM runs"))
    assert Registry().count() == 1


@pytest.mark.parametrize("write", ["upgrade", "delete", "import_", "sync"])
def test_writing_methods_refuse_a_read_only_registry(write: str):
    ids = _record(1)
    registry = Registry(readonly=True)
    calls = {"upgrade": lambda: registry.upgrade(), "delete": lambda: registry.delete(ids[0], "no"),
             "import_": lambda: registry.import_([]), "sync": lambda: registry.sync()}
    with pytest.raises(UsageError, match="opened read-only"):
        calls[write]()
    assert Registry().get(ids[0]).deleted_at is None


def test_a_read_only_registry_never_creates_a_database(tmp_path: Path):
    missing = tmp_path / "nothing.db"
    with pytest.raises(seedreg.RegistryNotFoundError):
        Registry(missing, readonly=True).runs()
    assert not missing.exists()
    done = seedreg_cli("ui", "--db", str(missing))
    assert done.returncode == 2 and "no registry at" in done.stderr and "Traceback" not in done.stderr
    assert not missing.exists()


@pytest.mark.sqlite_only
def test_list_in_a_real_process_leaves_the_file_alone(registry_path: Path, backend):
    _record(2)
    _closed(engines.resolve_url())
    before = _state(registry_path)
    done = seedreg_cli("list", "--json")
    assert done.returncode == 0 and len(json.loads(done.stdout)) == 2
    assert _state(registry_path) == before
