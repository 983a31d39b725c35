"""The runs ``seeds`` reads and their group keys, as one SQL subquery every statistic is computed over.

Runs: original (not replays), not deleted, completed (``ok`` 1), or failed, interrupted or crashed
(``ok`` 0); read through the covering index ``ix_runs_same_seed``. Each param key becomes a column
of comparable values: a number is keyed by its value (``1`` and ``1.0`` are one group, as filters
compare them), anything else by its type and text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Dialect, Text, and_, case, cast, func, literal, or_, select, text

from seedreg.db import keyvalues
from seedreg.db.lookups import where_in
from seedreg.db.tables import ORIGINAL_RUNS, param_table, run_table, tag_table
from seedreg.recording.substitution import SWEEP_TAG

#: Up to this many param columns are looked up one by one (a primary-key search each); more are
#: read once per run and pivoted.
LOOKED_UP = 12


@dataclass(frozen=True)
class Request:
    """What to group: experiments (all when empty), ``--by`` keys (None: all params), results, one sweep."""

    experiments: tuple[str, ...] = ()
    by: tuple[str, ...] | None = None
    results: tuple[str, ...] = ()
    sweep: str | None = None  # a full sweep id
    split_code: bool = False


@dataclass(frozen=True)
class Key:
    """A param that keys groups: its name and its column of comparable values."""

    name: str
    canon: Any


def canon_value(dialect: Dialect, params: Any) -> ColumnElement[Any]:
    """A param's value as a group key. SQLite keeps a number itself (it compares numbers and texts
    apart); a PostgreSQL column has one type, so there a number is ``#`` and its exact text (float8
    prints exactly since 12). Anything else is ``value_type:text``."""
    other = params.c.value_type.concat(":").concat(params.c.text)
    if dialect.name == "sqlite":
        return case((params.c.num.is_not(None), params.c.num), else_=other)
    return case((params.c.num.is_not(None), literal("#").concat(cast(params.c.num, Text))), else_=other)


def joined(dialect: Dialect, column: Any, distinct: bool = False) -> ColumnElement[str]:
    """The non-NULL values of ``column`` in a group as one text, in no order (:func:`split` reads it)."""
    value: Any = func.replace(column, ",", func.char(31) if dialect.name == "sqlite" else func.chr(31))
    if distinct:
        value = value.distinct()
    if dialect.name == "sqlite":
        return func.group_concat(value)
    return func.string_agg(value, literal(","))


def split(joined_text: str | None) -> set[str]:
    """The values :func:`joined` joined."""
    return {part.replace("\x1f", ",") for part in joined_text.split(",")} if joined_text else set()


def canon_order(canon: Any) -> tuple:
    """Sort groups by their params: numbers numerically, then other values, then missing ones."""
    if canon is None:
        return (2, "")
    if isinstance(canon, (int, float)):
        return (0, canon)
    if canon.startswith("#"):
        return (0, float(canon[1:]))
    return (1, canon)


class Scope:
    """The runs in scope as the subquery ``keyed``: id, experiment, seed, spawn_key, script_digest,
    environment_id, ok, one comparable column per param key (``c0``…, all keys, for "all params
    equal"), and with ``--by`` one per by-key (``b0``…, a missing key and null alike)."""

    def __init__(self, conn: Connection, request: Request, crashed: Sequence[str]) -> None:
        runs = run_table
        where: list[Any] = [text(ORIGINAL_RUNS),
                 or_(runs.c.status.in_(("completed", "failed", "interrupted", "crashed")), runs.c.id.in_(list(crashed)))]
        if request.experiments:
            where.append(runs.c.experiment.in_(request.experiments))
        if request.sweep is not None:
            tags = tag_table
            where.append(runs.c.id.in_(select(tags.c.run_id).where(
                tags.c.key == SWEEP_TAG, tags.c.num.is_(None), tags.c.text == request.sweep)))
        ok = case((runs.c.status == "completed", 1), else_=0).label("ok")
        base = select(runs.c.id, runs.c.experiment, runs.c.seed, runs.c.spawn_key, runs.c.script_digest,
                      runs.c.environment_id, ok).where(*where).cte("scope")
        params = param_table
        in_scope = params.c.run_id.in_(select(base.c.id))
        self.keys: list[str] = sorted(conn.execute(select(params.c.key).where(in_scope).distinct()).scalars())
        by = request.by
        canon = canon_value(conn.dialect, params)
        by_canon = case((params.c.value_type == "null", None), else_=canon)  # a null param groups as a missing one
        pivot = [(f"c{i}", key, canon) for i, key in enumerate(self.keys)]
        pivot += [(f"b{j}", key, by_canon) for j, key in enumerate(by or ())]
        if len(pivot) <= LOOKED_UP:
            keyed = select(base, *[select(value).where(params.c.run_id == base.c.id, params.c.key == key)
                                   .scalar_subquery().label(name) for name, key, value in pivot])
        else:
            wanted = sorted(set(self.keys) | set(by or ()))
            keyed = (select(base, *[func.max(case((params.c.key == key, value))).label(name)
                                    for name, key, value in pivot])
                     .select_from(base.outerjoin(params, and_(params.c.run_id == base.c.id, params.c.key.in_(wanted))))
                     .group_by(*base.c))
        # Materialized: read once per statement, each param looked up once (an inlined subquery would
        # repeat its lookups wherever a statement names the column).
        self.keyed = k = keyed.cte("keyed").prefix_with("MATERIALIZED")
        self.request = request
        self.dialect = conn.dialect
        self.canon = [k.c[f"c{i}"] for i in range(len(self.keys))]
        if by is None:
            self.grouped = [Key(key, k.c[f"c{i}"]) for i, key in enumerate(self.keys)]
        else:
            self.grouped = [Key(key, k.c[f"b{j}"]) for j, key in enumerate(by)]
        self.fixed = [k.c.experiment, *([k.c.script_digest] if request.split_code else [])]

    def group_columns(self, without: str | None = None) -> list[Any]:
        """What keys a group: the experiment, the script digest with ``--split-code``, the grouped params."""
        return self.fixed + [key.canon for key in self.grouped if key.name != without]

    def same_data(self) -> list[Any]:
        """What must be equal for two runs to owe identical data (DESIGN §9): all params, seed, code, environment."""
        k = self.keyed
        return [k.c.experiment, k.c.seed, k.c.spawn_key, k.c.script_digest, k.c.environment_id, *self.canon]

    def params(self, conn: Connection, representatives: Sequence[str], without: str | None = None) -> list[dict]:
        """The params each group shows, read from one run of it: all its params, or every ``--by`` key
        (None for a run without it); ``without`` leaves one key out."""
        table, found = param_table, dict[str, dict[str, Any]]()
        query = select(table.c.run_id, table.c.key, table.c.value_type, table.c.text)
        for run_id, key, value_type, stored in where_in(conn, query, table.c.run_id, representatives):
            found.setdefault(run_id, {})[key] = keyvalues.decode(value_type, stored)
        if self.request.by is None:
            return [{key: value for key, value in sorted(found.get(run_id, {}).items()) if key != without}
                    for run_id in representatives]
        return [{key.name: found.get(run_id, {}).get(key.name) for key in self.grouped if key.name != without}
                for run_id in representatives]
