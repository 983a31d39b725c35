"""The seeds view (DESIGN §9 as plots): per group, every run's result as a dot against its seed, mean ± std,
and the nondeterminism flags; for the app's ``/seeds`` and the report.

Groups come from ``Registry.seeds`` (the ``seeds`` command's API); the dots are the group's
completed runs, read with ``Registry.runs`` and kept when they belong to the group (its params,
or only its ``by`` keys, where a missing key groups under ``null``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from seedreg.errors import UsageError
from seedreg.ui import charts
from seedreg.ui.pages import Page, Query, first, link

if TYPE_CHECKING:
    from seedreg.records import RunRecord
    from seedreg.registry.facade import Registry

#: The seeds page shows this many groups at a time (``offset`` pages on).
GROUPS_PER_PAGE = 20
#: A group's chart draws at most this many runs (and says so when it has more).
MAX_DOTS = 2000


def _same(a: Any, b: Any) -> bool:
    """Values compared as the filters compare them: numbers numerically, booleans only with booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def member(group: Any, run: RunRecord, by: Sequence[str] | None) -> bool:
    """Whether ``run`` is one of ``group``'s runs: same experiment, and its params (or ``by`` keys) equal."""
    if run.experiment != group.experiment or run.replay_of is not None:
        return False
    keys = list(group.params) if by else sorted(set(group.params) | set(run.params))
    if not by and set(run.params) != set(group.params):
        return False
    return all(_same(run.params.get(key), group.params.get(key)) for key in keys)


def group_runs(registry: Registry, group: Any, by: Sequence[str] | None, sweep: str | None = None) -> tuple[list[RunRecord], bool]:
    """The group's completed runs (at most :data:`MAX_DOTS`), and whether there were more."""
    params = {key: value for key, value in group.params.items() if value is not None}
    tags = {"seedreg.sweep": sweep} if sweep else None
    found = registry.runs(experiment=group.experiment, params=params or None, tags=tags, replays=False,
                          status=["completed"], limit=MAX_DOTS + 1)
    runs = [run for run in found if member(group, run, by)
            and (len(group.code) <= 1 or run.script_digest in group.code or not group.code)]
    return runs[:MAX_DOTS], len(found) > MAX_DOTS


def _dot(run: RunRecord, value: Any) -> charts.Dot:
    seed = run.seed_text if isinstance(run.seed_text, str) else "[" + ", ".join(run.seed_text) + "]"
    number = run.seed if isinstance(run.seed, int) else None
    return charts.Dot(seed=seed, value=float(value), run_id=run.id, number=number)


def view(registry: Registry, groups: Sequence[Any], by: Sequence[str] | None, sweep: str | None,
         run_href: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """Each group with a chart per result and its flags, ready for ``parts/seeds.html``."""
    shown = []
    for group in groups:
        runs, more = group_runs(registry, group, by, sweep)
        results = []
        for name, stats in group.results.items():
            dots = [_dot(run, run.results[name]) for run in runs if isinstance(run.results.get(name), (int, float))]
            chart = charts.seeds_plot(dots, stats.mean, stats.std, f"{group.experiment} {name}",
                                      lambda run_id: run_href(run_id) or "#")
            results.append({"name": name, "stats": stats, "chart": chart})
        flags = [{"flag": flag, "compare": link("/compare", [("run", run_id) for run_id in flag.runs])}
                 for flag in group.nondeterministic]
        shown.append({"group": group, "results": results, "flags": flags, "more": more, "drawn": len(runs)})
    return shown


def _request(query: Query) -> dict[str, Any]:
    many = {name: tuple(v.strip() for v in query.get(name, ()) if v.strip()) for name in ("experiment", "by", "result")}
    split = first(query, "split_code").lower()
    if split not in ("", "0", "false", "1", "true", "on", "yes"):
        raise UsageError(f"split_code takes true or false, not {split!r}")
    return {"experiments": many["experiment"], "by": many["by"] or None, "results": many["result"],
            "sweep": first(query, "sweep") or None, "split_code": split in ("1", "true", "on", "yes")}


def seeds_page(registry: Registry, query: Query) -> Page:
    """Seeds ``/seeds``: ``seeds``' groups (the twin is ``seeds --json``), a page of them drawn."""
    request = _request(query)
    vs = [v.strip() for v in query.get("vs", ()) if v.strip()]
    if vs:
        if len(vs) != 2:
            raise UsageError("vs takes two configurations: ?vs=KEY=A&vs=KEY=B")
        paired = registry.paired(vs[0], vs[1], request.pop("experiments"), **request)
        return Page("seeds.html", "Seeds", {"paired": paired, "vs": vs, "groups": [], "total": len(paired),
                                             "offset": 0, "request": {**request, "experiments": ()},
                                             "previous": None, "next": None}, [g.to_json() for g in paired])
    groups = registry.seeds(**request)
    try:
        offset = max(0, int(first(query, "offset") or 0))
    except ValueError:
        raise UsageError(f"offset takes a whole number, not {first(query, 'offset')!r}") from None
    window = groups[offset: offset + GROUPS_PER_PAGE]
    pairs = [(k, v) for k, values in query.items() for v in values if v.strip() and k != "offset"]
    sweep = registry.resolve_sweep(request["sweep"]) if request["sweep"] else None
    context = {"groups": view(registry, window, request["by"], sweep, lambda run_id: f"/runs/{run_id}"),
               "total": len(groups), "offset": offset, "request": request,
               "previous": link("/seeds", pairs, offset=str(max(0, offset - GROUPS_PER_PAGE))) if offset else None,
               "next": link("/seeds", pairs, offset=str(offset + GROUPS_PER_PAGE))
               if offset + GROUPS_PER_PAGE < len(groups) else None}
    return Page("seeds.html", "Seeds", context, [group.to_json() for group in groups])


def seeds_for_runs(registry: Registry, runs: Sequence[RunRecord]) -> Page | None:
    """The seeds view of the groups the given original runs belong to (for the report); None when none does."""
    originals = [run for run in runs if run.replay_of is None]
    experiments = tuple(sorted({run.experiment for run in originals}))
    if not experiments:
        return None
    groups = [group for group in registry.seeds(experiments=experiments)
              if any(member(group, run, None) for run in originals)]
    if not groups:
        return None
    included = {run.id for run in runs}
    shown = view(registry, groups, None, None, lambda run_id: f"#run-{run_id}" if run_id in included else None)
    return Page("seeds.html", "Seeds", {"groups": shown, "total": len(groups), "offset": 0, "request": {},
                                         "previous": None, "next": None})
