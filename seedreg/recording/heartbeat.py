"""The heartbeat: a daemon thread refreshes ``heartbeat_at`` of this process's open runs.

Other hosts cannot see a pid, so a run whose heartbeat went stale is how they know its
process died. One thread per process, started with the first open run.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine, bindparam

from seedreg import forks
from seedreg.db import engines, liveness
from seedreg.db.tables import run_table

_lock = threading.Lock()
_open: dict[str, Engine] = {}
_thread: threading.Thread | None = None
_wake = threading.Event()


def beat(engine: Engine, run_ids: list[str]) -> None:
    """Refresh the heartbeat of these runs now (one short write; failures are ignored)."""
    table = run_table
    statement = (
        table.update()
        .where(table.c.id.in_(bindparam("ids", expanding=True)), table.c.status == "running")
        .values(heartbeat_at=bindparam("now"))
    )
    try:
        with engines.write(engine) as conn:
            conn.execute(statement, {"ids": run_ids, "now": engines.utcnow()})
    except Exception:
        pass


_interval = 0.0


def _loop() -> None:
    global _interval
    while True:
        _interval = liveness.heartbeat_seconds()
        _wake.wait(_interval)
        _wake.clear()
        with _lock:
            if not _open:
                continue
            by_engine: dict[Engine, list[str]] = {}
            for run_id, engine in _open.items():
                by_engine.setdefault(engine, []).append(run_id)
        for engine, ids in by_engine.items():
            beat(engine, ids)


def add(engine: Engine, run_id: str) -> None:
    """Keep this run's heartbeat fresh until :func:`remove`."""
    global _thread
    with _lock:
        _open[run_id] = engine
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="seedreg-heartbeat", daemon=True)
            _thread.start()
        elif _interval != liveness.heartbeat_seconds():
            _wake.set()  # SEEDREG_HEARTBEAT_SECONDS changed: take the new interval now


def remove(run_id: str) -> None:
    with _lock:
        _open.pop(run_id, None)


@forks.after_fork
def _forget_parents_runs() -> None:
    """In a forked child: the parent's open runs and thread are not this process's."""
    global _thread, _lock
    _lock = threading.Lock()
    _open.clear()
    _thread = None
