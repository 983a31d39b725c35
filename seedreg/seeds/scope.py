"""The runs ``seeds`` reads and their group keys, as one materialized CTE every statistic is computed over.

Runs: original (not replays), not deleted, completed (``ok`` 1), or failed, interrupted or crashed
(``ok`` 0), read from the covering index ``ix_runs_seeds_scope`` in id order, so that each run's
lookups (params, results, fingerprints: each from a covering index keyed by run id) walk their
indexes forward instead of jumping (at 100,000 runs, 2-6x faster). A run's params are one text,
``sig``, equal exactly when all params are (a number is keyed by its value, as filters compare:
``1`` and ``1.0`` are one group; anything else by its type and text); ``--by`` keys get one too.
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


@dataclass(frozen=True)
class Request:
    """What to group: experiments (all when empty), ``--by`` keys (None: all params), results, one sweep."""

    experiments: tuple[str, ...] = ()
    by: tuple[str, ...] | None = None
    results: tuple[str, ...] = ()
    sweep: str | None = None  # a full sweep id
    split_code: bool = False


def _quoted(dialect: Dialect, value: Any) -> ColumnElement[str]:
    """``value`` as a quoted SQL literal: self-delimiting, so a sequence of them is read back one way."""
    return func.quote(value) if dialect.name == "sqlite" else func.quote_literal(value)


def signature(dialect: Dialect, run_id: Any, without: str | None = None,
              only: Sequence[str] | None = None) -> ColumnElement[str]:
    """The params of run ``run_id`` as one text, in key order: ``'key'=#number,`` or
    ``'key'='type:text',`` each; all of them but ``without``, or with ``only`` just those keys, a null one left out (it groups
    as a missing one). SQLite's ``quote`` of a float is exact (it round-trips), PostgreSQL's float8
    text too: two runs' texts are equal exactly when those params compare equal (``1`` and ``1.0``
    alike, as filters compare them). Read from the covering index ``ix_params_run_values``."""
    p = param_table.alias("p")
    number = func.quote(p.c.num) if dialect.name == "sqlite" else cast(p.c.num, Text)
    value = case((p.c.num.is_not(None), literal("#").concat(number)),
                 else_=_quoted(dialect, p.c.value_type.concat(":").concat(p.c.text)))
    # Quoted texts double their quotes, and the = and , that follow a closing quote tell it from a
    # doubled one: the text reads back one way only (no two param sets share it).
    item: Any = _quoted(dialect, p.c.key).concat("=").concat(value).concat(",")
    where = [p.c.run_id == run_id]
    if without is not None:
        where.append(p.c.key != without)
    if only is not None:  # in the item, not the WHERE: a condition on the key makes SQLite look each
        # run's params up by primary key (run id, key) and read the table, not this covering index
        item = case((and_(p.c.key.in_(only), p.c.value_type != "null"), item))
    if dialect.name == "sqlite":
        # group_concat takes its rows in the subquery's order (SQLite keeps an ORDER BY that feeds it).
        items = (select(item.label("item")).where(*where).order_by(p.c.key).correlate(run_id.table)
                 .subquery("items"))
        joined_items: Any = select(func.group_concat(items.c.item, "")).scalar_subquery()
    else:
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        joined_items = select(func.string_agg(item, aggregate_order_by(literal(""), p.c.key))).where(*where) \
            .scalar_subquery()
    return func.coalesce(joined_items, "")


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


def param_order(value_type: str | None, stored: str | None, num: float | None) -> tuple:
    """Sort groups by a param: numbers numerically, then other values (type and text), then missing ones."""
    if value_type is None:
        return (2, "")
    if num is not None:
        return (0, num)
    return (1, f"{value_type}:{stored}")


class Scope:
    """The runs in scope as the CTE ``keyed``, in id order: id, experiment, seed, spawn_key,
    script_digest, environment_id, ok, ``sig`` (all params: for "all params equal", and what groups
    by default) and ``grouping`` when something else groups (the ``--by`` keys, a missing key and null
    alike; or all params but ``without``)."""

    def __init__(self, conn: Connection, request: Request, crashed: Sequence[str], without: str | None = None) -> None:
        runs = run_table
        where: list[Any] = [text(ORIGINAL_RUNS),
                            or_(runs.c.status.in_(("completed", "failed", "interrupted", "crashed")),
                                runs.c.id.in_(list(crashed)))]
        if request.experiments:
            where.append(runs.c.experiment.in_(request.experiments))
        elif request.sweep is None and conn.dialect.name == "sqlite":
            # Every experiment, named: with no condition on it SQLite reads the runs through the status
            # index, every row from the table; named, through the index that covers them.
            named = conn.execute(select(runs.c.experiment).where(text(ORIGINAL_RUNS)).distinct()).scalars().all()
            where.append(runs.c.experiment.in_(named))
        if request.sweep is not None:
            tags = tag_table
            where.append(runs.c.id.in_(select(tags.c.run_id).where(
                tags.c.key == SWEEP_TAG, tags.c.num.is_(None), tags.c.text == request.sweep)))
        ok = case((runs.c.status == "completed", 1), else_=0).label("ok")
        self.request, self.dialect, self.without = request, conn.dialect, without
        columns: list[Any] = [runs.c.id, runs.c.experiment, runs.c.seed, runs.c.spawn_key, runs.c.script_digest,
                              runs.c.environment_id, ok]
        if without is None:  # every param: what same_data compares
            columns.append(signature(conn.dialect, runs.c.id).label("sig"))
        if request.by is not None or without is not None:  # what groups: the --by keys, or all but one
            by = [key for key in request.by if key != without] if request.by is not None else None
            columns.append(signature(conn.dialect, runs.c.id, without, by).label("grouping"))
        # Materialized: read once per statement, each run's params looked up once; in id order (from
        # the index, no sort), which the lookups of every part that reads it keep.
        self.keyed = k = select(*columns).where(*where).order_by(runs.c.id).cte("keyed").prefix_with("MATERIALIZED")
        self.grouped = [k.c.grouping if "grouping" in k.c else k.c.sig]
        self.fixed = [k.c.experiment, *([k.c.script_digest] if request.split_code else [])]

    def group_columns(self) -> list[Any]:
        """What keys a group: the experiment, the script digest with ``--split-code``, the grouped params."""
        return self.fixed + self.grouped

    def group_order(self) -> list[Any]:
        """:meth:`group_columns` for GROUP BY and PARTITION BY: the params first, as sorting compares
        columns left to right and the experiment (one, often) and script digests (long) rarely differ."""
        return self.grouped + self.fixed

    def same_data(self) -> list[Any]:
        """What must be equal for two runs to owe identical data (DESIGN §9): all params, seed, spawn key,
        code, environment (the ones that tell runs apart first, for the sort)."""
        assert self.without is None, "same_data needs every param"
        k = self.keyed
        return [k.c.seed, k.c.sig, k.c.spawn_key, k.c.environment_id, k.c.experiment, k.c.script_digest]

    def params(self, conn: Connection, representatives: Sequence[str]) -> list[tuple[dict, tuple]]:
        """Per group (read from one run of it): the params it shows, all its params or every ``--by`` key
        (None for a run without it), ``without`` left out; and its sort key (:func:`param_order`, by key)."""
        table, found = param_table, dict[str, dict[str, tuple]]()
        query = select(table.c.run_id, table.c.key, table.c.value_type, table.c.text, table.c.num)
        for run_id, key, value_type, stored, num in where_in(conn, query, table.c.run_id, representatives):
            if key != self.without:
                found.setdefault(run_id, {})[key] = (value_type, stored, num)
        if self.request.by is None:
            keys = sorted({key for rows in found.values() for key in rows})
        else:
            keys = [key for key in self.request.by if key != self.without]
        shown = []
        for run_id in representatives:
            rows = found.get(run_id, {})
            if self.request.by is not None:  # a null param groups (and sorts) as a missing one
                rows = {key: row for key, row in rows.items() if row[0] != "null"}
            order = tuple(param_order(*rows.get(key, (None, None, None))) for key in keys)
            if self.request.by is None:
                values = {key: keyvalues.decode(row[0], row[1]) for key, row in sorted(rows.items())}
            else:
                values = {key: keyvalues.decode(*rows[key][:2]) if key in rows else None for key in keys}
            shown.append((values, order))
        return shown
