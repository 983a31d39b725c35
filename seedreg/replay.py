"""Replay: re-execute a run's command with its recorded seeds, then compare block by block.

Two sides. In the ``seedreg replay`` process, :func:`plan` and :func:`execute` run the
recorded command as a subprocess (never a shell) with ``SEEDREG_REPLAY`` (the root run),
``SEEDREG_REPLAY_DB`` (this registry) and ``SEEDREG_REPLAY_SESSION`` in its environment.
In the replayed process, :func:`substitute` gives each with-block its original's seed: the
k-th root block the original k-th root block's, a child block the original child's with the
same spawn key under the original parent.
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

from sqlalchemy import Engine, and_, select

from . import database, seeding
from .compare import BlockComparison, compare_block
from .errors import NotReplayableError
from .models import ReplayVerdict, Run

if TYPE_CHECKING:
    from .records import RunRecord
    from .registry import Registry

REPLAY_ENV = "SEEDREG_REPLAY"
SESSION_ENV = "SEEDREG_REPLAY_SESSION"


# -- in the replayed process -------------------------------------------------------------


def active() -> str | None:
    """The root run being replayed in this process, if any."""
    return os.environ.get(REPLAY_ENV) or None


def session() -> str | None:
    return os.environ.get(SESSION_ENV) or None


_originals: dict[tuple[str, str], list[Any]] = {}


def _original_roots(engine: Engine, root_id: str) -> list[Any]:
    """The original process's root blocks, in order (read once per replayed process)."""
    key = (str(engine.url), root_id)
    if key not in _originals:
        with engine.connect() as conn:
            root = conn.execute(
                select(Run.hostname, Run.pid, Run.process_started).where(Run.id == root_id)
            ).one_or_none()
            if root is None:
                raise NotReplayableError(f"{REPLAY_ENV}={root_id} is not a run of this registry")
            started = (Run.process_started.is_(None) if root.process_started is None
                       else Run.process_started == root.process_started)
            _originals[key] = conn.execute(
                select(Run.id, Run.seed, Run.seed_kind, Run.spawn_key)
                .where(Run.hostname == root.hostname, Run.pid == root.pid, started,
                       Run.parent_id.is_(None), Run.replay_of.is_(None))
                .order_by(Run.block_index)
            ).all()
    return _originals[key]


def substitute(engine: Engine, seed: seeding.Seed, parent: str | None, block_index: int) -> tuple[seeding.Seed, str | None]:
    """The seed a block takes in a replay, and the original it replays (None: an extra block)."""
    root_id = active()
    assert root_id is not None
    if parent is None:
        originals = _original_roots(engine, root_id)
        if block_index >= len(originals):
            return seed, None
        original = originals[block_index]
    else:
        with engine.connect() as conn:
            original_parent = conn.execute(select(Run.replay_of).where(Run.id == parent)).scalar()
            if original_parent is None:
                return seed, None
            original = conn.execute(
                select(Run.id, Run.seed, Run.seed_kind, Run.spawn_key).where(
                    and_(Run.parent_id == original_parent, Run.spawn_key == json.dumps(list(seed.spawn_key)),
                         Run.replay_of.is_(None))
                ).order_by(Run.started_at).limit(1)
            ).one_or_none()
        if original is None:
            return seed, None
    replayed = seeding.parse(original.seed, original.seed_kind, json.loads(original.spawn_key)).replayed()
    return replayed, original.id


# -- in the `seedreg replay` process --------------------------------------------------------


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


def _root_of(registry: Registry, record: RunRecord) -> RunRecord:
    seen = set()
    while record.parent is not None and record.parent not in seen:
        seen.add(record.id)
        record = registry.get(record.parent)
    return record


def plan(registry: Registry, ref: str | None) -> ReplayPlan:
    """Resolve the run (a replay stands for its original) and build the command to re-execute."""
    asked = registry.last() if ref is None else registry.get(ref)
    if asked.replay_of:
        asked = registry.get(asked.replay_of)
    elif asked.replay_session:
        raise NotReplayableError(
            f"run {asked.id[:12]} is a block a replay added (it has no original): replay the run that replay was of"
        )
    root = _root_of(registry, asked)
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
    env.update({REPLAY_ENV: root.id, database.REPLAY_DB_ENV: registry.url})
    return ReplayPlan(asked, root, argv, root.cwd, env, notes)


def execute(registry: Registry, replay_plan: ReplayPlan) -> ReplayResult:
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
    blocks = compare_session(registry, replay_plan.root, session_id)
    blocks.sort(key=lambda b: 0 if (b.original and b.original.id == replay_plan.asked.id) else 1)
    store_verdicts(registry, session_id, blocks)
    return ReplayResult(replay_plan, session_id, done.returncode, blocks)


def _fileno(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError, AttributeError):
        return None


def original_blocks(registry: Registry, root: RunRecord) -> list[RunRecord]:
    """The original process's root blocks and all their descendants (workers included)."""
    engine = registry.engine()
    roots = [row.id for row in _original_roots(engine, root.id)]
    ids, frontier = list(roots), list(roots)
    with engine.connect() as conn:
        while frontier:
            children = list(conn.execute(
                select(Run.id).where(Run.parent_id.in_(frontier), Run.replay_of.is_(None))
                .order_by(Run.started_at)).scalars())
            ids += children
            frontier = children
    return [registry.get(run_id) for run_id in ids]


def compare_session(registry: Registry, root: RunRecord, session_id: str) -> list[BlockComparison]:
    """Pair every original block with the run the replay session made for it, and compare."""
    from . import store

    originals = original_blocks(registry, root)
    with registry.engine().connect() as conn:
        made = list(conn.execute(select(Run.id).where(Run.replay_session == session_id).order_by(Run.started_at)).scalars())
    replays = [registry.get(run_id) for run_id in made]
    by_original = {r.replay_of: r for r in replays if r.replay_of}

    def kept(original_fp: Any, replay_fp: Any) -> tuple[Any, Any]:
        return store.load(registry.url, original_fp.hexdigest), store.load(registry.url, replay_fp.hexdigest)

    blocks = [compare_block(original, by_original.get(original.id), kept) for original in originals]
    blocks += [compare_block(None, r) for r in replays if not r.replay_of]
    return blocks


def store_verdicts(registry: Registry, session_id: str, blocks: list[BlockComparison]) -> None:
    """One row per block in the replays table; the chained runs stay untouched."""
    rows = [
        {"session": session_id, "original_id": b.original.id if b.original else None,
         "replay_id": b.replay.id if b.replay else None, "verdict": b.verdict,
         "details": json.dumps(b.to_json()), "created_at": database.utcnow()}
        for b in blocks
    ]
    if not rows:
        return

    def work() -> None:
        with database.write(registry.engine()) as conn:
            conn.execute(ReplayVerdict.__table__.insert(), rows)

    database.retrying(work)
