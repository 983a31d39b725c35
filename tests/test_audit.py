"""``seedreg audit`` (DESIGN §3): the chain over closed runs catches edits, deletions and
insertions made with ``sqlite3`` on the registry file, exactly as an attacker would."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from helpers import invoke, run_python, seedreg_cli
from sqlalchemy import select

import seedreg
from seedreg.db import engines
from seedreg.db.tables import chain_table
from seedreg.integrity import chain

PY = sys.executable
FORGED_DIGEST = "0" * 64


# -- helpers -------------------------------------------------------------------------------


def audit_json(*args: str) -> tuple[Result, dict]:
    result = invoke("audit", *args, "--json")
    return result, json.loads(result.stdout)


def query(db: Path, sql: str, *args) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def tamper(db: Path, *statements: tuple) -> None:
    """Change the registry file behind seedreg's back: a plain sqlite3 connection (foreign keys off)."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (0,)
        for sql, *args in statements:
            conn.execute(sql, args)
        conn.commit()
    finally:
        conn.close()


def head(db: Path) -> tuple[int, str]:
    [(count, digest)] = query(db, "SELECT count, head FROM chain_head")
    return count, digest


def record(n: int = 3, start: int = 0) -> list[str]:
    """``n`` closed runs with params, tags and fingerprints, recorded in this process."""
    ids = []
    for k in range(start, start + n):
        with seedreg.run("audited", seed=k + 1, params={"lr": 0.1 * (k + 1), "model": {"depth": k}},
                         tags={"stage": "prep"}) as run:
            run.log("x", np.random.rand(16))
            run.log("y", run.rng.integers(0, 9, size=4))
        ids.append(run.id)
    return ids


def assert_user_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ")
    for fragment in fragments:
        assert fragment in line, (fragment, line)


# -- a clean registry ----------------------------------------------------------------------------


def test_clean_registry_passes_and_prints_the_head(registry_path):
    record(3)
    count, digest = head(registry_path)
    assert count == 3 and digest.startswith("blake3:")

    result = invoke("audit")
    assert result.exit_code == 0, result.output
    assert f"head {digest}" in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1] == "OK"

    result, data = audit_json()
    assert result.exit_code == 0
    assert data["ok"] is True and data["head"] == digest
    assert data["chain_length"] == data["checked"] == 3
    assert data["findings"] == [] and data["open_runs"] == []

    done = seedreg_cli("audit")
    assert done.returncode == 0, done.stderr
    assert digest in done.stdout


def test_a_record_digested_from_what_the_block_wrote_is_the_record_read_back(backend, tmp_path):
    """A close digests the run's record from the values it wrote (no read-back): for every kind of
    value, the digest in the chain is the one the audit recomputes from the stored rows."""
    with seedreg.run("written", seed=(3, 5), params={"i": 1, "f": 0.1, "b": True, "none": None, "s": "é x",
                                                    "list": [1, 2.5, "a"], "nest": {"deep": {"k": -7}}},
                     tags={"stage": "prep", "n": 2}) as parent:
        parent.log("array", parent.rng.normal(size=(40, 3)), keep=False)
        parent.log("int", 3)
        parent.log("float", 0.25)
        parent.log("nan", float("nan"))
        parent.log("value", {"a": [1, 2], "b": None})
        with seedreg.run("written.child", seed=parent.spawn(1)[0], parent=parent) as child:
            child.log("strings", np.array(["a", "bb"], dtype=object))
    with pytest.raises(ZeroDivisionError), seedreg.run("written", seed=2**70) as failed:
        failed.log("before", 1.5)
        1 / 0
    engine = engines.engine_for(engines.resolve_url())
    with engine.connect() as conn:
        for run in (parent, child, failed):
            (stored,) = conn.execute(select(chain_table.c.record_digest).where(chain_table.c.run_id == run.id)).one()
            assert stored == chain.digest_of(chain.load_records(conn, [run.id])[run.id]), run.experiment
    result, report = audit_json()
    assert result.exit_code == 0, result.output
    assert report["ok"] is True


def test_empty_registry_passes(registry_path):
    assert invoke("db", "upgrade").exit_code == 0
    result, data = audit_json()
    assert result.exit_code == 0
    assert data["ok"] and data["chain_length"] == 0 and data["head"] == ""
    assert "head (empty chain)" in invoke("audit").stdout


def test_audit_never_creates_a_registry(registry_path):
    assert_user_error(invoke("audit"), str(registry_path))
    assert not registry_path.exists()


# -- tampering -------------------------------------------------------------------------------------


def _edit_fingerprint(victim):
    return [("UPDATE fingerprints SET digest = ? WHERE run_id = ? AND name = 'x'", FORGED_DIGEST, victim)]


def _edit_seed(victim):
    return [("UPDATE runs SET seed = '99' WHERE id = ?", victim)]


def _edit_param(victim):
    return [("UPDATE params SET text = '0.5', num = 0.5 WHERE run_id = ? AND key = 'lr'", victim)]


def _edit_tag(victim):
    return [("UPDATE tags SET text = 'final' WHERE run_id = ? AND key = 'stage'", victim)]


def _edit_status(victim):
    return [("UPDATE runs SET status = 'failed', error = 'made up' WHERE id = ?", victim)]


def _delete_run(victim):
    return [(f"DELETE FROM {table} WHERE run_id = ?", victim) for table in ("fingerprints", "params", "tags")] + [
        ("DELETE FROM runs WHERE id = ?", victim)]


def _edit_link(victim):
    return [("UPDATE chain SET link_digest = ? WHERE run_id = ?", "blake3:" + FORGED_DIGEST, victim)]


def _edit_record_digest(victim):
    return [("UPDATE chain SET record_digest = ? WHERE run_id = ?", "blake3:" + FORGED_DIGEST, victim)]


@pytest.mark.parametrize(("change", "kind"), [
    (_edit_fingerprint, "edited"),
    (_edit_seed, "edited"),
    (_edit_param, "edited"),
    (_edit_tag, "edited"),
    (_edit_status, "edited"),
    (_delete_run, "deleted"),
    (_edit_link, "chain"),
    (_edit_record_digest, "edited"),
], ids=lambda v: getattr(v, "__name__", v).strip("_"))
def test_tampering_is_caught_by_run_id(registry_path, change, kind):
    first, victim, last = record(3)
    assert invoke("audit").exit_code == 0

    tamper(registry_path, *change(victim))

    result = invoke("audit")
    assert result.exit_code == 1, result.output
    assert victim in result.stdout and "FAILED" in result.stdout
    result, data = audit_json()
    assert result.exit_code == 1 and data["ok"] is False
    assert {"kind": kind, "run": victim} in [{"kind": f["kind"], "run": f["run"]} for f in data["findings"]]
    # only the victim, and for a forged link the link after it, are named
    assert {f["run"] for f in data["findings"]} <= {victim, last}
    assert first not in result.stdout


@pytest.mark.parametrize("sql", [
    "UPDATE environments SET platform = 'Forged-OS'",
    "UPDATE environments SET packages = '{\"numpy\":\"1.0.0\"}'",
    "UPDATE environments SET digest = '" + FORGED_DIGEST + "'",
], ids=["platform", "packages", "digest"])
def test_editing_the_shared_environment_row_is_caught_for_every_run_using_it(registry_path, sql):
    runs = record(2)
    tamper(registry_path, (sql,))

    result, data = audit_json()

    assert result.exit_code == 1, result.output
    assert sorted((f["kind"], f["run"]) for f in data["findings"]) == sorted(("edited", r) for r in runs)


def test_deleting_a_link_in_the_middle_is_caught(registry_path):
    _, victim, last = record(3)
    tamper(registry_path, ("DELETE FROM chain WHERE run_id = ?", victim), *_delete_run(victim))

    result, data = audit_json()

    assert result.exit_code == 1
    kinds = [(f["kind"], f["run"]) for f in data["findings"]]
    assert ("deleted", None) in kinds and ("chain", last) in kinds
    assert "chain links 2..2 were deleted" in invoke("audit").stdout


def test_tampering_is_caught_by_the_real_command(registry_path):
    _, victim, _ = record(3)
    tamper(registry_path, *_edit_seed(victim))
    done = seedreg_cli("audit")
    assert done.returncode == 1
    assert f"run {victim} was edited" in done.stdout


def test_deleting_the_newest_run_and_its_link_is_caught_by_the_head(registry_path):
    *_, newest = record(3)
    tamper(registry_path, ("DELETE FROM chain WHERE run_id = ?", newest), *_delete_run(newest))

    result, data = audit_json()

    assert result.exit_code == 1
    assert [f["kind"] for f in data["findings"]] == ["head"]
    assert data["chain_length"] == 3 and data["checked"] == 2
    assert "head" in invoke("audit").stdout


def test_a_forged_closed_run_is_reported_as_inserted(registry_path):
    _, model, _ = record(3)
    columns = [row[1] for row in query(registry_path, "PRAGMA table_info(runs)")]
    forged = "f" * 32
    select = ", ".join("?" if c == "id" else c for c in columns)
    tamper(registry_path, (f"INSERT INTO runs ({', '.join(columns)}) SELECT {select} FROM runs WHERE id = ?",
                           forged, model))
    assert query(registry_path, "SELECT status FROM runs WHERE id = ?", forged) == [("completed",)]

    result, data = audit_json()

    assert result.exit_code == 1
    assert [(f["kind"], f["run"]) for f in data["findings"]] == [("inserted", forged)]
    assert forged in invoke("audit").stdout


# -- open runs ---------------------------------------------------------------------------------------


def test_crashed_and_running_runs_are_listed_apart_not_findings(tmp_path, registry_path):
    record(1)
    crash = tmp_path / "crash.py"
    crash.write_text(textwrap.dedent("""
        import os
        import numpy as np
        import seedreg

        with seedreg.run("crash", seed=1) as run:
            run.log("x", np.random.rand(4))
            print("RUN", run.id, flush=True)
            seedreg.Registry().get(run.id)  # its writes are committed: this process reads its own registry
            os._exit(1)
    """))
    done = run_python(crash, check=False)
    assert done.returncode == 1
    crashed = done.stdout.split()[1]

    waiting = tmp_path / "waiting.py"
    waiting.write_text(textwrap.dedent("""
        import sys
        import seedreg

        with seedreg.run("waiting", seed=2) as run:
            seedreg.Registry().get(run.id)  # its writes are committed: this process reads its own registry
            print("RUN", run.id, flush=True)
            sys.stdin.readline()
    """))
    process = subprocess.Popen([PY, str(waiting)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        running = process.stdout.readline().split()[1]

        result, data = audit_json()
        assert result.exit_code == 0, result.output
        assert data["ok"] and data["findings"] == []
        assert sorted(data["open_runs"], key=lambda r: r["status"]) == [
            {"id": crashed, "status": "crashed"}, {"id": running, "status": "running"}]
        text = invoke("audit").stdout
        assert f"{crashed} is crashed" in text and f"{running} is running" in text
    finally:
        process.communicate("\n", timeout=60)
    assert process.returncode == 0

    record(1, start=5)  # the next with-block persists the crash; the closed run is chained
    assert query(registry_path, "SELECT status FROM runs WHERE id = ?", crashed) == [("crashed",)]
    result, data = audit_json()
    assert result.exit_code == 0
    assert data["open_runs"] == [{"id": crashed, "status": "crashed"}]
    assert data["chain_length"] == 3



def test_a_dead_run_is_crashed_in_audit_as_in_list_before_anything_persists_it(tmp_path, registry_path):
    """Audit asks liveness like list and show do: a run still marked running whose process died is crashed."""
    crash = tmp_path / "crash.py"
    crash.write_text("import os, seedreg\nwith seedreg.run('crash', seed=1) as run:\n"
                     "    print(run.id, flush=True)\n    seedreg.Registry().get(run.id)\n    os._exit(1)\n")  # open committed
    done = run_python(crash, check=False)
    run_id = done.stdout.split()[0]
    assert query(registry_path, "SELECT status FROM runs WHERE id = ?", run_id) == [("running",)]
    assert seedreg.Registry().get(run_id).status == "crashed"
    assert seedreg.Registry().audit().open_runs == [(run_id, "crashed")]
    assert seedreg.Registry().audit([run_id]).open_runs == [(run_id, "crashed")]
    assert f"{run_id} is crashed" in invoke("audit").stdout
    assert query(registry_path, "SELECT status FROM runs WHERE id = ?", run_id) == [("running",)]  # read only

# -- anchored heads ---------------------------------------------------------------------------------


def test_expect_head_passes_now_and_after_more_runs(registry_path):
    record(2)
    _, anchor = head(registry_path)

    result = invoke("audit", "--expect-head", anchor)
    assert result.exit_code == 0, result.output
    assert f"anchored head {anchor} verified" in result.stdout

    record(2, start=2)
    assert head(registry_path)[1] != anchor
    assert invoke("audit", "--expect-head", anchor).exit_code == 0
    bare = anchor.removeprefix("blake3:")
    assert invoke("audit", "--expect-head", bare).exit_code == 0


def test_expect_head_fails_for_an_unknown_digest(registry_path):
    record(2)
    result, data = audit_json("--expect-head", "blake3:" + FORGED_DIGEST)
    assert result.exit_code == 1
    assert [f["kind"] for f in data["findings"]] == ["anchor"]


def test_expect_head_fails_when_a_run_before_it_was_edited(registry_path):
    first, _ = record(2)
    _, anchor = head(registry_path)
    later = record(1, start=2)[0]
    tamper(registry_path, *_edit_param(first))

    result, data = audit_json("--expect-head", anchor)
    assert result.exit_code == 1
    assert {f["kind"] for f in data["findings"]} == {"edited", "anchor"}

    # an edit after the anchor fails the audit, but the anchored part still verifies
    tamper(registry_path, ("UPDATE params SET text = '0.1', num = 0.1 WHERE run_id = ? AND key = 'lr'", first))
    assert invoke("audit").exit_code == 0
    tamper(registry_path, *_edit_tag(later))
    result, data = audit_json("--expect-head", anchor)
    assert result.exit_code == 1
    assert [(f["kind"], f["run"]) for f in data["findings"]] == [("edited", later)]


def test_expect_head_catches_a_rewritten_chain(registry_path):
    """Whoever rewrites every digest after an edit fools a plain audit, not an anchored one."""
    first, _ = record(2)
    _, anchor = head(registry_path)
    record(1, start=2)
    tamper(registry_path, *_edit_seed(first))

    engine = engines.engine_for(engines.resolve_url(registry_path))
    with engine.connect() as conn:
        records = chain.load_records(conn)
    links = query(registry_path, "SELECT seq, run_id FROM chain ORDER BY seq")
    statements, previous = [], ""
    for seq, run_id in links:
        digest = chain.digest_of(records[run_id])
        previous = chain.link_digest(previous, digest)
        statements.append(("UPDATE chain SET record_digest = ?, link_digest = ? WHERE seq = ?", digest, previous, seq))
    statements.append(("UPDATE chain_head SET head = ?", previous))
    tamper(registry_path, *statements)

    assert invoke("audit").exit_code == 0  # the whole chain was rewritten consistently
    result, data = audit_json("--expect-head", anchor)
    assert result.exit_code == 1
    assert [f["kind"] for f in data["findings"]] == ["anchor"]


# -- auditing one run --------------------------------------------------------------------------------


def test_audit_one_run_checks_only_that_run_and_its_link(registry_path):
    first, victim, last = record(3)

    result, data = audit_json(victim[:8])
    assert result.exit_code == 0 and data["checked"] == 1

    tamper(registry_path, *_edit_fingerprint(first))
    assert invoke("audit", victim).exit_code == 0  # another run's edit is not this run's problem
    assert invoke("audit", first).exit_code == 1

    tamper(registry_path, *_edit_tag(victim))
    result, data = audit_json(victim)
    assert result.exit_code == 1
    assert [(f["kind"], f["run"]) for f in data["findings"]] == [("edited", victim)]
    assert invoke("audit", last).exit_code == 0


def test_audit_of_an_unknown_run_is_a_usage_error(registry_path):
    record(1)
    assert_user_error(invoke("audit", "abcdef12"), "abcdef12")
    assert_user_error(invoke("audit", "not-hex"), "not-hex")


# -- checking data files against a run ---------------------------------------------------------------


@pytest.fixture
def logged(tmp_path) -> tuple[str, np.ndarray]:
    """A run that logged a 2.4 MB array (~37 chunks) as "a" and a small one as "b"."""
    with seedreg.run("data", seed=4) as run:
        a = np.random.rand(300_000)
        run.log("a", a)
        run.log("b", np.arange(5))
    np.save(tmp_path / "a.npy", a)
    return run.id, a


def test_data_file_that_matches(logged, tmp_path):
    run_id, a = logged
    result = invoke("audit", run_id, "--data", "a=a.npy")
    assert result.exit_code == 0, result.output
    assert "data a = a.npy: ✓ matches" in result.stdout

    np.save(tmp_path / "big-endian.npy", np.asfortranarray(a.astype(">f8")))
    assert invoke("audit", run_id, "--data", "a=big-endian.npy", "--data", "a=a.npy").exit_code == 0


def test_data_file_with_one_changed_element_names_the_chunk(logged, tmp_path):
    run_id, a = logged
    changed = a.copy()
    changed[123_456] += 1.0
    np.save(tmp_path / "changed.npy", changed)
    chunk_elems = 64 * 1024 // 8
    chunk = 123_456 // chunk_elems

    result = invoke("audit", run_id, "--data", "a=changed.npy")
    assert result.exit_code == 1, result.output
    assert "✗ differs" in result.stdout and f"first differing chunk {chunk}:" in result.stdout

    result, data = audit_json(run_id, "--data", "a=changed.npy")
    assert result.exit_code == 1
    assert data["ok"] is True  # the record itself is intact: only the data file differs
    [check] = data["data"]
    assert check["matches"] is False and check["name"] == "a"
    assert check["where"] == {"kind": "chunk", "chunk": chunk, "elements": [chunk * chunk_elems, (chunk + 1) * chunk_elems],
                              "start_index": [chunk * chunk_elems]}


def test_data_for_a_name_the_run_did_not_log_is_a_usage_error(logged):
    run_id, _ = logged
    assert_user_error(invoke("audit", run_id, "--data", "nope=a.npy"), "'nope'")
    assert_user_error(invoke("audit", "--data", "a=a.npy"), "one RUN")
    assert_user_error(invoke("audit", run_id, "--data", "a.npy"), "NAME=PATH")
    assert_user_error(invoke("audit", run_id, "--data", "a=missing.npy"), "missing.npy")


class _Trap:
    """Unpickling this creates a marker file: proof that a file was unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (self.marker, "w")


def test_pickled_object_array_is_refused_and_never_unpickled(logged, tmp_path):
    run_id, _ = logged
    marker = tmp_path / "unpickled"
    trap = np.empty(2, dtype=object)
    trap[:] = [_Trap(str(marker)), _Trap(str(marker))]
    np.save(tmp_path / "trap.npy", trap, allow_pickle=True)

    assert_user_error(invoke("audit", run_id, "--data", "a=trap.npy"), "trap.npy")
    done = seedreg_cli("audit", run_id, "--data", "a=trap.npy")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert not marker.exists()

    np.load(tmp_path / "trap.npy", allow_pickle=True)  # the trap works: so the check above can fail
    assert marker.exists()


# -- concurrent chain appends ---------------------------------------------------------------------------


@pytest.mark.slow  # many processes
def test_concurrent_processes_lose_no_link(tmp_path, registry_path):
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent("""
        import os
        import sys
        import time
        from pathlib import Path

        import numpy as np
        import seedreg

        go, worker = Path(sys.argv[1]), int(sys.argv[2])
        Path(f"ready-{worker}").touch()
        while not go.exists():
            time.sleep(0.002)
        for k in range(10):
            with seedreg.run("concurrent", seed=[worker, k], params={"worker": worker, "k": k}) as run:
                run.log("x", np.random.rand(8))
    """))
    go = tmp_path / "go"
    env = {**os.environ, "SEEDREG_DB": str(registry_path)}
    processes = [subprocess.Popen([PY, str(script), str(go), str(w)], cwd=tmp_path, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(4)]
    try:
        while not all((tmp_path / f"ready-{w}").exists() for w in range(4)):
            assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
            time.sleep(0.01)
        go.touch()
    finally:
        outcomes = [p.communicate(timeout=240) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, outcomes

    result, data = audit_json()
    assert result.exit_code == 0, result.output
    assert data["chain_length"] == data["checked"] == 40
    assert [seq for (seq,) in query(registry_path, "SELECT seq FROM chain ORDER BY seq")] == list(range(1, 41))
    chained = {run_id for (run_id,) in query(registry_path, "SELECT run_id FROM chain")}
    assert chained == {run_id for (run_id,) in query(registry_path, "SELECT id FROM runs WHERE status = 'completed'")}
    assert len(chained) == 40
    assert sorted(query(registry_path, "SELECT count(*) FROM params WHERE key = 'worker' GROUP BY text")) == [(10,)] * 4
