"""``seedreg replay`` of a test's run (the pytest plugin): that one test, exactly as the command it recorded.

The command is ``python -m pytest`` with the arguments the run recorded (its invocation's
``replay``: the session's options a replay keeps, ``--seedreg-replay RUN`` and the test's
selection), in the session's directory. The plugin in that process runs the test by the run's
own seed scheme, compares it with the original and stores the verdict under this replay's
session; this side reads it back. Runs recorded before invocations were: the command they
printed, ``pytest --seedreg-replay RUN NODEID``, in their recorded directory.
"""

from __future__ import annotations

import os
import shlex
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from seedreg.db import engines
from seedreg.db.tables import replay_table
from seedreg.errors import NotReplayableError
from seedreg.recording.substitution import SESSION_ENV
from seedreg.registry import reads
from seedreg.replay.compare import compare_block

if TYPE_CHECKING:
    from seedreg.records import RunRecord
    from seedreg.replay.runner import ReplayPlan, ReplayResult


def plan_test(asked: RunRecord, root: RunRecord, url: str) -> ReplayPlan:
    """The pytest command that replays the test ``root`` is the run of (``asked`` may be one of its children)."""
    from seedreg.replay.runner import ReplayPlan

    recorded = root.invocation
    if recorded:
        args, cwd = list(recorded["replay"]), recorded["dir"]
    else:
        args, cwd = ["--seedreg-replay", root.id, str(root.tags["pytest.nodeid"])], root.cwd
    if not Path(cwd).is_dir():
        raise NotReplayableError(f"run {root.id[:12]} is a test run in {cwd}, which no longer exists")
    notes = []
    executable = root.executable
    if not Path(executable).exists():
        notes.append(f"the recorded interpreter {executable} no longer exists: using {sys.executable}")
        executable = sys.executable
    env = {key: value for key, value in os.environ.items() if key != "PYTHONHASHSEED"}
    if root.pythonhashseed is not None:
        env["PYTHONHASHSEED"] = root.pythonhashseed
    if recorded:
        env["PYTEST_ADDOPTS"] = shlex.join(recorded.get("addopts") or [])
    env[engines.REPLAY_DB_ENV] = url
    return ReplayPlan(asked, root, [executable, "-m", "pytest", *args], cwd, env, notes, test=True)


def execute_test(engine: Engine, url: str, replay_plan: ReplayPlan) -> ReplayResult:
    """Run the test's replay command (its output goes to stderr) and read back the verdict it stored."""
    from seedreg.fingerprints import kept_arrays
    from seedreg.replay.runner import ReplayResult, run_command

    session_id = uuid.uuid4().hex
    done = run_command(replay_plan, {**replay_plan.env, SESSION_ENV: session_id})
    test = replay_plan.root
    with engine.connect() as conn:
        stored = conn.execute(select(replay_table.c.replay_id).where(
            replay_table.c.session == session_id, replay_table.c.original_id == test.id)).first()
        if stored is None:  # pytest stopped before the test (not collected, a usage error, …)
            raise NotReplayableError(f"the test of run {test.id[:12]} could not be replayed: pytest exited with "
                                     f"code {done.returncode} before it ran (its output is above)")
        replayed = reads.get(conn, stored.replay_id) if stored.replay_id else None  # None: the test did not run
        original = reads.get(conn, test.id)

    def kept(a: Any, b: Any) -> tuple[Any, Any]:
        return kept_arrays.load(url, a.hexdigest), kept_arrays.load(url, b.hexdigest)

    # The verdict the plugin stored, computed again the same way (so nothing is stored twice).
    return ReplayResult(replay_plan, session_id, done.returncode, [compare_block(original, replayed, kept)])
