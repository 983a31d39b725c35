"""Connecting to a registry: URL resolution, engines, SQLite settings, retries, fork safety."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

from seedreg.errors import RegistryError, UsageError

DEFAULT_FILE = "seedreg.db"
#: Set by ``seedreg replay`` in the replayed process: that registry wins over ``db=`` in code.
REPLAY_DB_ENV = "SEEDREG_REPLAY_DB"
BUSY_TIMEOUT_MS = 30_000
RETRY_SECONDS = 120.0

T = TypeVar("T")

_engines: dict[str, Engine] = {}
_engines_pid = os.getpid()


def utcnow() -> datetime:
    """Now as naive UTC, the way the registry stores times."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def resolve_url(db: str | os.PathLike[str] | None = None) -> str:
    """The registry URL: a replay's registry, else ``db``, else ``$SEEDREG_DB``, else ``./seedreg.db``."""
    chosen = os.environ.get(REPLAY_DB_ENV) or db or os.environ.get("SEEDREG_DB") or DEFAULT_FILE
    chosen = os.fspath(chosen)
    if "://" in chosen:
        try:
            make_url(chosen)
        except exc.ArgumentError:
            raise UsageError(f"not a database URL: {mask_url(chosen)}") from None
        return chosen
    return "sqlite:///" + str(Path(chosen).expanduser().resolve())


def mask_url(url: str) -> str:
    """The URL with its password hidden: safe to print and store."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not parseable: hide anything that looks like user:password@
        head, sep, tail = url.rpartition("@")
        return ("***@" + tail) if sep else url


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for a server or in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def exists(url: str) -> bool:
    """Whether the registry's database exists (servers are assumed to)."""
    path = sqlite_path(url)
    return path is None or path.exists()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - exercised through SQLite
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(min(BUSY_TIMEOUT_MS, retry_seconds() * 1000))}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        # Writers take the lock up front, so a transaction never fails half-way to upgrade it.
        mode = "IMMEDIATE" if conn.get_execution_options().get("seedreg_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def engine_for(url: str) -> Engine:
    """A cached engine per URL; a forked child gets fresh ones, never its parent's connections."""
    global _engines_pid
    if _engines_pid != os.getpid():
        for engine in _engines.values():
            engine.dispose(close=False)
        _engines.clear()
        _engines_pid = os.getpid()
    engine = _engines.get(url)
    if engine is None:
        is_sqlite = make_url(url).get_backend_name() == "sqlite"
        try:
            engine = create_engine(url, pool_pre_ping=not is_sqlite)
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
            raise UsageError(f"cannot open {mask_url(url)}: {error}") from None
        if is_sqlite:
            _configure_sqlite(engine)
        _engines[url] = engine
    return engine


def forget(url: str) -> None:
    """Drop the cached engine of ``url`` and close its pooled connections."""
    engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def _after_fork_in_child() -> None:
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


#: Error texts of a database that is briefly busy: worth waiting for.
_BUSY = ("locked", "busy", "deadlock", "could not serialize", "lock timeout")
#: Error texts of a database that cannot be reached: waiting helps only at close.
_UNREACHABLE = ("connection", "could not connect", "server closed", "terminating", "unable to open",
                "disk i/o", "disk is full", "database or disk is full", "readonly database")

#: Retries done in this process (benchmarks report it).
retries = 0


def retry_seconds() -> float:
    """How long a write keeps retrying a busy database (``SEEDREG_RETRY_SECONDS``, default 120)."""
    try:
        return float(os.environ.get("SEEDREG_RETRY_SECONDS", RETRY_SECONDS))
    except ValueError:
        return RETRY_SECONDS


def error_kind(error: exc.DBAPIError) -> str:
    """``busy`` (wait), ``unreachable`` (wait at close, fail at open) or ``error`` (never retried)."""
    text = str(error.orig if error.orig is not None else error).lower()
    if any(word in text for word in _BUSY):
        return "busy"
    if error.connection_invalidated or isinstance(error, exc.InterfaceError) or any(w in text for w in _UNREACHABLE):
        return "unreachable"
    return "error"


def retrying(work: Callable[[], T], *, seconds: float | None = None, unreachable: bool = True) -> T:
    """Run ``work`` again, with jittered backoff, while the database is briefly locked or busy.

    ``unreachable=False`` fails at once when the database cannot be reached (a block's open
    must fail fast); otherwise an unreachable database is retried too, until the deadline.
    """
    global retries
    deadline = time.monotonic() + (retry_seconds() if seconds is None else seconds)
    delay = 0.01
    while True:
        try:
            return work()
        except exc.DBAPIError as error:
            kind = error_kind(error)
            if kind == "error" or (kind == "unreachable" and not unreachable) or time.monotonic() + delay > deadline:
                raise RegistryError(f"registry write failed: {str(error.orig or error).strip().splitlines()[0]}") from error
            retries += 1
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One short write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
    with engine.connect() as conn:
        conn = conn.execution_options(seedreg_write=True)
        with conn.begin():
            yield conn
