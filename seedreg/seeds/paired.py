"""``seeds --vs KEY=A --vs KEY=B``: two configurations compared seed by seed (a paired view).

Within each group of the other params, a run is on side A or B by its ``KEY`` (matched as filters
match: numbers numerically). Per side, seed and result the mean of its completed runs' finite values;
per seed both sides ran, ``d = B - A``; per result: pairs, mean and sample std of ``d``, and how many
seeds favour each side. All in SQL; Python sees one row per group and result.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, case, exists, func, literal, select

from seedreg.db import keyvalues, liveness
from seedreg.db.tables import param_table, result_table
from seedreg.errors import UsageError
from seedreg.registry.query import ValueMatch
from seedreg.seeds.records import PairedGroup, PairedStats, seed_order
from seedreg.seeds.scope import Request, Scope, joined, split


def configurations(a: str, b: str) -> tuple[ValueMatch, ValueMatch, Any, Any]:
    """``KEY=A`` and ``KEY=B`` parsed as filters are (UsageError unless both name the same key)."""
    first, second = ValueMatch.parse(a, "vs"), ValueMatch.parse(b, "vs")
    if first.key != second.key:
        raise UsageError(f"--vs takes KEY=A --vs KEY=B with the same KEY, not {first.key!r} and {second.key!r}")
    return first, second, keyvalues.parse_filter_value(a.partition("=")[2]), keyvalues.parse_filter_value(b.partition("=")[2])


def paired(conn: Connection, request: Request, a: str, b: str) -> list[PairedGroup]:
    """The paired view of DESIGN §9, one entry per group of the other params that ran both sides."""
    match_a, match_b, value_a, value_b = configurations(a, b)
    key = match_a.key
    scope = Scope(conn, request, liveness.crashed_ids(conn), without=key)
    k, res = scope.keyed, result_table
    group = scope.group_columns()
    width = len(group)
    params = param_table.alias()

    def on(match: ValueMatch) -> Any:
        return exists().where(params.c.run_id == k.c.id, match.condition(params))

    side = case((on(match_a), literal("a")), (on(match_b), literal("b")))
    where = [k.c.ok == 1, res.c.num.is_not(None)]
    if request.results:
        where.append(res.c.name.in_(request.results))
    rows = (select(*[column.label(f"g{i}") for i, column in enumerate(group)], k.c.id, k.c.seed, res.c.name,
                   res.c.num, side.label("side"))
            .select_from(k.join(res, res.c.run_id == k.c.id)).where(*where).subquery("sided"))
    g = [rows.c[f"g{i}"] for i in range(width)]
    per_seed = (select(*g, func.min(rows.c.id).label("run"), rows.c.seed, rows.c.name, rows.c.side,
                       func.avg(rows.c.num).label("v"))
                .where(rows.c.side.is_not(None)).group_by(*g, rows.c.seed, rows.c.name, rows.c.side).cte("per_seed"))
    left, right = per_seed.alias("a"), per_seed.alias("b")
    lg = [left.c[f"g{i}"] for i in range(width)]
    same = [column.is_not_distinct_from(right.c[f"g{i}"]) for i, column in enumerate(lg)]
    difference = right.c.v - left.c.v
    pairs = (select(*lg, left.c.run, left.c.name, left.c.seed, difference.label("d"),
                    func.avg(difference).over(partition_by=[*lg, left.c.name]).label("mean"))
             .select_from(left.join(right, and_(*same, left.c.name == right.c.name, left.c.seed == right.c.seed,
                                                left.c.side == "a", right.c.side == "b")))
             .subquery("pairs"))
    p = pairs.c
    pg = [p[f"g{i}"] for i in range(width)]
    deviation = p.d - p.mean
    query = (select(*pg, p.name, func.min(p.run), func.count(), func.max(p.mean), func.sum(deviation * deviation),
                    func.sum(case((p.d < 0, 1), else_=0)), func.sum(case((p.d > 0, 1), else_=0)),
                    func.sum(case((p.d == 0, 1), else_=0)), joined(scope.dialect, p.seed))
             .group_by(*pg, p.name))
    found: dict[tuple, dict[str, Any]] = {}
    for row in conn.execute(query):
        name, run, n, mean, squares, a_higher, b_higher, ties, seeds = row[width:]
        entry = found.setdefault(tuple(row[:width]), {"run": run, "seeds": set(), "results": {}})
        entry["run"] = min(entry["run"], run)
        entry["seeds"] |= split(seeds)
        entry["results"][name] = PairedStats(n=n, mean=mean, std=(squares / (n - 1)) ** 0.5 if n >= 2 else None,
                                             a_higher=int(a_higher), b_higher=int(b_higher), ties=int(ties))
    keys = list(found)
    shown = scope.params(conn, [found[group_key]["run"] for group_key in keys])
    code = (lambda group_key: [(1, group_key[1])]) if request.split_code else (lambda group_key: [])
    order = sorted(range(len(keys)), key=lambda i: (keys[i][0], code(keys[i]), shown[i][1]))
    return [PairedGroup(experiment=keys[i][0], params=shown[i][0], key=key, a=value_a, b=value_b,
                        seeds=tuple(sorted(found[keys[i]]["seeds"], key=seed_order)),
                        results=dict(sorted(found[keys[i]]["results"].items())))
            for i in order]
