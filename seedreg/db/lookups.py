"""Rows looked up by many keys at once (the runs of a page, of an export batch, of an import).

On PostgreSQL the keys go as one array (``= ANY``): inside an import's transaction, IN lists of
500 parameters took about 0.1 s each, one array of all the keys a few milliseconds. SQLite gets
IN lists of :data:`LOOKUP` keys through one expanding parameter, so the statement is compiled once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ARRAY, Connection, Select, any_, bindparam

#: Keys per ``IN (...)`` list on SQLite.
LOOKUP = 500


def where_in(conn: Connection, query: Select, column: Any, keys: Iterable[Any], order: Iterable[Any] = ()) -> Sequence[Any]:
    """The rows of ``query`` whose ``column`` is one of ``keys``, each lookup sorted by ``order``."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return []
    if conn.dialect.name == "postgresql":
        keys_param = bindparam("keys", wanted, type_=ARRAY(column.type))
        return conn.execute(query.where(column == any_(keys_param)).order_by(*order)).all()
    statement = query.where(column.in_(bindparam("keys", expanding=True))).order_by(*order)
    rows: list[Any] = []
    for start in range(0, len(wanted), LOOKUP):
        rows += conn.execute(statement, {"keys": wanted[start : start + LOOKUP]}).all()
    return rows
