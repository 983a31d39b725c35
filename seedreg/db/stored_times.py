"""Times read as SQLite stores them: their text, which is already what a reader needs.

Every backend stores naive UTC. On SQLite the value is text (``2026-12-01 21:51:30.740954``):
SQLAlchemy parses it into a naive datetime, and a record then needs ``replace(tzinfo=utc)``,
about 1 µs, most of what reading a time costs. Selected as text, a record parses it aware in
one call (:func:`seedreg.records.aware`) and export rearranges it into its ISO form
(:func:`seedreg.transfer.format.exact_utc`) without a datetime at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import DateTime, String, type_coerce


def as_stored(columns: Iterable[Any], dialect: str) -> list[Any]:
    """``columns`` to select, the time columns among them as their stored text on SQLite (same names)."""
    if dialect != "sqlite":
        return list(columns)
    return [type_coerce(c, String).label(c.name) if isinstance(c.type, DateTime) else c for c in columns]
