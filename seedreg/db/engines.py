"""Connecting to a registry: URL resolution, engines, SQLite settings, retries, fork safety."""

from __future__ import annotations

import functools
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

from seedreg import forks
from seedreg.errors import RegistryError, UsageError
from seedreg.gc_pause import paused

DEFAULT_FILE = "seedreg.db"
#: Set by ``seedreg replay`` in the replayed process: that registry wins over ``db=`` in code.
REPLAY_DB_ENV = "SEEDREG_REPLAY_DB"
#: Set by ``seedreg sweep`` in each seed's process: that registry wins over ``db=`` too (a replay's first).
SWEEP_DB_ENV = "SEEDREG_SWEEP_DB"
BUSY_TIMEOUT_MS = 30_000
RETRY_SECONDS = 120.0

T = TypeVar("T")

_engines: dict[tuple[str, bool], Engine] = {}  # by (url, read-only)


def utcnow() -> datetime:
    """Now as naive UTC, the way the registry stores times."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def resolve_url(db: str | os.PathLike[str] | None = None) -> str:
    """The registry URL: a replay's registry, else a sweep's, else ``db``, else ``$SEEDREG_DB``, else ``./seedreg.db``."""
    chosen = os.fspath(os.environ.get(REPLAY_DB_ENV) or os.environ.get(SWEEP_DB_ENV) or db
                       or os.environ.get("SEEDREG_DB") or DEFAULT_FILE)
    relative = "://" not in chosen and not os.path.isabs(chosen) and not chosen.startswith("~")
    return _url_of(chosen, os.getcwd() if relative else "")


@functools.lru_cache(maxsize=64)
def _url_of(chosen: str, cwd: str) -> str:
    """:func:`resolve_url`'s answer for a chosen text in a working folder (every block asks: parsed once)."""
    if "://" in chosen:
        try:
            make_url(chosen)
        except exc.ArgumentError:
            raise UsageError(f"not a database URL: {mask_url(chosen)}") from None
        return chosen
    return "sqlite:///" + str((Path(cwd) / Path(chosen).expanduser()).resolve())


def mask_url(url: str) -> str:
    """The URL with its password hidden: safe to print and store."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not parseable: hide anything that looks like user:password@
        head, sep, tail = url.rpartition("@")
        return ("***@" + tail) if sep else url


@functools.lru_cache(maxsize=64)
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


def engine_for(url: str, *, readonly: bool = False) -> Engine:
    """A cached engine per URL and mode; a forked child gets fresh ones, never its parent's connections.

    ``readonly``: the database itself refuses writes, and connecting writes nothing (no
    ``journal_mode``), so a reader never changes the registry's files (:mod:`seedreg.db.readonly`).
    """
    engine = _engines.get((url, readonly))
    if engine is None:
        is_sqlite = make_url(url).get_backend_name() == "sqlite"
        try:
            with paused():  # the first engine imports its dialect
                if readonly:
                    from seedreg.db.readonly import readonly_engine

                    engine = readonly_engine(url)
                else:
                    engine = create_engine(url, pool_pre_ping=not is_sqlite)
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
            raise UsageError(f"cannot open {mask_url(url)}: {error}") from None
        if is_sqlite and not readonly:
            _configure_sqlite(engine)
        _engines[(url, readonly)] = engine
    return engine


def has_engine(url: str) -> bool:
    """Whether this process has an engine for ``url``: its connections may hold SQLite's locks."""
    return (url, False) in _engines or (url, True) in _engines


def forget(url: str) -> None:
    """Drop the cached engines of ``url`` (both modes) and close their pooled connections."""
    for readonly in (False, True):
        engine = _engines.pop((url, readonly), None)
        if engine is not None:
            engine.dispose()


@forks.after_fork
def _drop_parents_engines() -> None:
    """In a forked child: forget the parent's engines without closing its connections (they are the parent's)."""
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


#: Driver error codes of a database that is briefly busy, worth waiting for: SQLite's primary
#: result codes; PostgreSQL's SQLSTATEs of a serialization failure, a deadlock, a lock not available.
_BUSY = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "40001", "40P01", "55P03"})
#: Codes of a database that cannot be reached, where waiting helps only at close: a SQLite file
#: that cannot be opened, read or written, a disk full; a PostgreSQL connection failure (class
#: 08, or no SQLSTATE at all: libpq failed before the server answered), a server shutting down,
#: out of connections or disk.
_UNREACHABLE = frozenset({"SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_READONLY",
                          "57P01", "57P02", "57P03", "53100", "53300"})
#: SQLite's own texts of its result codes (``sqlite3_errstr``), for Python 3.10, whose sqlite3
#: exceptions carry no code.
_SQLITE_TEXTS = {"database is locked": "SQLITE_BUSY", "database table is locked": "SQLITE_LOCKED",
                 "database schema is locked": "SQLITE_LOCKED", "attempt to write a readonly database": "SQLITE_READONLY",
                 "disk I/O error": "SQLITE_IOERR", "database or disk is full": "SQLITE_FULL",
                 "unable to open database file": "SQLITE_CANTOPEN", "file is not a database": "SQLITE_NOTADB"}

#: Retries done in this process (benchmarks report it).
retries = 0


def retry_seconds() -> float:
    """How long a write keeps retrying a busy database (``SEEDREG_RETRY_SECONDS``, default 120)."""
    try:
        return float(os.environ.get("SEEDREG_RETRY_SECONDS", RETRY_SECONDS))
    except ValueError:
        return RETRY_SECONDS


def error_code(error: BaseException) -> str | None:
    """The driver's code of a database error: SQLite's primary result code (``SQLITE_BUSY``,
    ``SQLITE_NOTADB``, …) or PostgreSQL's SQLSTATE (``40001``, …); None when it gave none."""
    orig = error.orig if isinstance(error, exc.DBAPIError) else error
    if isinstance(orig, sqlite3.Error):
        name = getattr(orig, "sqlite_errorname", None)  # extended, e.g. SQLITE_BUSY_SNAPSHOT
        return "_".join(name.split("_")[:2]) if name else _SQLITE_TEXTS.get(str(orig))
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)  # psycopg 3, psycopg2
    return code if isinstance(code, str) else None


def violates_foreign_key(error: BaseException | None) -> bool:
    """Whether a database error (or the RegistryError it caused) is a foreign key violation: a child
    row whose parent is not there (SQLite's extended code, PostgreSQL's SQLSTATE 23503)."""
    if isinstance(error, RegistryError):
        error = error.__cause__
    orig = error.orig if isinstance(error, exc.DBAPIError) else error
    if isinstance(orig, sqlite3.Error):
        name = getattr(orig, "sqlite_errorname", None)  # Python 3.11+; the message before that
        return name == "SQLITE_CONSTRAINT_FOREIGNKEY" if name else str(orig) == "FOREIGN KEY constraint failed"
    return error is not None and error_code(error) == "23503"


def error_kind(error: exc.DBAPIError) -> str:
    """``busy`` (wait), ``unreachable`` (wait at close, fail at open) or ``error`` (never retried),
    told apart by the driver's error code."""
    code = error_code(error)
    if code in _BUSY:
        return "busy"
    if (error.connection_invalidated or isinstance(error, exc.InterfaceError) or code in _UNREACHABLE
            or (code is not None and code.startswith("08"))
            or (code is None and isinstance(error, exc.OperationalError) and not isinstance(error.orig, sqlite3.Error))):
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
