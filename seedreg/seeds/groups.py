"""``seedreg seeds``: groups, their results' statistics, and data that differs where it should not.

One statement over :class:`~seedreg.seeds.scope.Scope` (read once), three grouped parts joined by
``UNION ALL``, so Python sees one row per group, per group and result, and per nondeterministic
output: counts, seeds and script digests; each result's count, mean, sample std (two-pass:
deviations from the window mean), min, max, the seeds that gave them and a histogram; and
same-data classes whose fingerprints under one name differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, null, or_, select, union_all

from seedreg.db import liveness
from seedreg.db.tables import fingerprint_table, result_table
from seedreg.seeds.records import Nondeterministic, ResultStats, SeedGroup, seed_order
from seedreg.seeds.scope import Request, Scope, canon_order, joined, split

#: Tables show each result's finite values in this many equal bins from min to max.
HISTOGRAM_BINS = 8
COUNTS, STATISTICS, NONDETERMINISTIC = 0, 1, 2
#: Every part's row: kind, the group's columns, then TEXTS text and NUMBERS number columns (padded with
#: NULL), so that each position has one type on every database.
TEXTS, NUMBERS = 3, 6 + HISTOGRAM_BINS


def group_seeds(conn: Connection, request: Request) -> list[SeedGroup]:
    """The groups of DESIGN §9, sorted by experiment and params; [] when no run has a named result."""
    scope = Scope(conn, request, liveness.crashed_ids(conn))
    width = len(scope.group_columns())
    counts: dict[tuple, Sequence[Any]] = {}
    results: dict[tuple, dict[str, ResultStats]] = {}
    odd: dict[tuple, list[Nondeterministic]] = {}
    for kind, *row in conn.execute(union_all(_counts(scope), _statistics(scope), _nondeterministic(scope))):
        key, texts, numbers = tuple(row[:width]), row[width:width + TEXTS], row[width + TEXTS:]
        if kind == COUNTS:
            counts[key] = (*texts, *numbers[:2])
        elif kind == STATISTICS:
            results.setdefault(key, {})[texts[0]] = _stats(texts[1:], numbers)
        else:
            output, seed, ids = texts
            odd.setdefault(key, []).append(Nondeterministic(output, seed, tuple(sorted(split(ids)))))
    if request.results and not results:
        return []
    keys = sorted(counts, key=lambda key: (key[0], [canon_order(c) for c in key[1:]]))
    shown = scope.params(conn, [counts[key][2] for key in keys])
    groups = []
    for key, params in zip(keys, shown):
        seeds, code, _, n, runs = counts[key]
        groups.append(SeedGroup(
            experiment=key[0], params=params, n=int(n), n_failed=int(runs - n), code=tuple(sorted(split(code))),
            seeds=tuple(sorted(split(seeds), key=seed_order)), results=dict(sorted(results.get(key, {}).items())),
            nondeterministic=tuple(sorted(odd.get(key, ()), key=lambda o: (o.output, seed_order(o.seed))))))
    return groups


def _row(kind: int, group: Sequence[Any], texts: Sequence[Any], numbers: Sequence[Any]) -> list[Any]:
    return [literal(kind), *group, *texts, *[null()] * (TEXTS - len(texts)), *numbers,
            *[null()] * (NUMBERS - len(numbers))]


def _counts(scope: Scope) -> Any:
    """Per group: distinct seeds, distinct script digests, one run's id; completed runs, all runs."""
    k = scope.keyed
    columns = scope.group_columns()
    texts = [joined(scope.dialect, k.c.seed, distinct=True), joined(scope.dialect, k.c.script_digest, distinct=True),
             func.min(k.c.id)]
    return select(*_row(COUNTS, columns, texts, [func.sum(k.c.ok), func.count()])).group_by(*columns)


def _statistics(scope: Scope) -> Any:
    """Per group and result, over completed runs: the name and the seeds at min and max; n, n_valid, mean,
    sum of squared deviations, min, max, and the histogram."""
    k, res = scope.keyed, result_table
    columns = [column.label(f"g{i}") for i, column in enumerate(scope.group_columns())]
    partition = [*scope.group_columns(), res.c.name]
    where = [k.c.ok == 1]
    if scope.request.results:
        where.append(res.c.name.in_(scope.request.results))
    values = (select(*columns, res.c.name, res.c.num, k.c.seed,
                     func.avg(res.c.num).over(partition_by=partition).label("mean"),
                     func.min(res.c.num).over(partition_by=partition).label("lo"),
                     func.max(res.c.num).over(partition_by=partition).label("hi"))
              .select_from(k.join(res, res.c.run_id == k.c.id)).where(*where).subquery("vals"))
    v = values.c
    group = [v[f"g{i}"] for i in range(len(columns))]
    deviation = v.num - v.mean
    step = (v.hi - v.lo) / HISTOGRAM_BINS
    bins = []
    for i in range(HISTOGRAM_BINS):
        inside = v.num >= v.lo + step * i
        if i < HISTOGRAM_BINS - 1:
            inside = and_(inside, v.num < v.lo + step * (i + 1))
        bins.append(func.sum(case((inside, 1), else_=0)))
    texts = [v.name, joined(scope.dialect, case((v.num == v.lo, v.seed))),
             joined(scope.dialect, case((v.num == v.hi, v.seed)))]
    numbers = [func.count(), func.count(v.num), func.max(v.mean), func.sum(deviation * deviation), func.max(v.lo),
               func.max(v.hi), *bins]
    return select(*_row(STATISTICS, group, texts, numbers)).group_by(*group, v.name)


def _stats(seeds: Sequence[Any], numbers: Sequence[Any]) -> ResultStats:
    at_min, at_max = seeds
    n, n_valid, mean, squares, lo, hi, *bins = numbers
    n, n_valid = int(n), int(n_valid)
    std = (squares / (n_valid - 1)) ** 0.5 if n_valid >= 2 else None
    return ResultStats(n=n, n_valid=n_valid, mean=mean, std=std, min=lo, max=hi,
                       min_seeds=tuple(sorted(split(at_min), key=seed_order)),
                       max_seeds=tuple(sorted(split(at_max), key=seed_order)),
                       histogram=tuple(int(b or 0) for b in bins) if n_valid else ())


def _nondeterministic(scope: Scope) -> Any:
    """Same-data classes of completed runs with a script digest whose fingerprints under one name differ;
    only runs that share their class with another run have their fingerprints read."""
    k, fps = scope.keyed, fingerprint_table
    classes = (select(k, func.count().over(partition_by=scope.same_data()).label("size"))
               .where(k.c.ok == 1, k.c.script_digest.is_not(None)).subquery("classes"))
    c = classes.c
    texts = [fps.c.name, func.min(c.seed), joined(scope.dialect, c.id)]
    return (select(*_row(NONDETERMINISTIC, [func.min(c[column.name]) for column in scope.group_columns()], texts, []))
            .select_from(classes.join(fps, fps.c.run_id == c.id))
            .where(c.size > 1)
            .group_by(*[c[column.name] for column in scope.same_data()], fps.c.name)
            .having(or_(func.min(fps.c.digest) != func.max(fps.c.digest),
                        func.min(fps.c.algorithm) != func.max(fps.c.algorithm))))
