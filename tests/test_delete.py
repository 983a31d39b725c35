"""``seedreg delete``: hidden, never erased; the deletion is a tombstone link the audit verifies."""

from __future__ import annotations

import json

import pytest
from helpers import invoke
from sqlalchemy import text

import seedreg
from seedreg import Registry, UsageError
from seedreg.db import engines


@pytest.fixture
def runs(backend) -> list[str]:
    ids = []
    for seed in range(3):
        with seedreg.run("del", seed=seed, params={"lr": 0.1}) as run:
            run.log("x", [seed])
        ids.append(run.id)
    return ids


def execute(statement: str, **params) -> None:
    """Edit the registry behind seedreg's back, with plain SQL."""
    engine = engines.engine_for(Registry().url)
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def test_delete_hides_the_run_and_keeps_its_row(runs):
    result = invoke("delete", runs[1][:8], "--reason", "wrong input file")
    assert result.exit_code == 0, result.output
    assert f"deleted run {runs[1]}" in result.stdout
    registry = Registry()
    assert [r.id for r in registry.runs()] == [runs[2], runs[0]]
    assert [r["id"] for r in json.loads(invoke("list", "--json").stdout)] == [runs[2], runs[0]]
    shown = json.loads(invoke("list", "--deleted", "--json").stdout)
    assert [r["id"] for r in shown] == [runs[2], runs[1], runs[0]]
    assert shown[1]["deleted_reason"] == "wrong input file" and shown[1]["deleted_at"].endswith("Z")
    assert shown[0]["deleted_at"] is None
    assert "completed (deleted)" in invoke("list", "--deleted").stdout
    assert registry.count() == 2 and registry.count(deleted=None) == 3
    # the row, its params and fingerprints are all still there
    assert registry.sql(f"SELECT count(*) FROM runs WHERE id = '{runs[1]}'").rows == [[1]]
    assert registry.sql(f"SELECT count(*) FROM fingerprints WHERE run_id = '{runs[1]}'").rows == [[1]]
    record = registry.get(runs[1])
    assert record.deleted_reason == "wrong input file" and record.fingerprints


def test_show_still_shows_a_deleted_run_and_says_so(runs):
    Registry().delete(runs[0], "duplicate")
    shown = invoke("show", runs[0])
    assert shown.exit_code == 0
    assert "deleted" in shown.stdout and "duplicate" in shown.stdout
    assert json.loads(invoke("show", runs[0], "--json").stdout)["deleted_reason"] == "duplicate"


def test_last_skips_deleted_runs(runs):
    Registry().delete(runs[2], "bad")
    assert Registry().last().id == runs[1]


def test_audit_stays_clean_and_counts_the_deletion(runs):
    Registry().delete(runs[1], "bad seed")
    result = invoke("audit")
    assert result.exit_code == 0, result.output
    assert "1 deletion(s) chained" in result.stdout and result.stdout.strip().endswith("OK")
    report = json.loads(invoke("audit", "--json").stdout)
    assert report["ok"] and report["tombstones"] == 1 and report["chain_length"] == 4 and report["checked"] == 3
    assert invoke("audit", runs[1]).exit_code == 0  # the run alone: its record link and its tombstone


def test_audit_finds_a_deletion_undone_or_edited_and_a_run_erased(runs):
    Registry().delete(runs[1], "bad seed")
    execute("UPDATE runs SET deleted_reason = 'nothing to see' WHERE id = :id", id=runs[1])
    report = Registry().audit()
    assert [(f.kind, f.run_id) for f in report.findings] == [("edited", runs[1])]
    assert "deletion" in report.findings[0].message

    execute("UPDATE runs SET deleted_at = NULL, deleted_reason = NULL WHERE id = :id", id=runs[1])
    report = Registry().audit()
    assert [(f.kind, f.run_id) for f in report.findings] == [("edited", runs[1])]
    assert "undeleted" in report.findings[0].message

    for table in ("params", "tags", "fingerprints"):
        execute(f"DELETE FROM {table} WHERE run_id = :id", id=runs[1])
    execute("DELETE FROM runs WHERE id = :id", id=runs[1])
    kinds = sorted(f.kind for f in Registry().audit().findings)
    assert kinds == ["deleted", "deleted"]  # its record link and its tombstone both lost their run
    assert invoke("audit").exit_code == 1


def test_a_deletion_marked_behind_seedregs_back_is_found(runs):
    execute("UPDATE runs SET deleted_at = started_at, deleted_reason = 'sneaky' WHERE id = :id", id=runs[0])
    report = Registry().audit()
    assert [(f.kind, f.run_id) for f in report.findings] == [("tombstone", runs[0])]


def test_the_tombstone_is_chained_so_the_head_moves_and_an_anchor_still_verifies(runs):
    before = Registry().audit().head
    Registry().delete(runs[0], "bad")
    after = Registry().audit(expect_head=before)
    assert after.ok and after.head != before


@pytest.mark.parametrize("args, message", [
    (["delete", "RUN"], "Missing option '--reason'"),
    (["delete", "RUN", "--reason", "  "], "say why with --reason"),
    (["delete", "ffff", "--reason", "x"], "no run matches 'ffff'"),
])
def test_bad_deletes_are_one_line_and_exit_2(runs, args, message):
    args = [runs[0] if a == "RUN" else a for a in args]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def test_deleting_twice_or_a_running_run_is_refused(runs):
    Registry().delete(runs[0], "bad")
    with pytest.raises(UsageError, match="already deleted"):
        Registry().delete(runs[0], "again")
    with seedreg.run("open", seed=1) as run:
        with pytest.raises(UsageError, match="still running"):
            Registry().delete(run.id, "too early")
    Registry().delete(run.id, "fine once it ended")
    assert Registry().audit().ok


def test_a_crashed_run_can_be_deleted_and_the_audit_does_not_list_it_as_open(runs, backend):
    execute("UPDATE runs SET status = 'crashed' WHERE id = :id", id=runs[0])
    engine = engines.engine_for(Registry().url)
    with engine.begin() as conn:  # rebuild the chain without that run's link, as if it had crashed
        from seedreg.db import direct
        from seedreg.integrity import chain

        conn.execute(text("DELETE FROM chain"))
        conn.execute(text("UPDATE chain_head SET count = 0, head = ''"))
        for run_id in runs[1:]:
            with direct.on(conn) as cursor:
                chain.append(cursor, run_id, chain.stored_digest(conn, run_id))
    assert [run_id for run_id, _ in Registry().audit().open_runs] == [runs[0]]
    Registry().delete(runs[0], "crashed half way")
    report = Registry().audit()
    assert report.ok and report.open_runs == [] and report.tombstones == 1


@pytest.mark.sqlite_only
def test_downgrade_below_0004_is_refused_while_deletions_are_chained(runs, registry_path):
    from alembic import command
    from alembic.config import Config

    from seedreg.db import schema

    config = Config()
    config.set_main_option("script_location", schema.migrations_location())
    config.set_main_option("sqlalchemy.url", f"sqlite:///{registry_path}")
    config.attributes["configure_logging"] = False
    engines.forget(Registry().url)
    command.downgrade(config, "0003")  # no tombstone yet: the old schema holds everything
    command.upgrade(config, "head")
    assert Registry().audit().ok
    Registry().delete(runs[0], "bad")
    engines.forget(Registry().url)
    with pytest.raises(RuntimeError, match="deletion"):
        command.downgrade(config, "0003")
    assert Registry().revision() == schema.HEAD and Registry().audit().ok
