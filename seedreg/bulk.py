"""Inserting many rows at once, as fast as the driver allows (bulk import, chain links)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order, values already as the driver stores them).

    On SQLite straight through the driver's ``executemany``: building SQLAlchemy's parameters
    per row would cost more than SQLite's insert itself. Elsewhere through SQLAlchemy, which
    batches the rows into multi-row VALUES on PostgreSQL.
    """
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        quote = conn.dialect.identifier_preparer.quote
        names = ", ".join(quote(name) for name in columns)
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", rows)
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
