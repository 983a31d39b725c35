"""``seedreg delete``: hide a run for good without erasing it, and chain the deletion as a tombstone.

The run's row and its record link stay, so ``audit`` still proves nothing else changed; the
tombstone link's digest covers the run id, the deletion time and the reason.
"""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from seedreg.db import direct, engines, liveness
from seedreg.db.tables import run_table
from seedreg.errors import UsageError
from seedreg.integrity import chain

MAX_REASON = 2000


def delete(engine: Engine, run_id: str, reason: str) -> None:
    """Mark ``run_id`` deleted with ``reason`` and append its tombstone link, in one transaction."""
    reason = reason.strip()
    if not reason:
        raise UsageError("say why with --reason: the reason is kept with the deletion")
    if len(reason) > MAX_REASON:
        raise UsageError(f"--reason is at most {MAX_REASON} characters")

    def work() -> None:
        with engines.write(engine) as conn:
            row = conn.execute(select(run_table.c.deleted_at, *liveness.columns()).where(run_table.c.id == run_id)).one()
            if row.deleted_at is not None:
                raise UsageError(f"run {run_id} is already deleted")
            if row.status == "running" and not liveness.crashed_among([row]):
                raise UsageError(f"run {run_id} is still running: delete it once it has ended")
            now = engines.utcnow()
            conn.execute(update(run_table).where(run_table.c.id == run_id).values(deleted_at=now, deleted_reason=reason))
            with direct.on(conn) as cursor:
                chain.append(cursor, run_id, chain.tombstone_digest(run_id, now, reason), kind="tombstone")

    engines.retrying(work, unreachable=False)
