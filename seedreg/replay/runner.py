"""Replay, in the ``seedreg replay`` process: re-execute a run's command, then compare block by block.

:func:`plan` and :func:`execute` run the recorded command as a subprocess (never a shell) with
``SEEDREG_REPLAY`` (the root run), ``SEEDREG_REPLAY_DB`` (this registry) and
``SEEDREG_REPLAY_SESSION`` in its environment; :mod:`seedreg.recording.substitution` gives the
blocks of that process their original seeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from seedreg.db import engines
from seedreg.db.tables import replay_table, run_table
from seedreg.errors import NotReplayableError, UsageError
from seedreg.recording.substitution import REPLAY_ENV, SESSION_ENV, original_roots
from seedreg.registry import reads
from seedreg.replay.compare import BlockComparison, compare_block

if TYPE_CHECKING:
    from seedreg.records import RunRecord
    from seedreg.replay.notebook import NotebookTarget



@dataclass
class ReplayPlan:
    """What a replay will run: the command, where, with which environment, for which blocks."""

    asked: RunRecord
    root: RunRecord
    argv: list[str]
    cwd: str
    env: dict[str, str]
    notes: list[str] = field(default_factory=list)
    #: For a notebook run: the notebook executed in a fresh kernel (``argv`` is the kernel's command).
    notebook: NotebookTarget | None = None
    #: A test's run (the pytest plugin): ``argv`` replays that one test (:mod:`seedreg.replay.test_runs`).
    test: bool = False


@dataclass
class ReplayResult:
    """The blocks compared, the replayed process's exit code, and the overall verdict."""

    plan: ReplayPlan
    session: str
    returncode: int
    blocks: list[BlockComparison]

    @property
    def identical(self) -> bool:
        return all(block.verdict == "identical" for block in self.blocks)

    @property
    def exit_code(self) -> int:
        return 0 if self.identical else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.plan.asked.id,
            "root": self.plan.root.id,
            "session": self.session,
            "command": self.plan.argv,
            "cwd": self.plan.cwd,
            "returncode": self.returncode,
            "verdict": "identical" if self.identical else "different",
            "notes": self.plan.notes,
            "blocks": [block.to_json() for block in self.blocks],
        }


def _get(engine: Engine, run_id: str) -> RunRecord:
    with engine.connect() as conn:
        return reads.get(conn, run_id)


def _root_of(engine: Engine, record: RunRecord) -> RunRecord:
    seen = set()
    while record.parent is not None and record.parent not in seen:
        seen.add(record.id)
        record = _get(engine, record.parent)
    return record


def plan(engine: Engine, url: str, asked: RunRecord, *, timeout: float | None = None,
         output: str | None = None) -> ReplayPlan:
    """The command that re-executes ``asked`` (a replay stands for its original) on registry ``url``;
    ``timeout`` (per cell) and ``output`` (the executed notebook) apply to a notebook run."""
    if asked.replay_of:
        asked = _get(engine, asked.replay_of)
    elif asked.replay_session:
        raise NotReplayableError(
            f"run {asked.id[:12]} is a block a replay added (it has no original): replay the run that replay was of"
        )
    root = _root_of(engine, asked)
    if root.launch == "notebook":  # DESIGN §8: the notebook top to bottom in a fresh kernel
        from seedreg.replay.notebook import plan_notebook

        return plan_notebook(asked, root, url, timeout=timeout, output=output)
    if "pytest.nodeid" in root.tags:  # a test's run (DESIGN §4): that one test, as `pytest --seedreg-replay`
        from seedreg.replay.test_runs import plan_test

        return plan_test(asked, root, url)
    if timeout is not None or output is not None:
        raise UsageError(f"--timeout and --output apply to notebook runs; run {root.id[:12]} is not one")
    if not root.replayable:
        how = ("code piped to `python -` (stdin)" if root.from_stdin else
               "a Jupyter kernel whose notebook was not found (`seedreg show` says how to name it)" if root.notebook
               else "a REPL, a notebook or `python -c`")
        raise NotReplayableError(
            f"run {root.id[:12]} was recorded from {how}: there is no command to re-execute "
            "(its record still audits; re-run its code yourself)"
        )
    if not Path(root.cwd).is_dir():
        raise NotReplayableError(f"run {root.id[:12]} ran in {root.cwd}, which no longer exists")
    argv = list(root.command or [])
    notes: list[str] = []
    argv[0] = interpreter(argv[0], notes)
    env = replay_environment(root, url)
    return ReplayPlan(asked, root, argv, root.cwd, env, notes)


def interpreter(recorded: str, notes: list[str]) -> str:
    """The recorded interpreter, or the current one (and a note saying so) when it no longer exists."""
    if Path(recorded).exists():
        return recorded
    notes.append(f"the recorded interpreter {recorded} no longer exists: using {sys.executable}")
    return sys.executable


def replay_environment(root: RunRecord, url: str) -> dict[str, str]:
    """This process's environment with the run's ``PYTHONHASHSEED`` (or none) and ``SEEDREG_REPLAY*``."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONHASHSEED"}
    if root.pythonhashseed is not None:
        env["PYTHONHASHSEED"] = root.pythonhashseed
    env.update({REPLAY_ENV: root.id, engines.REPLAY_DB_ENV: url})
    return env


def execute(engine: Engine, url: str, replay_plan: ReplayPlan) -> ReplayResult:
    """Run the planned command (its output goes to stderr), then compare and store verdicts."""
    if replay_plan.notebook is not None:  # a notebook run (DESIGN §8)
        from seedreg.replay.notebook import execute_notebook

        return execute_notebook(engine, url, replay_plan)
    if replay_plan.test:  # a test's run: its pytest process compares and stores the verdict
        from seedreg.replay.test_runs import execute_test

        return execute_test(engine, url, replay_plan)
    session_id = uuid.uuid4().hex
    done = run_command(replay_plan, {**replay_plan.env, SESSION_ENV: session_id})
    blocks = compare_session(engine, url, replay_plan.root, session_id)
    blocks.sort(key=lambda b: 0 if (b.original and b.original.id == replay_plan.asked.id) else 1)
    store_verdicts(engine, session_id, blocks)
    return ReplayResult(replay_plan, session_id, done.returncode, blocks)


def run_command(replay_plan: ReplayPlan, env: dict[str, str]) -> subprocess.CompletedProcess[Any]:
    """Run the planned command, never through a shell; its output goes to stderr (only its
    ``returncode`` is meant to be read: the output is relayed as text, or not captured)."""
    out = _fileno(sys.stderr)
    try:
        done: subprocess.CompletedProcess[Any]
        if out is None:  # stderr is not a file (e.g. click's CliRunner): relay the output
            done = subprocess.run(replay_plan.argv, cwd=replay_plan.cwd, env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, check=False)
            sys.stderr.write(done.stdout + done.stderr)
        else:  # never seedreg's stdin: it is the user's (their answer to the prompt, or a pipe)
            done = subprocess.run(replay_plan.argv, cwd=replay_plan.cwd, env=env, stdin=subprocess.DEVNULL,
                                  stdout=out, check=False)
    except OSError as error:
        raise NotReplayableError(f"cannot start {replay_plan.argv[0]}: {error.strerror or error}") from None
    return done


def _fileno(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError, AttributeError):
        return None


def original_blocks(engine: Engine, root: RunRecord, tree_only: bool = False) -> list[RunRecord]:
    """The original process's root blocks (with ``tree_only``, ``root`` alone) and all their
    descendants (workers included)."""
    roots = [root.id] if tree_only else [row.id for row in original_roots(engine, root.id)]
    ids, frontier = list(roots), list(roots)
    with engine.connect() as conn:
        while frontier:
            children = list(conn.execute(
                select(run_table.c.id).where(run_table.c.parent_id.in_(frontier), run_table.c.replay_of.is_(None))
                .order_by(run_table.c.started_at)).scalars())
            ids += children
            frontier = children
        return [reads.get(conn, run_id) for run_id in ids]


def compare_session(engine: Engine, url: str, root: RunRecord, session_id: str,
                    tree_only: bool = False) -> list[BlockComparison]:
    """Pair every original block with the run the replay session made for it, and compare; with
    ``tree_only`` (a notebook run, DESIGN §4) only ``root``'s block and its descendants."""
    from seedreg.fingerprints import kept_arrays

    originals = original_blocks(engine, root, tree_only)
    with engine.connect() as conn:
        made = conn.execute(select(run_table.c.id).where(run_table.c.replay_session == session_id).order_by(run_table.c.started_at))
        replays = [reads.get(conn, run_id) for run_id in made.scalars().all()]
    if tree_only:  # the replays of those originals, and blocks the replay added below them
        wanted = {original.id for original in originals}
        tree = {r.id for r in replays if r.replay_of in wanted}
        for r in replays:  # in started_at order: a parent before its children
            if r.parent in tree:
                tree.add(r.id)
        replays = [r for r in replays if r.id in tree]
    by_original = {r.replay_of: r for r in replays if r.replay_of}

    def kept(original_fp: Any, replay_fp: Any) -> tuple[Any, Any]:
        return kept_arrays.load(url, original_fp.hexdigest), kept_arrays.load(url, replay_fp.hexdigest)

    blocks = [compare_block(original, by_original.get(original.id), kept) for original in originals]
    blocks += [compare_block(None, r) for r in replays if not r.replay_of]
    return blocks


def store_verdicts(engine: Engine, session_id: str, blocks: list[BlockComparison]) -> None:
    """One row per block in the replays table; the chained runs stay untouched."""
    rows = [
        {"session": session_id, "original_id": b.original.id if b.original else None,
         "replay_id": b.replay.id if b.replay else None, "verdict": b.verdict,
         "details": json.dumps(b.to_json()), "created_at": engines.utcnow()}
        for b in blocks
    ]
    if not rows:
        return

    def work() -> None:
        with engines.write(engine) as conn:
            conn.execute(replay_table.insert(), rows)

    engines.retrying(work)
