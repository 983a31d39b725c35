"""Inserting many rows at once, as fast as the driver allows (bulk import, chain links)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table


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


def prepare(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> list[tuple]:
    """Apply SQLAlchemy's own conversion of each column's values for this connection's dialect."""
    dialect = conn.dialect
    procs: list[tuple[int, Any]] = [
        (i, proc) for i, name in enumerate(columns)
        if (proc := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    if not procs:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for i, proc in procs:
            if values[i] is not None:
                values[i] = proc(values[i])
        out.append(tuple(values))
    return out
