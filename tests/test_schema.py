"""The schema: Alembic owns it, the models match it, seedreg knows every revision."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from helpers import REPO
from sqlalchemy import create_engine

import seedreg
from seedreg.db import schema
from seedreg.db.tables import schema_metadata


def script_directory() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", schema.migrations_location())
    return ScriptDirectory.from_config(config)


def test_known_revisions_are_exactly_the_migration_scripts_in_order():
    scripts = script_directory()
    chain = [rev.revision for rev in scripts.walk_revisions()][::-1]  # walk is newest first
    assert tuple(chain) == schema.REVISIONS
    assert scripts.get_current_head() == schema.HEAD


def test_migrations_are_found_inside_the_installed_package():
    location = Path(schema.migrations_location())
    assert (location / "env.py").is_file()
    assert any(location.glob("versions/0001_*.py"))
    assert location.resolve() == (REPO / "migrations").resolve()  # editable install maps it


def test_a_new_database_is_created_at_head_and_matches_the_models(registry_path: Path):
    with seedreg.run("create", seed=1):
        pass
    engine = create_engine(f"sqlite:///{registry_path}")
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), schema_metadata())
    assert diffs == []
    version = sqlite3.connect(registry_path).execute("SELECT version_num FROM alembic_version").fetchone()
    assert version == (schema.HEAD,)


def test_db_upgrade_creates_then_reports_head(registry_path: Path):
    registry = seedreg.Registry()
    assert registry.upgrade() == (None, schema.HEAD)
    assert registry.upgrade() == (schema.HEAD, schema.HEAD)
    assert registry.revision() == schema.HEAD


def test_an_older_schema_is_refused_naming_the_upgrade_command(registry_path: Path, monkeypatch):
    seedreg.Registry().upgrade()
    # Pretend this seedreg knows a later revision than the file has.
    monkeypatch.setattr(schema, "REVISIONS", (*schema.REVISIONS, "9999"))
    monkeypatch.setattr(schema, "HEAD", "9999")
    with pytest.raises(seedreg.SchemaError, match="older seedreg schema.*seedreg db upgrade"):
        seedreg.Registry().runs()


def test_a_newer_schema_is_refused_and_nothing_is_written(registry_path: Path):
    seedreg.Registry().upgrade()
    with sqlite3.connect(registry_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00d'")
    with pytest.raises(seedreg.SchemaError, match="newer seedreg"):
        with seedreg.run("refused", seed=1):
            pass
    count = sqlite3.connect(registry_path).execute("SELECT count(*) FROM runs").fetchone()[0]
    assert count == 0


def test_a_foreign_database_is_refused_and_left_alone(registry_path: Path):
    with sqlite3.connect(registry_path) as conn:
        conn.execute("CREATE TABLE other (x INTEGER)")
    with pytest.raises(seedreg.SchemaError, match="not a seedreg registry"):
        with seedreg.run("refused", seed=1):
            pass
    tables = sqlite3.connect(registry_path).execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    assert tables == [("other",)]


def test_upgrade_from_the_first_revision_keeps_runs_and_chains_them(registry_path: Path):
    from alembic import command

    config = Config()
    config.set_main_option("script_location", schema.migrations_location())
    config.set_main_option("sqlalchemy.url", f"sqlite:///{registry_path}")
    config.attributes["configure_logging"] = False
    command.upgrade(config, schema.REVISIONS[0])
    with sqlite3.connect(registry_path) as conn:
        conn.execute(
            "INSERT INTO environments (id, digest, python_version, python_implementation, platform, machine, "
            "packages, created_at) VALUES (1, 'e', '3.11', 'CPython', 'Linux', 'x86_64', '{}', '2026-01-01 00:00:00')"
        )
        for i, status in enumerate(("completed", "failed", "running")):
            conn.execute(
                "INSERT INTO runs (id, experiment, status, seed, seed_kind, seed_source, spawn_key, block_index, "
                "started_at, ended_at, environment_id, python_version, libraries, hostname, pid, executable, argv, "
                "cwd, launch) VALUES (?, 'old', ?, ?, 'int', 'given', '[]', 0, '2026-01-01 00:00:0' || ?, "
                "'2026-01-01 00:00:0' || ?, 1, '3.11', '{}', 'elsewhere', 1, 'python', '[]', '/', 'script')",
                (f"{i:032x}", status, str(i), i, i + 1),
            )
    assert seedreg.Registry().upgrade() == (schema.REVISIONS[0], schema.HEAD)
    registry = seedreg.Registry()
    assert [r.status for r in registry.runs()] == ["running", "failed", "completed"]
    report = registry.audit()
    assert report.ok, report.findings
    assert report.count == 2  # the two closed runs were chained; the running one was not


def _alembic(url: str):
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", schema.migrations_location())
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def test_0005_rewrites_checks_keeping_rows_and_refusing_the_same_values(backend):
    """Upgrade 0004 -> 0005 and back: stored runs stay, and every check still refuses what it refused."""
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from seedreg.db import engines

    with seedreg.run("kept", seed=3, params={"lr": 0.1}, tags={"stage": "a"}) as run:
        run.log("x", [1])  # not a real number: a result would not survive the downgrade to 0004
    registry = seedreg.Registry()
    url = registry.url
    before = [r.to_json() for r in registry.runs()]
    config = _alembic(url)
    engines.forget(url)
    command.downgrade(config, "0004")
    command.upgrade(config, "head")
    engines.forget(url)
    assert [r.to_json() for r in seedreg.Registry().runs()] == before
    assert seedreg.Registry().audit().ok
    engine = create_engine(url)
    bad = [
        "UPDATE runs SET status = 'bogus'", "UPDATE runs SET seed_source = 'bogus'",
        "UPDATE runs SET seed_kind = 'bogus'", "UPDATE params SET value_type = 'bogus'",
        "UPDATE tags SET value_type = 'bogus'", "UPDATE chain SET kind = 'bogus'",
        "INSERT INTO replays (session, verdict, details, created_at) VALUES ('s', 'bogus', '{}', '2026-01-01')",
    ]
    for statement in bad:
        with pytest.raises(IntegrityError, match="(?i)check"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.begin() as conn:  # the allowed values still pass
        conn.execute(text("UPDATE runs SET status = 'failed'"))
        conn.execute(text("UPDATE runs SET status = 'completed'"))
    engine.dispose()
    if backend == "sqlite":
        with sqlite3.connect(registry.url.removeprefix("sqlite:///")) as conn:
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'runs'").fetchone()[0]
            assert "status = 'running' OR status = 'completed'" in sql and " IN (" not in sql
            index = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'ix_runs_parent_id'").fetchone()[0]
            assert index.endswith("WHERE parent_id IS NOT NULL")
            plan = conn.execute("EXPLAIN QUERY PLAN SELECT id FROM runs WHERE parent_id = 'x'").fetchall()
            assert "ix_runs_parent_id" in str(plan)  # a lookup by value still uses the partial index
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
