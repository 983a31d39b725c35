"""``seedreg sql``: one raw SQL statement over the registry, read-only by the database's own enforcement.

SQLite: the file is opened read-only (``mode=ro``) and an authorizer allows reading only, so
``ATTACH``, ``VACUUM INTO``, ``PRAGMA`` and every write are refused by SQLite itself (``mode=ro``
alone would still let ``ATTACH`` and ``VACUUM INTO`` create other files). PostgreSQL: one
statement in a ``READ ONLY`` transaction sent with the extended protocol, so a string such as
``COMMIT; DROP ...`` is refused whole; the transaction is rolled back after.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import make_url

from seedreg.db import engines
from seedreg.errors import UsageError

#: SQLite authorizer actions a read needs: SELECT, reading columns, calling functions, recursive CTEs.
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
            getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
_REFUSED = "seedreg sql is read-only: {what} is not allowed"


@dataclass(frozen=True)
class SqlResult:
    """Column names and rows of a query, values as stored (times as text, binary as hex)."""

    columns: list[str]
    rows: list[list[Any]]


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def run_readonly(url: str, statement: str) -> SqlResult:
    """Run ``statement`` read-only on the registry at ``url`` (SQLite or PostgreSQL)."""
    if not statement.strip():
        raise UsageError("give one SQL statement, e.g. seedreg sql \"SELECT experiment, count(*) FROM runs GROUP BY 1\"")
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return _sqlite(url, statement)
    if backend == "postgresql":
        return _postgres(url, statement)
    raise UsageError(f"seedreg sql supports SQLite and PostgreSQL registries, not {backend}")


def _authorize(action: int, *_: Any) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


def _sqlite(url: str, statement: str) -> SqlResult:
    path = engines.sqlite_path(url)
    if path is None:
        raise UsageError("seedreg sql needs a SQLite file, not an in-memory database")
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.set_authorizer(_authorize)
        if hasattr(conn, "setlimit"):  # Python 3.11+: no database can be attached at all
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        try:
            cursor = conn.execute(statement)
            rows = cursor.fetchall()
        except sqlite3.DatabaseError as error:
            message = str(error)
            if "not authorized" in message or "attempt to write a readonly database" in message:
                raise UsageError(_REFUSED.format(what="this statement") + f" ({message})") from None
            raise UsageError(f"SQL error: {message}") from None
        except (sqlite3.ProgrammingError, sqlite3.Warning) as error:
            raise UsageError(f"SQL error: {error}") from None
        columns = [d[0] for d in cursor.description or ()]
        return SqlResult(columns, [[_plain(v) for v in row] for row in rows])
    finally:
        conn.close()


def _postgres(url: str, statement: str) -> SqlResult:
    try:
        import psycopg
    except ImportError:
        raise UsageError("seedreg sql on PostgreSQL needs psycopg: pip install 'seedreg[postgres]'") from None

    parsed = make_url(url)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = psycopg.connect(conninfo, autocommit=False)
    except psycopg.Error as error:
        raise UsageError(f"cannot connect to {engines.mask_url(url)}: {_first_line(error)}") from None
    try:
        conn.read_only = True  # psycopg opens the transaction with BEGIN READ ONLY
        with conn.cursor() as cursor:
            try:
                # prepare=True: the extended protocol, which takes exactly one statement.
                cursor.execute(statement.encode(), prepare=True)
                rows = cursor.fetchall() if cursor.description else []
            except psycopg.errors.ReadOnlySqlTransaction as error:
                raise UsageError(_REFUSED.format(what="writing") + f" ({_first_line(error)})") from None
            except psycopg.Error as error:
                raise UsageError(f"SQL error: {_first_line(error)}") from None
            columns = [d.name for d in cursor.description or ()]
        return SqlResult(columns, [[_plain(v) for v in row] for row in rows])
    finally:
        conn.rollback()
        conn.close()


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
