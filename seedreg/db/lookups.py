"""Rows looked up by many keys at once (the runs of a page, of an export batch, of an import).

The keys go as one parameter whatever their number: on PostgreSQL an array (``= ANY``; inside an
import's transaction IN lists of 500 parameters took about 0.1 s each, one array a few
milliseconds), on SQLite a JSON array read by ``json_each``. So the statement is compiled once,
and no IN list of thousands of parameters is rendered for every execution. A few keys on SQLite
(a page of runs) go as an IN list, whose statement compiles faster in a new process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ARRAY, Connection, Select, String, any_, bindparam, func, select

#: Up to this many keys, SQLite gets an IN list of parameters (a page of ``list``); more go as one JSON array.
_FEW = 100


def where_in(conn: Connection, query: Select, column: Any, keys: Iterable[Any], order: Iterable[Any] = ()) -> Sequence[Any]:
    """The rows of ``query`` whose ``column`` is one of ``keys`` (strings or numbers), sorted by ``order``."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return []
    if conn.dialect.name == "postgresql":
        keys_param = bindparam("keys", wanted, type_=ARRAY(column.type))
        return conn.execute(query.where(column == any_(keys_param)).order_by(*order)).all()
    if len(wanted) <= _FEW:  # a page of runs: an IN list compiles in about half the time of json_each
        return conn.execute(query.where(column.in_(wanted)).order_by(*order)).all()
    import orjson  # not for a page of `list`

    listed = func.json_each(bindparam("keys", orjson.dumps(wanted).decode(), type_=String)).table_valued("value")
    return conn.execute(query.where(column.in_(select(listed.c.value))).order_by(*order)).all()
