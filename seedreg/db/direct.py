"""Write statements straight on the driver's cursor: a with-block's open, fingerprints and close.

A block's close is about ten small statements. SQLAlchemy spends some 30 µs building the
execution of each (and as much again on its transaction's begin and commit), several times
what SQLite takes to run it. So the writer renders each INSERT and UPDATE once per table and
column list, converts values as SQLAlchemy would (:func:`seedreg.db.bulk.preparers`), and runs
them on a pooled DB-API connection (:func:`transaction`) or on the one under a SQLAlchemy
transaction (:func:`on`). A driver error is raised as SQLAlchemy's (``DBAPIError``, its
connection invalidated when it was lost), so :func:`seedreg.db.engines.retrying` treats both alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Table, exc

from seedreg.db import bulk
from seedreg.errors import UsageError

#: The placeholder of each DB-API paramstyle this module renders (SQLite's and psycopg's).
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


class Cursor:
    """Rendered statements on one transaction's DB-API connection."""

    def __init__(self, raw: Any, dialect: Dialect, lost: Callable[[BaseException], None]) -> None:
        if dialect.paramstyle not in _MARKS:
            raise UsageError(f"seedreg writes through drivers with ? or %s placeholders (sqlite3, psycopg), "
                             f"not {dialect.name}+{dialect.driver}")
        self.dialect = dialect
        self.mark = _MARKS[dialect.paramstyle]
        self._raw, self._lost = raw, lost
        self._cursor: Any = raw.cursor()

    def insert(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """INSERT ``rows`` (mappings with the same keys) into ``table``."""
        if not rows:
            return
        columns = tuple(rows[0])
        sql, preparers = _insert(self.dialect, table, columns)
        values = [bulk.prepared([row[name] for name in columns], preparers) for row in rows]
        if len(values) == 1:
            self.run(sql, values[0])
        else:
            self.run(sql, values, many=True)

    def update(self, table: Table, values: Mapping[str, Any], key: Mapping[str, Any], condition: str = "") -> int:
        """UPDATE ``table`` SET ``values`` WHERE each column of ``key`` equals its value (and the
        literal SQL ``condition``); how many rows changed."""
        sql, preparers = _update(self.dialect, table, tuple(values), tuple(key), condition)
        self.run(sql, bulk.prepared([*values.values(), *key.values()], preparers))
        return int(self._cursor.rowcount)

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of ``sql`` (placeholders written as :attr:`mark`), or None."""
        self.run(sql, tuple(params))
        row = self._cursor.fetchone()
        return tuple(row) if row is not None else None

    def quote(self, name: str) -> str:
        return self.dialect.identifier_preparer.quote(name)

    def run(self, sql: str, params: Any = (), many: bool = False) -> None:
        """Execute ``sql`` on the driver (``many``: once per item of ``params``)."""
        with _as_sqlalchemy_errors(self.dialect, self._raw, self._lost, sql, params):
            if many:
                self._cursor.executemany(sql, params)
            else:
                self._cursor.execute(sql, params)

    def close(self) -> None:
        self._cursor.close()


@contextmanager
def on(conn: Connection) -> Iterator[Cursor]:
    """A :class:`Cursor` on the DB-API connection under ``conn``, whose transaction it joins."""
    cursor = Cursor(conn.connection.dbapi_connection, conn.dialect, conn.invalidate)
    try:
        yield cursor
    finally:
        cursor.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Cursor]:
    """One short write transaction on a pooled DB-API connection (``BEGIN IMMEDIATE`` on SQLite),
    committed when the block ends, rolled back when it raises."""
    dialect = engine.dialect
    lost: list[BaseException] = []
    with _as_sqlalchemy_errors(dialect, None, lost.append, "connect", ()):
        raw = engine.raw_connection()
    try:
        cursor = Cursor(raw, dialect, lost.append)
        try:
            if dialect.name == "sqlite":  # the engine's connections leave BEGIN to their user
                cursor.run("BEGIN IMMEDIATE")
            yield cursor
            with _as_sqlalchemy_errors(dialect, raw, lost.append, "COMMIT", ()):
                raw.commit()
        except BaseException:
            if not lost:
                try:
                    raw.rollback()
                except dialect.loaded_dbapi.Error as error:  # the connection is gone with the transaction
                    lost.append(error)
            raise
        finally:
            cursor.close()
    finally:
        if lost:
            raw.invalidate(lost[0])
        raw.close()


@contextmanager
def _as_sqlalchemy_errors(dialect: Dialect, raw: Any, lost: Callable[[BaseException], None], sql: str,
                          params: Any) -> Iterator[None]:
    try:
        yield
    except dialect.loaded_dbapi.Error as error:
        gone = dialect.is_disconnect(error, raw, None)
        if gone:
            lost(error)
        raise exc.DBAPIError.instance(sql, params, error, dialect.loaded_dbapi.Error,
                                      connection_invalidated=gone, dialect=dialect) from error


@functools.lru_cache(maxsize=64)
def _insert(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> tuple[str, bulk.Preparers]:
    quote, mark = dialect.identifier_preparer.quote, _MARKS[dialect.paramstyle]
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in columns)}) "
           f"VALUES ({', '.join([mark] * len(columns))})")
    return sql, bulk.preparers(dialect, table, columns)


@functools.lru_cache(maxsize=64)
def _update(dialect: Dialect, table: Table, names: tuple[str, ...], key: tuple[str, ...],
            condition: str) -> tuple[str, bulk.Preparers]:
    quote, mark = dialect.identifier_preparer.quote, _MARKS[dialect.paramstyle]
    where = " AND ".join([*(f"{quote(name)} = {mark}" for name in key), *([condition] if condition else [])])
    sql = f"UPDATE {quote(table.name)} SET {', '.join(f'{quote(name)} = {mark}' for name in names)} WHERE {where}"
    return sql, bulk.preparers(dialect, table, (*names, *key))
