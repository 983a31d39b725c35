"""Inside a replayed process: each with-block takes the seed of the block it replays.

The k-th root block takes the original k-th root block's seed (of the same original process:
host, pid, start time); a child block (its parent a replayed run) takes the original child's
with the same spawn key under the original parent — in worker processes too, which inherit
``SEEDREG_REPLAY*`` from the replayed process. In a notebook's replay, a root block takes the
seed of the original root block that opened in the same cell, at the same occurrence in it.

Inside a seed's process of ``seedreg sweep`` (``SEEDREG_SWEEP*``), every root block takes the
sweep's seed and every block the sweep's tags. A replay's variables win over a sweep's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine, and_, select

from seedreg.db.tables import run_table
from seedreg.errors import InvalidSeedError, NotReplayableError, UsageError
from seedreg.seed import codec

REPLAY_ENV = "SEEDREG_REPLAY"
SESSION_ENV = "SEEDREG_REPLAY_SESSION"
#: Set by ``seedreg sweep`` in each seed's process: the sweep's id and that process's seed (its
#: registry is ``SEEDREG_SWEEP_DB``, :data:`seedreg.db.engines.SWEEP_DB_ENV`).
SWEEP_ENV = "SEEDREG_SWEEP"
SWEEP_SEED_ENV = "SEEDREG_SWEEP_SEED"
#: The tags every run of a sweep gets, children included.
SWEEP_TAG, SWEEP_SEED_TAG = "seedreg.sweep", "seedreg.sweep_seed"


def active() -> str | None:
    """The root run being replayed in this process, if any."""
    return os.environ.get(REPLAY_ENV) or None


def session() -> str | None:
    return os.environ.get(SESSION_ENV) or None


@dataclass(frozen=True)
class Swept:
    """The sweep a process runs one seed of: root blocks take ``seed``, every block gets ``tags``."""

    sweep: str
    seed: codec.Seed

    @property
    def tags(self) -> dict[str, str]:
        return {SWEEP_TAG: self.sweep, SWEEP_SEED_TAG: self.seed.text}


def sweep() -> Swept | None:
    """The sweep seed of this process, unless it replays (a replay's variables win)."""
    sweep_id = os.environ.get(SWEEP_ENV)
    if not sweep_id or active():
        return None
    text = os.environ.get(SWEEP_SEED_ENV, "")
    try:
        seed = codec.normalise(int(text)) if text.isdigit() else None
    except InvalidSeedError:
        seed = None
    if seed is None:
        raise UsageError(f"{SWEEP_SEED_ENV}={text!r:.40} is not a seed (set by `seedreg sweep`)")
    return Swept(sweep_id, replace(seed, source="sweep"))


_originals: dict[tuple[str, str], Sequence[Any]] = {}


def original_roots(engine: Engine, root_id: str) -> Sequence[Any]:
    """The original process's root blocks, in order (read once per replayed process)."""
    key = (str(engine.url), root_id)
    if key not in _originals:
        with engine.connect() as conn:
            root = conn.execute(
                select(run_table.c.hostname, run_table.c.pid, run_table.c.process_started).where(run_table.c.id == root_id)
            ).one_or_none()
            if root is None:
                raise NotReplayableError(f"{REPLAY_ENV}={root_id} is not a run of this registry")
            started = (run_table.c.process_started.is_(None) if root.process_started is None
                       else run_table.c.process_started == root.process_started)
            _originals[key] = conn.execute(
                select(run_table.c.id, run_table.c.seed, run_table.c.seed_kind, run_table.c.spawn_key, run_table.c.notebook)
                .where(run_table.c.hostname == root.hostname, run_table.c.pid == root.pid, started,
                       run_table.c.parent_id.is_(None), run_table.c.replay_of.is_(None))
                .order_by(run_table.c.block_index)
            ).all()
    return _originals[key]


def substitute(engine: Engine, seed: codec.Seed, parent: str | None, block_index: int) -> tuple[codec.Seed, str | None]:
    """The seed a block takes in a replay, and the original it replays (None: an extra block)."""
    root_id = active()
    assert root_id is not None
    if parent is None:
        originals = original_roots(engine, root_id)
        if block_index >= len(originals):
            return seed, None
        original = originals[block_index]
    else:
        with engine.connect() as conn:
            original_parent = _replayed_by(conn, parent)
            if original_parent is None:
                return seed, None
            original = conn.execute(
                select(run_table.c.id, run_table.c.seed, run_table.c.seed_kind, run_table.c.spawn_key).where(
                    and_(run_table.c.parent_id == original_parent, run_table.c.spawn_key == json.dumps(list(seed.spawn_key)),
                         run_table.c.replay_of.is_(None))
                ).order_by(run_table.c.started_at).limit(1)
            ).one_or_none()
        if original is None:
            return seed, None
    return _replayed(original), original.id


def _replayed_by(conn: Any, parent: str) -> str | None:
    """The run ``parent`` replays, waiting a little for a parent another process opened (its open is
    committed within a batch, :data:`~seedreg.recording.writer.BATCH_SECONDS`)."""
    from seedreg.recording.writer import PARENT_WAIT_SECONDS, flush_all

    flush_all()
    deadline = time.monotonic() + PARENT_WAIT_SECONDS
    while True:
        row = conn.execute(select(run_table.c.replay_of).where(run_table.c.id == parent)).first()
        if row is not None or time.monotonic() > deadline:
            return row[0] if row is not None else None
        conn.rollback()  # a new snapshot: the parent may have been committed since
        time.sleep(0.01)


def _replayed(original: Any) -> codec.Seed:
    return codec.parse(original.seed, original.seed_kind, json.loads(original.spawn_key)).replayed()


_cells: dict[tuple[str, str], dict[tuple[int, int], Any]] = {}


def original_cells(engine: Engine, root_id: str) -> dict[tuple[int, int], Any]:
    """The original kernel's root blocks by (cell index, occurrence in that cell's execution); of a
    cell run several times, the execution of ``root_id`` (the requested run) wins, else the latest."""
    key = (str(engine.url), root_id)
    if key not in _cells:
        executions: dict[int, list[tuple[int, Any]]] = {}  # execution count -> (cell index, root block)
        requested = None
        for row in original_roots(engine, root_id):
            cell = json.loads(row.notebook)["cell"] if row.notebook else {}
            if cell.get("index") is not None and cell.get("execution_count") is not None:
                executions.setdefault(cell["execution_count"], []).append((cell["index"], row))
                requested = cell["execution_count"] if row.id == root_id else requested
        found: dict[tuple[int, int], Any] = {}
        for count in sorted(executions, key=lambda count: (count == requested, count)):
            found.update({(index, occurrence): row for occurrence, (index, row) in enumerate(executions[count])})
        _cells[key] = found
    return _cells[key]


def substitute_cell(engine: Engine, seed: codec.Seed, cell_index: int | None,
                    occurrence: int | None) -> tuple[codec.Seed, str | None]:
    """In a notebook's replay, the seed a root block takes and the original it replays: the original's
    root block of the same cell and occurrence in that cell (DESIGN §4); None: an extra block."""
    root_id = active()
    assert root_id is not None
    original = original_cells(engine, root_id).get((cell_index, occurrence))  # type: ignore[arg-type]
    if original is None:
        return seed, None
    return _replayed(original), original.id
