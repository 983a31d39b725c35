"""Is a running run's process still alive? Tells a running run from a crashed one.

On the run's own host: its pid must be alive and have the recorded start time (pids are
reused). From other hosts: the heartbeat the open run refreshes every ``HEARTBEAT_SECONDS``
must be younger than ``stale_seconds()`` (``SEEDREG_STALE_SECONDS``, default 300 s).
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection

HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 300.0


@functools.lru_cache(maxsize=1)
def this_host() -> str:
    return socket.gethostname()


def heartbeat_seconds() -> float:
    """How often an open run refreshes its heartbeat (``SEEDREG_HEARTBEAT_SECONDS``)."""
    return _env_float("SEEDREG_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS)


def stale_seconds() -> float:
    """How old a heartbeat may be before other hosts call the run crashed (``SEEDREG_STALE_SECONDS``)."""
    return _env_float("SEEDREG_STALE_SECONDS", STALE_SECONDS)


def _env_float(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def process_alive(pid: int, started: float | None) -> bool:
    """Whether ``pid`` is alive and is the same process (pids are reused: compare start times)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if started is not None and abs(process.create_time() - started) > 1.0:
            return False
        return process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def crashed(hostname: str, pid: int, started: float | None, heartbeat: datetime | None = None,
            now: datetime | None = None) -> bool:
    """Whether a run still marked running has lost its process (UTC times; ``heartbeat`` naive or aware)."""
    if hostname == this_host():
        return not process_alive(pid, started)
    if heartbeat is None:
        return False
    from seedreg.db.engines import utcnow

    return (now or utcnow()) - heartbeat.replace(tzinfo=None) > timedelta(seconds=stale_seconds())


#: The ``runs`` columns :func:`crashed_among` reads.
FIELDS = ("id", "status", "hostname", "pid", "process_started", "heartbeat_at")


def columns() -> list[Any]:
    """The ``runs`` columns of :data:`FIELDS`, to select with whatever else a reader needs."""
    from seedreg.db.tables import run_table

    return [run_table.c[name] for name in FIELDS]


def crashed_among(rows: Iterable[Any]) -> set[str]:
    """The ids of the rows (with :data:`FIELDS`) still marked running whose process has died: shown as crashed."""
    return {r.id for r in rows
            if r.status == "running" and crashed(r.hostname, r.pid, r.process_started, r.heartbeat_at)}


def crashed_ids(conn: Connection, run_ids: Sequence[str] | None = None) -> list[str]:
    """Runs still marked running (of ``run_ids``, or all) whose process has died: shown as crashed."""
    from sqlalchemy import select

    from seedreg.db.tables import run_table

    query = select(*columns()).where(run_table.c.status == "running")
    if run_ids is not None:
        query = query.where(run_table.c.id.in_(run_ids))
    return sorted(crashed_among(conn.execute(query)))
