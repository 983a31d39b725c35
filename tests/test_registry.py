"""The registry (DESIGN §3): where it is, its schema, run lookup and queries."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from helpers import backend_url

import seedreg
from seedreg.db import engines, schema
from seedreg.errors import RegistryNotFoundError, SchemaError, UnknownRunError, UsageError

# Tests that take the ``backend`` fixture run on SQLite and on PostgreSQL, against the URL it made;
# the others are about SQLite files and paths (or need no database) and run once.


def query(path: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, args).fetchall()


def execute(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def record_runs(experiment: str = "exp", count: int = 1, **kwargs) -> list[str]:
    ids = []
    for seed in range(count):
        with seedreg.run(experiment, seed=seed, **kwargs) as run:
            pass
        ids.append(run.id)
    return ids


def insert_replay(path: Path, original_id: str) -> str:
    """A replay row of ``original_id``, written by hand as ``seedreg replay`` would, one second later."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        row = dict(conn.execute("SELECT * FROM runs WHERE id = ?", (original_id,)).fetchone())
        replay_id = uuid.uuid4().hex
        later = (datetime.fromisoformat(row["started_at"]) + timedelta(seconds=1)).isoformat(sep=" ")
        row.update(id=replay_id, replay_of=original_id, seed_source="replay", started_at=later, ended_at=later)
        conn.execute(
            f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
        )
        conn.commit()
    finally:
        conn.close()
    return replay_id


# -- where the registry is ----------------------------------------------------------------------


def test_default_registry_is_seedreg_db_in_the_current_directory(tmp_path: Path, monkeypatch, registry_path):
    monkeypatch.delenv("SEEDREG_DB")
    (run_id,) = record_runs()
    assert (tmp_path / "seedreg.db").exists()
    assert not registry_path.exists()
    registry = seedreg.Registry()
    assert registry.url == "sqlite:///" + str(tmp_path / "seedreg.db")
    assert registry.get(run_id).id == run_id


def test_seedreg_db_as_a_path(registry_path: Path):
    (run_id,) = record_runs()
    assert registry_path.exists()
    assert query(registry_path, "SELECT id FROM runs") == [(run_id,)]
    assert seedreg.Registry().url == "sqlite:///" + str(registry_path)


def test_seedreg_db_as_a_relative_path(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SEEDREG_DB", "sub/rel.db")
    (tmp_path / "sub").mkdir()
    (run_id,) = record_runs()
    assert query(tmp_path / "sub" / "rel.db", "SELECT id FROM runs") == [(run_id,)]


def test_seedreg_db_as_a_sqlite_url(tmp_path: Path, monkeypatch, registry_path):
    target = tmp_path / "via-url.db"
    monkeypatch.setenv("SEEDREG_DB", f"sqlite:///{target}")
    (run_id,) = record_runs()
    assert query(target, "SELECT id FROM runs") == [(run_id,)]
    assert not registry_path.exists()
    assert seedreg.Registry().get(run_id).id == run_id


def test_db_argument_wins_over_seedreg_db(tmp_path: Path, registry_path: Path):
    other = tmp_path / "other.db"
    (run_id,) = record_runs(db=other)
    assert not registry_path.exists()
    assert query(other, "SELECT id FROM runs") == [(run_id,)]
    assert seedreg.Registry(other).get(run_id).id == run_id
    assert seedreg.Registry(f"sqlite:///{other}").get(run_id).id == run_id
    with pytest.raises(RegistryNotFoundError):
        seedreg.Registry().get(run_id)


def test_bad_url_is_a_usage_error(registry_path: Path):
    with pytest.raises(UsageError, match="cannot open nosuchdialect://"):
        with seedreg.run("x", seed=1, db="nosuchdialect://x/y"):
            pass
    with pytest.raises(UsageError, match="cannot open"):
        seedreg.Registry("nosuchdialect://x/y").runs()
    with pytest.raises(UsageError, match="not a database URL"):
        seedreg.Registry("not a url://")
    assert not registry_path.exists()


def test_mask_url_hides_the_password():
    url = "postgresql+psycopg://alice:s3cr3t-pw@db.example.org:5432/seeds"
    masked = engines.mask_url(url)
    assert "s3cr3t-pw" not in masked
    assert "alice" in masked and "db.example.org" in masked and "/seeds" in masked
    assert "s3cr3t-pw" not in repr(seedreg.Registry(url))
    assert "s3cr3t-pw" not in seedreg.Registry(url).display_url


# -- a new database and its schema -------------------------------------------------------------


def test_new_database_is_created_at_head_in_wal_mode(registry_path: Path):
    record_runs()
    assert query(registry_path, "SELECT version_num FROM alembic_version") == [(schema.HEAD,)]
    assert query(registry_path, "PRAGMA journal_mode") == [("wal",)]
    tables = {name for (name,) in query(registry_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"alembic_version", "environments", "runs", "params", "tags", "fingerprints"} <= tables
    assert seedreg.Registry().revision() == schema.HEAD


def test_upgrade_creates_an_empty_registry_at_head(registry_path: Path):
    registry = seedreg.Registry()
    assert registry.upgrade() == (None, schema.HEAD)
    assert registry.upgrade() == (schema.HEAD, schema.HEAD)
    assert query(registry_path, "SELECT version_num FROM alembic_version") == [(schema.HEAD,)]
    assert registry.runs() == []


def test_newer_schema_is_refused_for_reading_and_writing(registry_path: Path):
    seedreg.Registry().upgrade()  # created by this process, but no run recorded through it yet
    execute(registry_path, "UPDATE alembic_version SET version_num = 'ffff'")
    with pytest.raises(SchemaError, match="newer seedreg"):
        seedreg.Registry().runs()
    with pytest.raises(SchemaError, match="newer seedreg"):
        with seedreg.run("x", seed=1):
            pass
    with pytest.raises(SchemaError, match="newer seedreg"):
        seedreg.Registry().upgrade()
    assert query(registry_path, "SELECT count(*) FROM runs") == [(0,)]
    assert query(registry_path, "SELECT version_num FROM alembic_version") == [("ffff",)]


def test_older_schema_is_refused_with_the_upgrade_command(registry_path: Path, monkeypatch):
    seedreg.Registry().upgrade()
    if len(schema.REVISIONS) > 1:
        older = schema.REVISIONS[-2]
    else:  # only one revision so far: pretend an older one is known
        older = "0000"
        monkeypatch.setattr(schema, "REVISIONS", (older, schema.HEAD))
    execute(registry_path, f"UPDATE alembic_version SET version_num = '{older}'")
    with pytest.raises(SchemaError, match="older seedreg schema") as caught:
        seedreg.Registry().runs()
    assert "seedreg db upgrade" in str(caught.value)
    with pytest.raises(SchemaError, match="seedreg db upgrade"):
        with seedreg.run("x", seed=1):
            pass
    assert query(registry_path, "SELECT count(*) FROM runs") == [(0,)]


@pytest.mark.parametrize("how", ["drop-table", "empty-table"])
def test_registry_without_a_version_is_not_a_seedreg_registry(how: str, registry_path: Path):
    record_runs()
    statement = "DROP TABLE alembic_version" if how == "drop-table" else "DELETE FROM alembic_version"
    execute(registry_path, statement)
    expected = "not a seedreg registry" if how == "drop-table" else "no seedreg schema"
    with pytest.raises(SchemaError, match=expected):
        seedreg.Registry().runs()


def test_a_foreign_database_is_never_written_into(registry_path: Path):
    execute(registry_path, "CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('mine')")
    with pytest.raises(SchemaError, match="not a seedreg registry"):
        with seedreg.run("x", seed=1):
            pass
    with pytest.raises(SchemaError, match="not a seedreg registry"):
        seedreg.Registry().runs()
    tables = {name for (name,) in query(registry_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"notes"}


def test_an_empty_file_is_created_at_head_by_a_run(registry_path: Path):
    registry_path.touch()
    with pytest.raises(SchemaError, match="no seedreg schema"):
        seedreg.Registry().runs()
    (run_id,) = record_runs()
    assert seedreg.Registry().get(run_id).status == "completed"


# -- a missing registry -------------------------------------------------------------------------


def test_reading_a_missing_registry_raises_and_creates_nothing(registry_path: Path):
    registry = seedreg.Registry()
    for read in (registry.runs, registry.last, registry.count, registry.revision, lambda: registry.get("ab")):
        with pytest.raises(RegistryNotFoundError) as caught:
            read()
        assert str(registry_path) in str(caught.value)
        assert "SEEDREG_DB" in str(caught.value)
    assert not registry_path.exists()
    assert not list(registry_path.parent.glob("registry.db*"))


# -- finding runs by id -----------------------------------------------------------------------------


def test_get_by_full_id_and_unique_prefix(backend):
    url = backend_url(backend)
    ids = record_runs(count=3, db=url)
    registry = seedreg.Registry(url)
    for run_id in ids:
        assert registry.get(run_id).id == run_id
        assert registry.get(run_id.upper()).id == run_id
        assert registry.resolve(run_id) == run_id
    # the shortest prefix that names each run alone
    for run_id in ids:
        others = [o for o in ids if o != run_id]
        length = next(n for n in range(1, 33) if not any(o.startswith(run_id[:n]) for o in others))
        assert registry.get(run_id[:length]).id == run_id


def test_unknown_run_and_bad_prefixes(backend):
    url = backend_url(backend)
    (run_id,) = record_runs(db=url)
    registry = seedreg.Registry(url)
    missing = next(c for c in "0123456789abcdef" if c != run_id[0])
    for ref in (missing, "f" * 32 if run_id != "f" * 32 else "e" * 32, "xyz", "", "0" * 33, run_id + "0"):
        with pytest.raises(UnknownRunError):
            registry.get(ref)


def test_ambiguous_prefix_is_refused(backend):
    url = backend_url(backend)
    seen: dict[str, str] = {}
    shared = None
    for seed in range(17):  # 16 first hex digits: two runs must share one
        with seedreg.run("many", seed=seed, db=url) as run:
            pass
        if run.id[0] in seen:
            shared = run.id[0]
            break
        seen[run.id[0]] = run.id
    assert shared is not None
    with pytest.raises(UnknownRunError, match="several runs"):
        seedreg.Registry(url).get(shared)


# -- queries ----------------------------------------------------------------------------------------


def test_runs_are_newest_first_with_filters_and_limits(backend):
    url = backend_url(backend)
    a = record_runs("alpha", 3, db=url)
    b = record_runs("beta", 2, db=url)
    with pytest.raises(ValueError):
        with seedreg.run("alpha", seed=9, db=url) as failed:
            raise ValueError("no")
    registry = seedreg.Registry(url)
    every = [failed.id, *reversed(b), *reversed(a)]
    assert [r.id for r in registry.runs()] == every
    assert [r.id for r in registry.runs(limit=None)] == every
    assert [r.id for r in registry.runs(limit=0)] == every
    assert [r.id for r in registry.runs(limit=2)] == every[:2]
    assert [r.id for r in registry.runs(limit=2, offset=2)] == every[2:4]
    assert [r.id for r in registry.runs(experiment="beta")] == list(reversed(b))
    assert [r.id for r in registry.runs(experiment=["beta", "alpha"], limit=0)] == every
    assert [r.id for r in registry.runs(status="failed")] == [failed.id]
    assert [r.id for r in registry.runs(experiment="alpha", status="completed")] == list(reversed(a))
    assert registry.runs(experiment="gamma") == []
    assert registry.count() == 6
    assert registry.count(experiment="alpha") == 4
    assert registry.count(status=["failed", "interrupted"]) == 1
    started = [r.started_at for r in registry.runs()]
    assert started == sorted(started, reverse=True)
    assert all(moment.tzinfo is not None for moment in started)


def test_runs_refuses_bad_filters(backend):
    url = backend_url(backend)
    record_runs(db=url)
    registry = seedreg.Registry(url)
    with pytest.raises(UsageError):
        registry.runs(status="done")
    with pytest.raises(UsageError):
        registry.runs(limit=-1)


def test_every_run_reads_the_same_whole_record_by_page_and_by_filter(backend, tmp_path: Path):
    # Three ways to read children: a page looks them up by ids, all runs scan each child table,
    # a minority of runs (a filter, no limit) reads them by that filter.
    from dataclasses import fields, replace

    from synthetic import line, verdict

    from seedreg.records import RunRecord

    url = backend_url(backend)
    count = 1207
    start = datetime(2026, 1, 1, 12)
    ids = [uuid.uuid4().hex for _ in range(count)]
    lines = [line(id=run_id, experiment="other" if i % 3 == 0 else "exp", seed=str(i), started=start + timedelta(seconds=i), params={"i": i, "lr": 0.5},
                  tags={"n": {"i": i}}, outputs=("a", "b") if i % 3 else ("a",), status="failed" if i % 7 == 0 else "completed",
                  replays=[verdict(run_id, None, "different", created=datetime(2026, 2, 1)),
                           verdict(run_id, None, "identical", session="t" * 32, created=datetime(2026, 2, 2))]
                  if i % 5 == 0 else None)
             for i, run_id in enumerate(ids)]
    registry = seedreg.Registry(url)
    assert registry.import_(lines).imported == count
    every = registry.runs(limit=None)
    paged = registry.runs(limit=count)
    assert len(every) == count and every == paged
    assert registry.runs(limit=None, experiment="other") == [run for run in every if run.experiment == "other"]
    for i, run in enumerate(reversed(every)):
        assert run.id == ids[i] and run.seed == i and run.params == {"i": i, "lr": 0.5} and run.tags == {"n.i": i}
        assert list(run.fingerprints) == (["a", "b"] if i % 3 else ["a"])
        assert run.status == ("failed" if i % 7 == 0 else "completed")
        assert run.last_verdict == ("identical" if i % 5 == 0 else None)
        assert set(vars(run)) == {f.name for f in fields(RunRecord)} and replace(run) == run  # every field set
    assert registry.get(ids[5]) == replace(every[-6], environment=registry.get(ids[5]).environment)
    exported = list(registry.export())
    assert [json.loads(text)["run"]["id"] for text in exported] == ids
    copy = seedreg.Registry(tmp_path / "copy.db")
    assert copy.import_(exported).imported == count
    assert copy.runs(limit=None) == every
    assert copy.audit().ok


def test_last_is_the_newest_original_run(registry_path: Path):
    first, second = record_runs(count=2)
    registry = seedreg.Registry()
    assert registry.last().id == second
    assert registry.last().environment is not None
    replay = insert_replay(registry_path, second)
    assert registry.runs(limit=1)[0].id == replay  # newest of all
    assert registry.last().id == second  # but not a replay
    assert [r.id for r in registry.runs(replays=True)] == [replay]
    assert [r.id for r in registry.runs(replays=False)] == [second, first]
    assert registry.get(replay).replay_of == second


def test_last_of_an_empty_registry(backend):
    url = backend_url(backend)
    seedreg.Registry(url).upgrade()
    with pytest.raises(UnknownRunError, match="no runs"):
        seedreg.Registry(url).last()


def test_fingerprints_read_in_logging_order_whatever_order_the_table_holds_them(registry_path: Path):
    # Reads of most of the registry scan the fingerprints table as it lies and order each run's own.
    with seedreg.run("ordered", seed=1) as run:
        for name in ("c", "a", "b"):
            run.log(name, name)
    with sqlite3.connect(registry_path) as conn:  # move the first-logged row to the end of the table
        row = conn.execute("SELECT * FROM fingerprints WHERE run_id = ? AND name = 'c'", (run.id,)).fetchone()
        conn.execute("DELETE FROM fingerprints WHERE run_id = ? AND name = 'c'", (run.id,))
        conn.execute(f"INSERT INTO fingerprints VALUES ({', '.join('?' * len(row))})", row)
    (every,) = seedreg.Registry().runs(limit=None)
    assert list(every.fingerprints) == ["c", "a", "b"]
    assert list(seedreg.Registry().get(run.id).fingerprints) == ["c", "a", "b"]
