"""What a sweep is in the registry: a ``sweeps`` row, and per seed its last process's exit code and runs.

A sweep is found by id or unique prefix in ``sweeps`` or in its runs' ``seedreg.sweep`` tags (runs
imported from another registry bring their tags, not the sweep's row).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, select, update

from seedreg.db import engines
from seedreg.db.tables import sweep_seed_table, sweep_table, tag_table
from seedreg.errors import UnknownRunError
from seedreg.recording.substitution import SWEEP_SEED_TAG, SWEEP_TAG

_HEX = set("0123456789abcdef")


@dataclass(frozen=True)
class SeedOutcome:
    """One seed of a sweep: its last process's exit code (None: it never ended) and the runs it recorded."""

    seed: int
    returncode: int | None
    runs: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Its process exited 0 and recorded a block."""
        return self.returncode == 0 and bool(self.runs)

    def to_json(self) -> dict[str, object]:
        return {"seed": str(self.seed), "returncode": self.returncode, "runs": list(self.runs)}


@dataclass(frozen=True)
class SweepRecord:
    """A stored sweep: its command, where it ran, its seeds as given and each seed's last outcome."""

    id: str
    command: list[str]
    cwd: str
    spec: str
    executor: str
    seeds: tuple[SeedOutcome, ...]


def resolve(conn: Connection, ref: str, where: str) -> str:
    """The full id of the one sweep whose id starts with ``ref``."""
    prefix = ref.strip().lower()
    if not prefix or not set(prefix) <= _HEX or len(prefix) > 32:
        raise UnknownRunError(f"{ref!r} is not a sweep id or id prefix (hex digits)")
    upper = prefix + "g"
    ids = set(conn.execute(select(sweep_table.c.id).where(sweep_table.c.id >= prefix, sweep_table.c.id < upper).limit(6)).scalars())
    ids |= set(conn.execute(select(tag_table.c.text).where(tag_table.c.key == SWEEP_TAG, tag_table.c.num.is_(None), tag_table.c.text >= prefix,
                                                    tag_table.c.text < upper).distinct().limit(6)).scalars())
    if not ids:
        raise UnknownRunError(f"no sweep matches {ref!r} in {where}")
    if len(ids) > 1:
        raise UnknownRunError(f"{ref!r} matches several sweeps ({', '.join(sorted(ids)[:5])}): give more characters")
    return ids.pop()


def create(engine: Engine, sweep_id: str, command: Sequence[str], cwd: str, spec: str, executor: str,
           seeds: Sequence[int]) -> None:
    """Store a new sweep and its seeds (none run yet)."""
    def work() -> None:
        with engines.write(engine) as conn:
            conn.execute(sweep_table.insert(), {"id": sweep_id, "command": json.dumps(list(command)), "cwd": cwd,
                                                    "spec": spec, "executor": executor, "created_at": engines.utcnow()})
            conn.execute(sweep_seed_table.insert(),
                         [{"sweep_id": sweep_id, "seed": str(seed), "position": i, "attempts": 0}
                          for i, seed in enumerate(seeds)])
    engines.retrying(work, unreachable=False)


def load(conn: Connection, sweep_id: str) -> SweepRecord:
    """A stored sweep (UnknownRunError for a sweep known only from its runs' tags)."""
    row = conn.execute(select(sweep_table).where(sweep_table.c.id == sweep_id)).one_or_none()
    if row is None:
        raise UnknownRunError(f"sweep {sweep_id} was not started in this registry (its runs were imported): "
                              "it cannot be retried here")
    seeds = conn.execute(select(sweep_seed_table.c.seed, sweep_seed_table.c.returncode, sweep_seed_table.c.runs)
                         .where(sweep_seed_table.c.sweep_id == sweep_id).order_by(sweep_seed_table.c.position)).all()
    return SweepRecord(row.id, json.loads(row.command), row.cwd, row.spec, row.executor,
                       tuple(SeedOutcome(int(s.seed), s.returncode, tuple(json.loads(s.runs or "[]"))) for s in seeds))


def runs_of(conn: Connection, sweep_id: str, seed: int) -> set[str]:
    """The ids of every run tagged with this sweep and seed (children included)."""
    of_seed = tag_table.alias()
    query = (select(tag_table.c.run_id).join(of_seed, and_(of_seed.c.run_id == tag_table.c.run_id, of_seed.c.key == SWEEP_SEED_TAG,
                                                  of_seed.c.num.is_(None), of_seed.c.text == str(seed)))
             .where(tag_table.c.key == SWEEP_TAG, tag_table.c.num.is_(None), tag_table.c.text == sweep_id))
    return set(conn.execute(query).scalars())


def finish(engine: Engine, sweep_id: str, outcome: SeedOutcome) -> None:
    """Store how a seed's process ended and the runs it recorded."""
    table = sweep_seed_table

    def work() -> None:
        with engines.write(engine) as conn:
            conn.execute(update(table).where(table.c.sweep_id == sweep_id, table.c.seed == str(outcome.seed))
                         .values(returncode=outcome.returncode, runs=json.dumps(list(outcome.runs)),
                                 attempts=table.c.attempts + 1, ended_at=engines.utcnow()))
    engines.retrying(work, unreachable=False)
