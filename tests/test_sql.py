"""``seedreg sql``: read-only by the database's own enforcement; every write refused, data intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import invoke, seedreg_cli

import seedreg
from seedreg import Registry, UsageError


@pytest.fixture
def recorded(backend) -> list[str]:
    ids = []
    for seed in (1, 2):
        with seedreg.run("sql", seed=seed, params={"lr": 0.1 * seed}, tags={"stage": "a"}) as run:
            run.log("value", [seed, "x"])
        ids.append(run.id)
    return ids


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_select_prints_rows_as_table_json_and_csv(recorded):
    statement = "SELECT experiment, seed, count(*) AS n FROM runs GROUP BY experiment, seed ORDER BY seed"
    table = invoke("sql", statement)
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].split() == ["experiment", "seed", "n"]
    data = json.loads(invoke("sql", statement, "--json").stdout)
    assert data == [{"experiment": "sql", "seed": "1", "n": 1}, {"experiment": "sql", "seed": "2", "n": 1}]
    assert invoke("sql", statement, "--csv").stdout.splitlines() == ["experiment,seed,n", "sql,1,1", "sql,2,1"]


def test_joins_ctes_and_percent_signs_work(recorded):
    statement = """
        WITH RECURSIVE counter(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM counter WHERE k < 3)
        SELECT r.id, p.num, (SELECT count(*) FROM counter) AS three
        FROM runs r JOIN params p ON p.run_id = r.id
        WHERE p.key = 'lr' AND r.experiment LIKE 'sq%' ORDER BY p.num"""
    rows = Registry().sql(statement).rows
    assert [row[0] for row in rows] == recorded and rows[0][2] == 3
    chunks = Registry().sql("SELECT chunks, started_at FROM fingerprints f JOIN runs r ON r.id = f.run_id").rows
    assert chunks[0][0] is None and isinstance(chunks[0][1], str)  # binary as hex, times as stored text


WRITES = [
    "INSERT INTO runs (id) VALUES ('x')",
    "UPDATE runs SET experiment = 'edited'",
    "DELETE FROM runs",
    "DELETE FROM chain",
    "DROP TABLE params",
    "CREATE TABLE extra (x INTEGER)",
    "CREATE INDEX ix_extra ON runs (cwd)",
    "ALTER TABLE runs ADD COLUMN extra TEXT",
    "COMMIT; DELETE FROM runs",
    "SELECT 1; DELETE FROM runs",
]
SQLITE_ONLY = [
    "ATTACH DATABASE 'attached.db' AS other",
    "VACUUM INTO 'copy.db'",
    "VACUUM",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA writable_schema = 1",
    "PRAGMA user_version = 7",
    "REINDEX",
    "ANALYZE",
    "BEGIN IMMEDIATE",
    "WITH x AS (SELECT 1) INSERT INTO tags SELECT * FROM tags",
]
POSTGRES_ONLY = [
    "SET TRANSACTION READ WRITE; DELETE FROM runs",
    "SELECT set_config('transaction_read_only', 'off', false); DELETE FROM runs",
    "WITH gone AS (DELETE FROM runs RETURNING id) SELECT count(*) FROM gone",
    "TRUNCATE runs CASCADE",
    "SELECT nextval('environments_id_seq')",
    "CREATE TEMP TABLE t (x int)",
]


def assert_refused(statement: str, folder: Path) -> None:
    """``statement`` fails with one line, exit 2, and leaves rows, chain and files as they were."""
    registry = Registry()
    before_rows = registry.sql("SELECT * FROM runs ORDER BY id").rows
    before_files = files(folder)
    result = invoke("sql", statement)
    assert result.exit_code == 2, (statement, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert result.stdout == ""
    assert registry.sql("SELECT * FROM runs ORDER BY id").rows == before_rows
    assert files(folder) == before_files  # ATTACH and VACUUM INTO made no file
    assert registry.audit().ok


@pytest.mark.parametrize("statement", WRITES)
def test_writes_are_refused_with_one_line_and_change_nothing(recorded, tmp_path, statement):
    assert_refused(statement, tmp_path)
    assert Registry().count() == len(recorded)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("statement", SQLITE_ONLY)
def test_sqlite_attach_vacuum_into_and_pragmas_are_refused(recorded, tmp_path, statement):
    assert_refused(statement, tmp_path)


def test_postgres_read_only_transaction_cannot_be_left(recorded, backend, tmp_path):
    if backend != "postgres":
        pytest.skip("PostgreSQL statements")
    for statement in POSTGRES_ONLY:
        assert_refused(statement, tmp_path)


def test_the_refusal_names_read_only(recorded):
    result = invoke("sql", "DELETE FROM runs")
    assert "read-only" in result.stderr


def test_refusals_from_python_are_usage_errors(recorded):
    with pytest.raises(UsageError):
        Registry().sql("DROP TABLE runs")
    with pytest.raises(UsageError, match="SQL error"):
        Registry().sql("SELECT nonsense FROM nowhere")
    with pytest.raises(UsageError, match="one SQL statement"):
        Registry().sql("   ")


@pytest.mark.sqlite_only
def test_sqlite_mode_ro_alone_would_let_attach_write_a_file(recorded, registry_path, tmp_path):
    """Why the authorizer is needed: a read-only connection still ATTACHes (creates) a new file."""
    import sqlite3
    from urllib.parse import quote

    conn = sqlite3.connect(f"file:{quote(str(registry_path))}?mode=ro", uri=True)
    conn.execute(f"ATTACH DATABASE '{tmp_path / 'made.db'}' AS other")
    conn.execute("CREATE TABLE other.t (x)")
    conn.close()
    assert (tmp_path / "made.db").exists()
    result = invoke("sql", f"ATTACH DATABASE '{tmp_path / 'second.db'}' AS other")
    assert result.exit_code == 2 and not (tmp_path / "second.db").exists()


def test_sql_never_creates_a_registry(tmp_path):
    result = invoke("sql", "SELECT 1", "--db", str(tmp_path / "missing.db"))
    assert result.exit_code == 2
    assert "no registry at" in result.stderr and not (tmp_path / "missing.db").exists()


def test_sql_in_a_real_process(recorded):
    done = seedreg_cli("sql", "SELECT count(*) AS runs FROM runs", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"runs": 2}]
    refused = seedreg_cli("sql", "DELETE FROM runs")
    assert refused.returncode == 2 and refused.stderr.startswith("Error: ") and "Traceback" not in refused.stderr
