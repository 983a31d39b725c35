"""Inside a replayed process: each with-block takes the seed of the block it replays.

The k-th root block takes the original k-th root block's seed (of the same original process:
host, pid, start time); a child block (its parent a replayed run) takes the original child's
with the same spawn key under the original parent — in worker processes too, which inherit
``SEEDREG_REPLAY*`` from the replayed process.
"""

from __future__ import annotations

import json
import os
from typing import Any

from sqlalchemy import Engine, and_, select

from seedreg.db.models import RunRow
from seedreg.errors import NotReplayableError
from seedreg.seed import codec

REPLAY_ENV = "SEEDREG_REPLAY"
SESSION_ENV = "SEEDREG_REPLAY_SESSION"


def active() -> str | None:
    """The root run being replayed in this process, if any."""
    return os.environ.get(REPLAY_ENV) or None


def session() -> str | None:
    return os.environ.get(SESSION_ENV) or None


_originals: dict[tuple[str, str], list[Any]] = {}


def original_roots(engine: Engine, root_id: str) -> list[Any]:
    """The original process's root blocks, in order (read once per replayed process)."""
    key = (str(engine.url), root_id)
    if key not in _originals:
        with engine.connect() as conn:
            root = conn.execute(
                select(RunRow.hostname, RunRow.pid, RunRow.process_started).where(RunRow.id == root_id)
            ).one_or_none()
            if root is None:
                raise NotReplayableError(f"{REPLAY_ENV}={root_id} is not a run of this registry")
            started = (RunRow.process_started.is_(None) if root.process_started is None
                       else RunRow.process_started == root.process_started)
            _originals[key] = conn.execute(
                select(RunRow.id, RunRow.seed, RunRow.seed_kind, RunRow.spawn_key)
                .where(RunRow.hostname == root.hostname, RunRow.pid == root.pid, started,
                       RunRow.parent_id.is_(None), RunRow.replay_of.is_(None))
                .order_by(RunRow.block_index)
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
            original_parent = conn.execute(select(RunRow.replay_of).where(RunRow.id == parent)).scalar()
            if original_parent is None:
                return seed, None
            original = conn.execute(
                select(RunRow.id, RunRow.seed, RunRow.seed_kind, RunRow.spawn_key).where(
                    and_(RunRow.parent_id == original_parent, RunRow.spawn_key == json.dumps(list(seed.spawn_key)),
                         RunRow.replay_of.is_(None))
                ).order_by(RunRow.started_at).limit(1)
            ).one_or_none()
        if original is None:
            return seed, None
    replayed = codec.parse(original.seed, original.seed_kind, json.loads(original.spawn_key)).replayed()
    return replayed, original.id
