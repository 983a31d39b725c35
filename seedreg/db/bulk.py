"""Inserting many rows at once, as fast as the driver allows (bulk import, chain links)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Connection, DateTime, Dialect, Table


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order, values already as the driver stores them).

    On SQLite straight through the driver's ``executemany``: building SQLAlchemy's parameters
    per row would cost more than SQLite's insert itself. On PostgreSQL through psycopg with
    ``COPY ... FROM STDIN`` (several times faster than multi-row INSERTs); other drivers go
    through SQLAlchemy.
    """
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", rows)
    elif conn.dialect.driver == "psycopg":
        driver: Any = conn.connection.dbapi_connection
        with driver.cursor() as cursor, cursor.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        conn.execute(table.insert(), [dict(zip(columns, row)) for row in rows])


_SAMPLE = datetime(2026, 1, 2, 3, 4, 5, 6)
Preparers = list[tuple[int, Callable[[Any], Any]]]


def preparers(dialect: Dialect | None, table: Table, columns: Sequence[str]) -> Preparers:
    """SQLAlchemy's own conversions of times and booleans in ``columns`` for ``dialect``, by
    position (other values pass as they are; no dialect: none)."""
    if dialect is None:
        return []
    found: Preparers = []
    for i, name in enumerate(columns):
        kind = table.c[name].type
        if isinstance(kind, (DateTime, Boolean)):
            proc: Callable[[Any], Any] | None = kind.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None and isinstance(kind, DateTime) and proc(_SAMPLE) == _fast_time(_SAMPLE):
                proc = _fast_time  # the same text as SQLAlchemy's SQLite DATETIME, from C
            if proc is not None:
                found.append((i, proc))
    return found


def _fast_time(moment: datetime) -> str:
    return moment.isoformat(" ", "microseconds")


def prepared(values: list[Any], preparers: Preparers) -> tuple:
    """``values`` (changed in place) converted by ``preparers``, as a row for :func:`insert_rows`."""
    for i, proc in preparers:
        if values[i] is not None:
            values[i] = proc(values[i])
    return tuple(values)
