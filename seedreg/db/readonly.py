"""Read-only engines: the database itself refuses every write, and connecting writes nothing.

SQLite: the file is opened ``mode=ro``, with no ``journal_mode`` pragma (which writes). Such a
connection to a WAL database creates the ``-wal`` and ``-shm`` files when they are missing;
they are missing only when no connection has the database open (the last one to close
checkpoints into the file and removes them), and then the file alone is the whole database,
so it is opened ``immutable``, which creates nothing. A pooled ``immutable`` connection is
dropped at checkout once the file has changed or a ``-wal`` has appeared (a writer opened
it), so a reader never sees a stale file; pooling keeps each connection's page cache warm.
PostgreSQL: every transaction of the session is ``READ ONLY``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from seedreg.db import engines

#: Bytes 18 and 19 of a SQLite file's header: its write and read format versions, 2 for WAL.
_WAL_FORMAT = b"\x02\x02"


#: Each read-only SQLite connection may cache this many KiB of pages (SQLite's default is 2,000).
CACHE_KIB = 64 * 1024


class _Connection(sqlite3.Connection):
    """A read-only connection that remembers whether it was opened ``immutable``, and the file as it was then."""

    immutable: bool = False
    stamp: tuple = ()


def file_stamp(path: Path) -> tuple:
    """What changes when a writer touches a SQLite database: the file, or its -wal file (appearing, growing)."""
    stamps: list[tuple[int, int, int] | None] = []
    for name in (path.name, path.name + "-wal"):
        try:
            stat = path.with_name(name).stat()
        except OSError:
            stamps.append(None)
        else:
            stamps.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(stamps)


def sqlite_uri(path: Path) -> tuple[str, bool]:
    """The ``file:`` URI that opens ``path`` read-only without creating any file beside it, and whether
    it is ``immutable`` (a WAL database that no connection has open)."""
    uri = f"file:{quote(str(path))}?mode=ro"
    if path.with_name(path.name + "-wal").exists():
        return uri, False
    try:
        with open(path, "rb") as handle:
            in_wal_mode = handle.read(20)[18:20] == _WAL_FORMAT
    except OSError:
        in_wal_mode = False
    return (uri + "&immutable=1", True) if in_wal_mode else (uri, False)


def _connect(path: Path) -> sqlite3.Connection:
    stamp = file_stamp(path)
    uri, immutable = sqlite_uri(path)
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, factory=_Connection)
    conn.immutable, conn.stamp = immutable, stamp
    return conn


def readonly_engine(url: str) -> Engine:
    """An engine on ``url`` whose connections cannot write (SQLite and PostgreSQL)."""
    path = engines.sqlite_path(url)
    if path is not None:
        engine = create_engine("sqlite://", poolclass=QueuePool, pool_size=4, max_overflow=8,
                               creator=lambda: _connect(path))

        @event.listens_for(engine, "connect")
        def on_connect(dbapi_conn, _record) -> None:
            dbapi_conn.execute(f"PRAGMA busy_timeout = {engines.BUSY_TIMEOUT_MS}")
            dbapi_conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")

        @event.listens_for(engine, "checkout")
        def on_checkout(dbapi_conn, _record, _proxy) -> None:
            if dbapi_conn.immutable and file_stamp(path) != dbapi_conn.stamp:
                raise exc.DisconnectionError("the registry changed since this immutable connection opened")

        @event.listens_for(engine, "begin")
        def on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN")  # one snapshot for every read of a connection

        return engine
    engine = create_engine(url, pool_pre_ping=True)
    if make_url(url).get_backend_name() == "postgresql":
        @event.listens_for(engine, "connect")
        def on_server_connect(dbapi_conn, _record) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            cursor.close()
            dbapi_conn.commit()

    return engine
