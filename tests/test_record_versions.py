"""Versioned audit records (DESIGN §3): frozen builders pinned by golden vectors, each link verified
by its own version, and chains written before a new version still verifying after it."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

import seedreg
from seedreg.db import engines, schema
from seedreg.integrity import chain, record_v1

RUN = {
    "id": "0" * 31 + "1", "experiment": "golden", "status": "completed", "seed": "101", "seed_kind": "int",
    "seed_source": "given", "spawn_key": "[]", "parent_id": None, "replay_of": None, "replay_session": None,
    "block_index": 0, "started_at": datetime(2026, 1, 2, 3, 4, 5, 6), "ended_at": datetime(2026, 1, 2, 3, 4, 6),
    "duration": 0.5, "error": None, "rng_digest": "blake3:" + "a" * 64, "generator_used": True,
    "numpy_version": "2.4.6", "python_version": "3.11.7", "libraries": "{}", "hostname": "h", "username": "u",
    "pid": 7, "process_started": 1.5e9, "executable": "/usr/bin/python3", "argv": '["x.py"]',
    "command": '["/usr/bin/python3", "x.py"]', "cwd": "/w", "launch": "script", "script_path": "/w/x.py",
    "script_digest": None, "pythonhashseed": None, "git_commit": None, "git_dirty": None,
    "seeders": None, "notebook": '{"path": "/w/n.ipynb"}', "invocation": None,
}
FP = {"name": "order", "seq": 0, "algorithm": "blake3", "digest": "b" * 64, "kind": "ndarray", "dtype": "<i8",
      "shape": "[10]", "chunk_elems": 10, "chunks": bytes(32), "kept": False}
PARTS = chain.Parts(RUN, "e" * 64, [["lr", "float", "0.1"]], [["stage", "str", "prep"]], [FP],
                    [["score", "float", "0.93"]])

#: Pinned: if one of these changes, every chain written with that version stops verifying.
GOLDEN_V1 = "blake3:c2a184354329c28c748d6a57c52d909d2ca638ee8e8342e3d0f0cbd3267eee7f"  # = the pre-version code
GOLDEN_V2 = "blake3:90eb3ff924fea80764a6a71a1b8ac926b4b4ec1b67fa1132fb12eef2fe4c1e1b"


def test_version_1_is_frozen_by_its_golden_vector():
    assert chain.digest_of(PARTS, 1) == GOLDEN_V1
    # version 1 covers neither results nor the fields version 2 adds
    assert chain.digest_of(PARTS._replace(results=[], run={**RUN, "notebook": None}), 1) == GOLDEN_V1
    assert chain.digest_of(PARTS, 1) == record_v1.digest(
        record_v1.canonical(RUN, "e" * 64, PARTS.params, PARTS.tags, [FP]))


def test_version_2_is_pinned_and_covers_results_and_the_new_run_fields():
    assert chain.digest_of(PARTS, 2) == GOLDEN_V2
    assert chain.digest_of(PARTS._replace(results=[["score", "float", "0.94"]]), 2) != GOLDEN_V2
    assert chain.digest_of(PARTS._replace(run={**RUN, "notebook": None}), 2) != GOLDEN_V2
    assert chain.digest_of(PARTS._replace(run={**RUN, "invocation": "{}"}), 2) != GOLDEN_V2
    assert chain.digest_of(PARTS._replace(run={**RUN, "seeders": "{}"}), 2) != GOLDEN_V2
    assert chain.RECORD_VERSION == 2


def test_an_unknown_version_is_refused():
    with pytest.raises(ValueError, match="record version 9"):
        chain.digest_of(PARTS, 9)


def _alembic(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", schema.migrations_location())
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def test_a_chain_of_version_1_links_still_verifies_after_version_2_links_follow(registry_path):
    """Runs chained under version 1 (by migration 0002), then new runs under version 2: audit passes,
    and an edit of either kind of record is still caught."""
    url = f"sqlite:///{registry_path}"
    command.upgrade(_alembic(url), "0001")
    with sqlite3.connect(registry_path) as conn:
        conn.execute("INSERT INTO environments (id, digest, python_version, python_implementation, platform, "
                     "machine, packages, created_at) VALUES (1, 'e', '3.11', 'CPython', 'Linux', 'x86_64', '{}', "
                     "'2026-01-01 00:00:00')")
        for i in range(2):
            conn.execute(
                "INSERT INTO runs (id, experiment, status, seed, seed_kind, seed_source, spawn_key, block_index, "
                "started_at, ended_at, environment_id, python_version, libraries, hostname, pid, executable, "
                "argv, cwd, launch) VALUES (?, 'old', 'completed', ?, 'int', 'given', '[]', 0, "
                "'2026-01-01 00:00:0' || ?, '2026-01-01 00:00:0' || ?, 1, '3.11', '{}', 'elsewhere', 1, "
                "'python', '[]', '/', 'script')", (f"{i:032x}", str(i), i, i + 1))
            conn.execute("INSERT INTO params (run_id, key, value_type, text, num) VALUES (?, 'lr', 'float', "
                         "'0.1', 0.1)", (f"{i:032x}",))
    assert seedreg.Registry().upgrade() == ("0001", schema.HEAD)
    with seedreg.run("new", seed=5, params={"lr": 0.2}) as run:
        run.log("x", [1, 2, 3])
    report = seedreg.Registry().audit()
    assert report.ok, report.findings
    with sqlite3.connect(registry_path) as conn:
        versions = [v for (v,) in conn.execute("SELECT record_version FROM chain ORDER BY seq")]
    assert versions == [1, 1, 2]

    with sqlite3.connect(registry_path) as conn:
        conn.execute("UPDATE params SET text = '0.3' WHERE run_id = ?", (f"{0:032x}",))
        conn.execute("UPDATE runs SET experiment = 'edited' WHERE id = ?", (run.id,))
    findings = {f.run_id: f.kind for f in seedreg.Registry().audit().findings}
    assert findings == {f"{0:032x}": "edited", run.id: "edited"}


def test_a_link_of_a_version_this_seedreg_does_not_know_is_a_finding(registry_path):
    with seedreg.run("x", seed=1):
        pass
    with sqlite3.connect(registry_path) as conn:
        conn.execute("UPDATE chain SET record_version = 7")
    [finding] = seedreg.Registry().audit().findings
    assert finding.kind == "chain" and "record version 7" in finding.message and "upgrade seedreg" in finding.message


def test_0006_adds_results_notebook_invocation_and_the_sweep_source_keeping_rows(backend):
    """Upgrade 0005 -> 0006 and back, with runs kept and audited; `sweep` is a seed source only from 0006."""
    with seedreg.run("kept", seed=3, params={"lr": 0.1}) as run:
        run.log("x", [1])  # not a real number: a result would not survive the downgrade to 0005
    registry = seedreg.Registry()
    url = registry.url
    before = [r.to_json() for r in registry.runs()]
    config = _alembic(url)
    engines.forget(url)
    command.downgrade(config, "0005")
    engine = create_engine(url)
    with pytest.raises(IntegrityError, match="(?i)check"), engine.begin() as conn:
        conn.execute(text("UPDATE runs SET seed_source = 'sweep'"))
    engine.dispose()
    command.upgrade(config, "head")
    engines.forget(url)
    assert [r.to_json() for r in seedreg.Registry().runs()] == before
    assert seedreg.Registry().audit().ok
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO results (run_id, name, value_type, text, num) VALUES (:id, 's', 'float', "
                          "'0.5', 0.5)"), {"id": run.id})
        conn.execute(text("UPDATE runs SET notebook = '{}', invocation = '{}'"))
    with pytest.raises(IntegrityError, match="(?i)check"), engine.begin() as conn:
        conn.execute(text("UPDATE runs SET seed_source = 'bogus'"))
    with engine.begin() as conn:
        conn.execute(text("UPDATE runs SET seed_source = 'sweep'"))
    engine.dispose()
    engines.forget(url)
    with pytest.raises(RuntimeError, match="seedreg sweep"):
        command.downgrade(config, "0005")  # sweep runs cannot be held by 0005


def test_export_lines_carry_their_record_version_and_old_lines_import_as_version_1(registry_path, tmp_path):
    from click.testing import CliRunner
    from synthetic import line

    from seedreg.cli import cli

    with seedreg.run("new", seed=5) as run:
        run.log("x", [1])  # no result: under version 1's rules only its digest can refuse it
    exported = CliRunner().invoke(cli, ["export"], catch_exceptions=False).stdout.splitlines()
    assert json.loads(exported[0])["record_version"] == chain.RECORD_VERSION
    other = tmp_path / "other.db"
    source = tmp_path / "lines.jsonl"
    source.write_text("\n".join([*exported, line()]) + "\n")  # line(): the format before versions
    done = CliRunner().invoke(cli, ["import", str(source), "--db", str(other), "--json"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["imported"] == 2
    assert seedreg.Registry(other).audit().ok
    with sqlite3.connect(other) as conn:
        versions = sorted(v for (v,) in conn.execute("SELECT record_version FROM chain"))
    assert versions == [1, 2]
    tampered = json.loads(exported[0])
    tampered["record_version"] = 1  # the same content under another version's rules does not verify
    source.write_text(json.dumps(tampered) + "\n")
    third = tmp_path / "third.db"
    refused = CliRunner().invoke(cli, ["import", str(source), "--db", str(third)])
    assert refused.exit_code == 2 and "record digest" in refused.output
