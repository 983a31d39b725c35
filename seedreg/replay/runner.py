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
from seedreg.db.models import ReplayVerdict, RunRow
from seedreg.errors import NotReplayableError
from seedreg.recording.substitution import REPLAY_ENV, SESSION_ENV, original_roots
from seedreg.registry import reads
from seedreg.replay.compare import BlockComparison, compare_block

if TYPE_CHECKING:
    from seedreg.records import RunRecord



@dataclass
class ReplayPlan:
    """What a replay will run: the command, where, with which environment, for which blocks."""

    asked: RunRecord
    root: RunRecord
    argv: list[str]
    cwd: str
    env: dict[str, str]
    notes: list[str] = field(default_factory=list)


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


def plan(engine: Engine, url: str, asked: RunRecord) -> ReplayPlan:
    """The command that re-executes ``asked`` (a replay stands for its original) on registry ``url``."""
    if asked.replay_of:
        asked = _get(engine, asked.replay_of)
    elif asked.replay_session:
        raise NotReplayableError(
            f"run {asked.id[:12]} is a block a replay added (it has no original): replay the run that replay was of"
        )
    root = _root_of(engine, asked)
    if not root.replayable:
        how = "a REPL, a notebook or `python -c`"
        raise NotReplayableError(
            f"run {root.id[:12]} was recorded from {how}: there is no command to re-execute "
            "(its record still audits; re-run its code yourself)"
        )
    if not Path(root.cwd).is_dir():
        raise NotReplayableError(f"run {root.id[:12]} ran in {root.cwd}, which no longer exists")
    argv = list(root.command or [])
    notes = []
    if not Path(argv[0]).exists():
        notes.append(f"the recorded interpreter {argv[0]} no longer exists: using {sys.executable}")
        argv[0] = sys.executable
    env = {key: value for key, value in os.environ.items() if key != "PYTHONHASHSEED"}
    if root.pythonhashseed is not None:
        env["PYTHONHASHSEED"] = root.pythonhashseed
    env.update({REPLAY_ENV: root.id, engines.REPLAY_DB_ENV: url})
    return ReplayPlan(asked, root, argv, root.cwd, env, notes)


def execute(engine: Engine, url: str, replay_plan: ReplayPlan) -> ReplayResult:
    """Run the planned command (its output goes to stderr), then compare and store verdicts."""
    session_id = uuid.uuid4().hex
    env = {**replay_plan.env, SESSION_ENV: session_id}
    out = _fileno(sys.stderr)
    try:
        if out is None:  # stderr is not a file (e.g. click's CliRunner): relay the output
            done = subprocess.run(replay_plan.argv, cwd=replay_plan.cwd, env=env, capture_output=True,
                                  text=True, check=False)
            sys.stderr.write(done.stdout + done.stderr)
        else:
            done = subprocess.run(replay_plan.argv, cwd=replay_plan.cwd, env=env, stdout=out, check=False)
    except OSError as error:
        raise NotReplayableError(f"cannot start {replay_plan.argv[0]}: {error.strerror or error}") from None
    blocks = compare_session(engine, url, replay_plan.root, session_id)
    blocks.sort(key=lambda b: 0 if (b.original and b.original.id == replay_plan.asked.id) else 1)
    store_verdicts(engine, session_id, blocks)
    return ReplayResult(replay_plan, session_id, done.returncode, blocks)


def _fileno(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError, AttributeError):
        return None


def original_blocks(engine: Engine, root: RunRecord) -> list[RunRecord]:
    """The original process's root blocks and all their descendants (workers included)."""
    roots = [row.id for row in original_roots(engine, root.id)]
    ids, frontier = list(roots), list(roots)
    with engine.connect() as conn:
        while frontier:
            children = list(conn.execute(
                select(RunRow.id).where(RunRow.parent_id.in_(frontier), RunRow.replay_of.is_(None))
                .order_by(RunRow.started_at)).scalars())
            ids += children
            frontier = children
        return [reads.get(conn, run_id) for run_id in ids]


def compare_session(engine: Engine, url: str, root: RunRecord, session_id: str) -> list[BlockComparison]:
    """Pair every original block with the run the replay session made for it, and compare."""
    from seedreg.fingerprints import kept_arrays

    originals = original_blocks(engine, root)
    with engine.connect() as conn:
        made = conn.execute(select(RunRow.id).where(RunRow.replay_session == session_id).order_by(RunRow.started_at))
        replays = [reads.get(conn, run_id) for run_id in made.scalars().all()]
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
            conn.execute(ReplayVerdict.__table__.insert(), rows)

    engines.retrying(work)
