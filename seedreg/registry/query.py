"""Filters of ``list``, ``export`` and :meth:`Registry.runs`: parsed once, turned into SQL.

Every condition is plain SQL over indexed columns (no dialect-specific JSON), so the same
query runs on SQLite and PostgreSQL. Params and tags are matched through their typed rows
(``params``/``tags``: key, value_type, exact text, and ``num`` for finite numbers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select

from seedreg.db import keyvalues
from seedreg.db.tables import param_table, run_table, tag_table
from seedreg.db.vocabulary import STATUSES
from seedreg.errors import InvalidSeedError, UsageError
from seedreg.seed import codec

_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+!_-]*$")

#: ``--sort`` keys and the column each sorts by (prefix ``-`` for descending).
SORT_KEYS = {
    "started": run_table.c.started_at, "ended": run_table.c.ended_at, "duration": run_table.c.duration,
    "experiment": run_table.c.experiment, "status": run_table.c.status,
}
DEFAULT_SORT = "-started"


@dataclass(frozen=True)
class ValueMatch:
    """One ``key=value`` filter on params or tags: numbers compare numerically, the rest exactly."""

    key: str
    num: float | None = None  # matches finite numbers (int or float) equal to this
    exact: tuple[tuple[str, str], ...] = ()  # (value_type, text) pairs that match as stored

    @classmethod
    def typed(cls, key: str, value: Any, *, also_text: str | None = None) -> ValueMatch:
        """Match ``value`` by its type; ``also_text`` also matches a string stored with that exact text."""
        if not isinstance(key, str) or not key:
            raise UsageError(f"a param or tag filter needs a non-empty key, not {key!r}")
        value_type, text, num = keyvalues.encode(value)
        exact: list[tuple[str, str]] = [] if num is not None else [(value_type, text)]
        if also_text is not None and (value_type, text) != ("str", also_text):
            exact.append(("str", also_text))
        return cls(key, num, tuple(exact))

    @classmethod
    def parse(cls, item: str, what: str = "param") -> ValueMatch:
        """Read ``k=v`` as typed on a command line: ``lr=0.1`` matches 0.1 logged as a float."""
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--{what} takes KEY=VALUE, not {item!r}")
        value: Any = keyvalues.parse_filter_value(text)
        if isinstance(value, str) and text.lstrip().startswith("["):
            try:
                listed = json.loads(text)
            except ValueError:
                listed = None
            if isinstance(listed, list):
                value = listed
        return cls.typed(key.strip(), value, also_text=None if isinstance(value, str) else text)

    def condition(self, table: Any) -> ColumnElement[bool]:
        """The rows of ``table`` (params or tags) this filter matches."""
        terms: list[ColumnElement[bool]] = []
        if self.num is not None:
            terms.append(and_(table.c.key == self.key, table.c.num == self.num))
        for value_type, text in self.exact:
            # num IS NULL: what the index by exact text holds (numbers are matched by num)
            terms.append(and_(table.c.key == self.key, table.c.num.is_(None), table.c.text == text,
                              table.c.value_type == value_type))
        return or_(*terms) if len(terms) > 1 else terms[0]


@dataclass(frozen=True)
class Filters:
    """What ``list`` (and ``export``, ``Registry.runs``) keep; every filter combines with AND."""

    experiment: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    seed: tuple[str, ...] = ()  # as stored: a decimal string, or a JSON array of decimal strings
    numpy: str | None = None  # exact version, or a prefix ending at a dot boundary ("1.26")
    since: datetime | None = None  # naive UTC, inclusive
    until: datetime | None = None  # naive UTC, exclusive
    params: tuple[ValueMatch, ...] = ()
    tags: tuple[ValueMatch, ...] = ()
    replays: bool | None = None  # True: only replays, False: only originals
    parent: str | None = None  # a full run id
    deleted: bool | None = False  # False: hide deleted runs, True: only deleted, None: both

    @classmethod
    def build(
        cls,
        *,
        experiment: str | Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        seed: int | str | tuple[int, ...] | Sequence[int | str | tuple[int, ...]] | None = None,
        numpy: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        params: Mapping[str, Any] | Iterable[str] | None = None,
        tags: Mapping[str, Any] | Iterable[str] | None = None,
        replays: bool | None = None,
        parent: str | None = None,
        deleted: bool | None = False,
        now: datetime | None = None,
    ) -> Filters:
        """Validate user filters (UsageError with one clear line for a bad one).

        ``seed``: an int, a decimal string, a tuple of ints (one sequence seed, as ``run.seed``
        gives it) or ``"1,2"``; a list of these matches any of them.
        """
        statuses = _strings(status)
        unknown = sorted(set(statuses) - set(STATUSES))
        if unknown:
            raise UsageError(f"unknown status {unknown[0]!r}: use {', '.join(STATUSES)}")
        if numpy is not None and not _VERSION.match(numpy.strip()):
            raise UsageError(f"--numpy takes a version like 1.26 or 1.26.4, not {numpy!r}")
        start = moment(since, "--since", now=now) if since is not None else None
        end = moment(until, "--until", end=True, now=now) if until is not None else None
        return cls(
            experiment=_strings(experiment),
            status=statuses,
            seed=tuple(seed_text(s) for s in _seeds(seed)),
            numpy=numpy.strip() if numpy is not None else None,
            since=start,
            until=end,
            params=_matches(params, "param"),
            tags=_matches(tags, "tag"),
            replays=replays,
            parent=parent,
            deleted=deleted,
        )

    def conditions(self, crashed_ids: Callable[[], Sequence[str]],
                   common: frozenset[str] = frozenset()) -> list[ColumnElement[bool]]:
        """SQL conditions on ``runs``; ``crashed_ids`` is asked only when running/crashed matter.

        A filter named in ``common`` (see :func:`plan`) matches many runs: it is written so that
        no index is driven by it, and the runs are walked in order (stopping at the limit)
        instead of every match being fetched and sorted. A common param or tag is probed per
        run (``EXISTS``); a selective one gives its run ids from a covering index (``IN``).
        """
        where: list[ColumnElement[bool]] = []
        if self.deleted is False:
            where.append(run_table.c.deleted_at.is_(None))
        elif self.deleted is True:
            where.append(run_table.c.deleted_at.is_not(None))
        if self.experiment:
            where.append(run_table.c.experiment.in_(self.experiment))
        if self.status:
            where.append(_status_condition(set(self.status), crashed_ids, "status" in common))
        if self.seed:
            where.append(_walked(run_table.c.seed, "seed" in common).in_(self.seed))
        if self.numpy:
            where.append(_numpy_condition(self.numpy, "numpy" in common))
        if self.since is not None:
            where.append(run_table.c.started_at >= self.since)
        if self.until is not None:
            where.append(run_table.c.started_at < self.until)
        if self.parent is not None:
            where.append(run_table.c.parent_id == self.parent)
        # A block a replay ran that the original did not have (an "extra") has no replay_of
        # but belongs to the replay session: it is a replay, never an original run.
        if self.replays is True:
            where.append(run_table.c.replay_of.is_not(None) | run_table.c.replay_session.is_not(None))
        elif self.replays is False:  # nearly every run: never drive an index by it
            where.append(func.coalesce(run_table.c.replay_of, run_table.c.replay_session).is_(None))
        for name, table, match in self.values():
            if name in common:
                where.append(exists().where(table.c.run_id == run_table.c.id, match.condition(table)))
            else:
                where.append(run_table.c.id.in_(select(table.c.run_id).where(match.condition(table))))
        return where

    def values(self) -> list[tuple[str, Any, ValueMatch]]:
        """The param and tag filters, each with a name for :func:`plan` and its table."""
        return ([(f"param:{i}", param_table, m) for i, m in enumerate(self.params)]
                + [(f"tag:{i}", tag_table, m) for i, m in enumerate(self.tags)])


#: A filter matching at least this many runs is "common" (see :func:`plan`).
COMMON = 5000


def plan(conn: Connection, filters: Filters) -> frozenset[str] | None:
    """Which filters match many runs (``COMMON`` or more), or None when one matches no run at all.

    SQLite plans without statistics: it takes any indexed equality as selective, so a common
    status, NumPy version, seed or param would have it fetch and sort every match. A capped
    count through each filter's own index (at most ``COMMON`` index entries) tells them apart.
    """
    probes: list[tuple[str, Any]] = []
    if filters.status and not set(filters.status) & {"running", "crashed"}:
        probes.append(("status", select(run_table.c.id).where(run_table.c.status.in_(filters.status))))
    if filters.seed:
        probes.append(("seed", select(run_table.c.id).where(run_table.c.seed.in_(filters.seed))))
    if filters.numpy:
        probes.append(("numpy", select(run_table.c.id).where(_numpy_condition(filters.numpy, False))))
    for name, table, match in filters.values():
        probes.append((name, select(table.c.run_id).where(match.condition(table))))
    common = set()
    for name, query in probes:
        found = conn.execute(select(func.count()).select_from(query.limit(COMMON).subquery())).scalar_one()
        if found == 0:
            return None
        if found >= COMMON:
            common.add(name)
    return frozenset(common)


def _walked(column: Any, common: bool) -> Any:
    """The column, or for a common value an expression of it that no index serves."""
    return func.coalesce(column, "") if common else column


def _numpy_condition(version: str, common: bool) -> ColumnElement[bool]:
    column = _walked(run_table.c.numpy_version, common)
    return or_(column == version, and_(column >= version + ".", column < version + "/"))


def order_by(sort: str = DEFAULT_SORT) -> list[ColumnElement[Any]]:
    """ORDER BY for ``--sort KEY`` (ascending) or ``-KEY`` (descending); ties: newest first, then id."""
    descending = sort.startswith("-")
    name = sort.lstrip("-+")
    column = SORT_KEYS.get(name)
    if column is None:
        raise UsageError(f"--sort takes one of {', '.join(SORT_KEYS)} (prefix - for descending), not {sort!r}")
    first = column.desc() if descending else column.asc()
    if name in ("ended", "duration"):
        first = first.nulls_last()
    if name == "started":
        return [first, run_table.c.id.desc() if descending else run_table.c.id.asc()]
    return [first, run_table.c.started_at.desc(), run_table.c.id.desc()]


def moment(value: str | datetime, what: str = "--since", *, end: bool = False, now: datetime | None = None) -> datetime:
    """A point in time as naive UTC: ISO 8601 (naive means local time) or ``7d``/``12h``/``30m``/``2w``.

    With ``end``, a date alone means the end of that day (``--until 2026-01-31`` includes the 31st).
    """
    if isinstance(value, datetime):
        return _utc(value)
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        base = now or datetime.now(timezone.utc)
        return _utc(base - timedelta(**{_UNITS[relative[2]]: int(relative[1])}))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{what} takes an ISO date or time (2026-01-31, 2026-01-31T14:00, …Z) or an age like 7d, 12h, 30m, 2w; "
            f"not {value!r}"
        ) from None
    if end and re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", text):
        parsed += timedelta(days=1)
    return _utc(parsed)


def seed_text(seed: int | str | Sequence[int]) -> str:
    """The stored text of a seed filter: ``101`` -> ``"101"``; ``1,2`` or ``[1, 2]`` -> a JSON array."""
    try:
        return codec.entropy_text(codec.named(seed))
    except InvalidSeedError as error:
        raise UsageError(str(error)) from None


def _status_condition(wanted: set[str], crashed_ids: Callable[[], Sequence[str]],
                      common: bool = False) -> ColumnElement[bool]:
    """Status as readers show it: a ``running`` run whose process is gone is ``crashed``."""
    crashed = list(crashed_ids()) if wanted & {"running", "crashed"} else []
    condition: ColumnElement[bool] = _walked(run_table.c.status, common).in_(sorted(wanted))
    if "crashed" in wanted and crashed:
        condition = condition | run_table.c.id.in_(crashed)
    if "running" in wanted and crashed:
        condition = condition & run_table.c.id.not_in(crashed)
    return condition


def _seeds(seed: Any) -> list[Any]:
    """Seeds to match: one int, str or tuple (a sequence seed, as ``run.seed`` gives it), or a list of them."""
    if seed is None:
        return []
    if isinstance(seed, (int, str, tuple)):
        return [seed]
    return list(seed)


def _strings(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _matches(given: Mapping[str, Any] | Iterable[str] | None, what: str) -> tuple[ValueMatch, ...]:
    if given is None:
        return ()
    if isinstance(given, Mapping):
        return tuple(ValueMatch.typed(key, value) for key, value in keyvalues.flatten(given).items())
    if isinstance(given, str):
        given = [given]
    return tuple(ValueMatch.parse(item, what) for item in given)


def _utc(moment_: datetime) -> datetime:
    """Naive UTC, as the registry stores times; a naive input is local time."""
    aware = moment_ if moment_.tzinfo is not None else moment_.astimezone()
    return aware.astimezone(timezone.utc).replace(tzinfo=None)
