"""``seedreg seeds``: groups, their results' statistics, and data that differs where it should not.

One statement over :class:`~seedreg.seeds.scope.Scope` (read once), three grouped parts joined by
``UNION ALL``, so Python sees one row per group, per group and result, and per nondeterministic
output: counts, seeds and script digests; each result's count, mean, sample std (two-pass:
deviations from the window mean), min, max, the seeds that gave them and a histogram; and
same-data classes whose fingerprints under one name differ, compared in the covering index
``ix_fingerprints_run_digest`` (never the table's rows, nor any run outside the scope).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Integer, case, cast, func, literal, literal_column, null, or_, select, union_all

from seedreg.db import liveness
from seedreg.db.tables import fingerprint_table, result_table
from seedreg.seeds.records import Nondeterministic, ResultStats, SeedGroup, seed_order
from seedreg.seeds.scope import Request, Scope, joined, split

#: Tables show each result's finite values in this many equal bins from min to max.
HISTOGRAM_BINS = 8
COUNTS, STATISTICS, NONDETERMINISTIC = 0, 1, 2
#: Every part's row: kind, the group's columns, then TEXTS text and NUMBERS number columns (padded with
#: NULL), so that each position has one type on every database.
TEXTS, NUMBERS = 3, 7


def group_seeds(conn: Connection, request: Request) -> list[SeedGroup]:
    """The groups of DESIGN §9, sorted by experiment and params; [] when no run has a named result."""
    scope = Scope(conn, request, liveness.crashed_ids(conn))
    width = len(scope.group_columns())
    counts: dict[tuple, Sequence[Any]] = {}
    results: dict[tuple, dict[str, list]] = {}
    odd: dict[tuple, list[Nondeterministic]] = {}
    for kind, *row in conn.execute(statement(scope)):
        key, texts, numbers = tuple(row[:width]), row[width:width + TEXTS], row[width + TEXTS:]
        if kind == COUNTS:
            counts[key] = (*texts, *numbers[:2])
        elif kind == STATISTICS:
            results.setdefault(key, {}).setdefault(texts[0], []).append((texts[1:], numbers))
        else:
            output, seed, ids = texts
            odd.setdefault(key, []).append(Nondeterministic(output, seed, tuple(sorted(split(ids)))))
    if request.results and not results:
        return []
    keys = list(counts)
    shown = scope.params(conn, [counts[key][2] for key in keys])
    code_order = (lambda key: [(1, key[1])]) if request.split_code else (lambda key: [])
    order = sorted(range(len(keys)), key=lambda i: (keys[i][0], code_order(keys[i]), shown[i][1]))
    groups = []
    for i in order:
        key, params = keys[i], shown[i][0]
        seeds, code, _, n, runs = counts[key]
        groups.append(SeedGroup(
            experiment=key[0], params=params, n=int(n), n_failed=int(runs - n), code=tuple(sorted(split(code))),
            seeds=tuple(sorted(split(seeds), key=seed_order)),
            results={name: _merge(parts) for name, parts in sorted(results.get(key, {}).items())},
            nondeterministic=tuple(sorted(odd.get(key, ()), key=lambda o: (o.output, seed_order(o.seed))))))
    return groups


def statement(scope: Scope) -> Any:
    """The one statement: counts, statistics and nondeterministic outputs of the groups of ``scope``."""
    return union_all(_counts(scope), _statistics(scope), _nondeterministic(scope))


def _row(kind: int, group: Sequence[Any], texts: Sequence[Any], numbers: Sequence[Any]) -> list[Any]:
    return [literal(kind), *group, *texts, *[null()] * (TEXTS - len(texts)), *numbers,
            *[null()] * (NUMBERS - len(numbers))]


def _counts(scope: Scope) -> Any:
    """Per group: distinct seeds, distinct script digests, one run's id; completed runs, all runs."""
    k = scope.keyed
    texts = [joined(scope.dialect, k.c.seed, distinct=True), joined(scope.dialect, k.c.script_digest, distinct=True),
             func.min(k.c.id)]
    return (select(*_row(COUNTS, scope.group_columns(), texts, [func.sum(k.c.ok), func.count()]))
            .group_by(*scope.group_order()))


def _statistics(scope: Scope) -> Any:
    """Per group, result and histogram bin, over completed runs: the name and the seeds at min and max;
    the bin, n, n_valid, mean, sum of squared deviations, min and max (:func:`_merge` adds the bins up).

    The bin is a key rather than one sum per bin: one more column to sort by instead of a CASE per
    bin for every value."""
    k, res = scope.keyed, result_table
    columns = [column.label(f"g{i}") for i, column in enumerate(scope.group_columns())]
    partition = [*scope.grouped, res.c.name, *scope.fixed]  # the params first (Scope.group_order)
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
    # floor((x - min) / (max - min) * BINS), the max in the last bin; NULL for a value that is not finite.
    # Constants inline, not bound: the expression in GROUP BY is then the one selected, computed once.
    bins: Any = literal_column(f"{HISTOGRAM_BINS}.0")
    last: Any = literal_column(str(HISTOGRAM_BINS - 1))
    scaled = (v.num - v.lo) / (v.hi - v.lo) * bins
    capped: Any
    if scope.dialect.name == "sqlite":
        capped = func.min(cast(scaled, Integer), last)  # the cast truncates, and scaled >= 0
    else:
        capped = func.least(func.floor(scaled), last)
    bin_ = case((v.num.is_(None), null()), (v.hi == v.lo, last), else_=capped)
    deviation = v.num - v.mean
    texts = [v.name, joined(scope.dialect, case((v.num == v.lo, v.seed))),
             joined(scope.dialect, case((v.num == v.hi, v.seed)))]
    numbers = [bin_, func.count(), func.count(v.num), func.max(v.mean), func.sum(deviation * deviation),
               func.max(v.lo), func.max(v.hi)]
    fixed = len(scope.fixed)
    return select(*_row(STATISTICS, group, texts, numbers)).group_by(*group[fixed:], v.name, *group[:fixed], bin_)


def _merge(parts: list[tuple[Sequence[Any], Sequence[Any]]]) -> ResultStats:
    """One result's statistics from its bins' rows (texts: seeds at min and max; numbers as
    :func:`_statistics` gives them)."""
    at_min, at_max, bins = set(), set(), [0] * HISTOGRAM_BINS
    n = n_valid = 0
    squares = 0.0
    for (seeds_min, seeds_max), (bin_, count, valid, _, part, _, _) in parts:
        at_min |= split(seeds_min)
        at_max |= split(seeds_max)
        n, n_valid, squares = n + int(count), n_valid + int(valid), squares + (part or 0.0)
        if bin_ is not None:
            bins[int(bin_)] += int(valid)
    _, _, _, mean, _, lo, hi = parts[0][1]  # the window's, the same on every row of the result
    std = (squares / (n_valid - 1)) ** 0.5 if n_valid >= 2 else None
    return ResultStats(n=n, n_valid=n_valid, mean=mean, std=std, min=lo, max=hi,
                       min_seeds=tuple(sorted(at_min, key=seed_order)), max_seeds=tuple(sorted(at_max, key=seed_order)),
                       histogram=tuple(bins) if n_valid else ())


def _nondeterministic(scope: Scope) -> Any:
    """Same-data classes of completed runs with a script digest whose fingerprints under one name differ.

    Each run's fingerprints are read from the covering index on (run id, name, algorithm, digest), in
    run id order; a class of one run never has two digests, so no size filter is needed."""
    k, fps, same = scope.keyed, fingerprint_table, scope.same_data()
    texts = [fps.c.name, k.c.seed, joined(scope.dialect, k.c.id)]
    # --by keys are not grouped by here, but all params are: each class has one value of each.
    group = [column if any(column is c for c in same) else func.min(column) for column in scope.group_columns()]
    return (select(*_row(NONDETERMINISTIC, group, texts, []))
            .select_from(k.join(fps, fps.c.run_id == k.c.id))
            .where(k.c.ok == 1, k.c.script_digest.is_not(None))
            .group_by(*same[:2], fps.c.name, *same[2:])
            .having(or_(func.min(fps.c.digest) != func.max(fps.c.digest),
                        func.min(fps.c.algorithm) != func.max(fps.c.algorithm))))
