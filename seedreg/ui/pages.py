"""What each page shows, read through the Registry API: one builder per page for the app, its JSON twins and the report.

A builder returns a :class:`Page`: the template, what it shows, and the JSON twin, which is the
CLI's ``--json`` of the same command. Bad input raises the API's own errors (UsageError: 400,
UnknownRunError: 404) with the CLI's messages.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from seedreg.cli.render import describe_where
from seedreg.db import engines
from seedreg.db.vocabulary import STATUSES
from seedreg.errors import UsageError
from seedreg.registry.query import DEFAULT_SORT, SORT_KEYS
from seedreg.ui import charts

if TYPE_CHECKING:
    from seedreg.integrity.audit import AuditReport
    from seedreg.records import RunRecord
    from seedreg.registry.facade import Registry
    from seedreg.registry.query import Filters

#: Query parameters as the app receives them: each name with all its values, in order.
Query = Mapping[str, Sequence[str]]

PAGE_SIZE = 20
MAX_LIMIT = 500
#: The runs page counts matches exactly up to this many, then says "more than".
COUNT_CAP = 10_000
#: A run page lists at most this many children (and says how many there are).
CHILDREN = 50
#: A run page draws the divergences of at most this many of its newest differing replays.
DRAWN_REPLAYS = 3
#: The filters of ``list`` that take several values (each a repeated query parameter).
MULTI = ("experiment", "status", "seed", "param", "tag")
SINGLE = ("numpy", "since", "until", "replays", "parent", "deleted")


@dataclass
class Page:
    """A page: its template, its title, what the template shows, and its JSON twin (or a function making it)."""

    template: str
    title: str
    context: dict[str, Any] = field(default_factory=dict)
    data: Any = None

    def twin(self) -> Any:
        """The JSON twin's data, made only when asked for."""
        return self.data() if callable(self.data) else self.data


class CountCache:
    """Totals of the runs page by filters, kept while the registry's files stay the same (SQLite only).

    Paging and sorting a filtered view count it once. A filter on running or crashed runs is
    never cached: a run crashes when its process dies, without any write.
    """

    def __init__(self, size: int = 256) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[Any, int] = OrderedDict()
        self.size = size

    def _key(self, registry: Registry, filters: Filters) -> Any:
        stamp = registry.data_stamp()
        return None if stamp is None or set(filters.status) & {"running", "crashed"} else (filters, stamp)

    def peek(self, registry: Registry, filters: Filters) -> int | None:
        """The cached total, or None when it would need counting."""
        key = self._key(registry, filters)
        with self._lock:
            if key is None or key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key]

    def count(self, registry: Registry, filters: Filters) -> int:
        """The total, counted (up to :data:`COUNT_CAP` and one) unless cached."""
        cached = self.peek(registry, filters)
        if cached is not None:
            return cached
        key = self._key(registry, filters)
        total = registry.count(filters=filters, cap=COUNT_CAP)
        if key is None:
            return total
        with self._lock:
            self._entries[key] = total
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return total


def first(query: Query, name: str) -> str:
    return next((v for v in query.get(name, ()) if v.strip()), "").strip()


def link(path: str, query: Sequence[tuple[str, str]] = (), **changes: str | None) -> str:
    """``path`` with ``query``'s parameters, ``changes`` replacing (or, when None, dropping) some."""
    pairs = [(k, v) for k, v in query if k not in changes] + [(k, v) for k, v in changes.items() if v is not None]
    return path + ("?" + urlencode(pairs) if pairs else "")


def _flag(text: str, name: str, meaning: str) -> bool | None:
    if text in ("", "any"):
        return None
    if text.lower() in ("true", "1", "yes", "on", "only"):
        return True
    if text.lower() in ("false", "0", "no", "off"):
        return False
    raise UsageError(f"{name} takes true or false ({meaning}), not {text!r}")


def _count(text: str, name: str, default: int, low: int, high: int | None = None) -> int:
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise UsageError(f"{name} takes a whole number {bound}, not {text!r}")
    return value


def criteria(query: Query) -> dict[str, Any]:
    """``list``'s filters from query parameters of the same names (``param`` and ``tag`` repeat)."""
    many = {name: [v.strip() for v in query.get(name, ()) if v.strip()] for name in MULTI}
    deleted = _flag(first(query, "deleted"), "deleted", "include deleted runs")
    return {"experiment": many["experiment"] or None, "status": many["status"] or None,
            "seed": many["seed"] or None, "numpy": first(query, "numpy") or None,
            "since": first(query, "since") or None, "until": first(query, "until") or None,
            "params": many["param"] or None, "tags": many["tag"] or None,
            "replays": _flag(first(query, "replays"), "replays", "only replays, or only original runs"),
            "parent": first(query, "parent") or None, "deleted": None if deleted else False}


def runs_page(registry: Registry, query: Query, counts: CountCache | None = None, *, defer: bool = False) -> Page:
    """Runs ``/``: a page of runs matching ``list``'s filters, sorted, with the (capped) total.

    With ``defer``, a total not counted yet is left to the page (its script asks the twin for it),
    so the page answers at the speed of the runs query; the twin always counts.
    """
    counts = counts or CountCache()
    limit = _count(first(query, "limit"), "limit", PAGE_SIZE, 1, MAX_LIMIT)
    offset = _count(first(query, "offset"), "offset", 0, 0)
    sort = first(query, "sort") or DEFAULT_SORT
    built = registry.filters(**criteria(query))
    runs = registry.runs(limit=limit + 1, offset=offset, sort=sort, filters=built)
    more = len(runs) > limit  # one run beyond the page says whether a next page exists, without counting
    runs = runs[:limit]
    total: int | None
    if not more and (runs or not offset):  # this page holds the last match: no count needed
        total = offset + len(runs)
    else:
        total = counts.peek(registry, built) if defer else counts.count(registry, built)
    pairs = [(k, v) for k, values in query.items() for v in values if v.strip()]
    kept = [(k, v) for k, v in pairs if k in MULTI + SINGLE or k in ("limit", "sort")]
    columns = []
    for key in SORT_KEYS:
        flipped = key if sort == "-" + key else "-" + key
        columns.append({"key": key, "href": link("/", kept, sort=flipped, offset=None),
                        "state": "descending" if sort == "-" + key else "ascending" if sort == key else ""})
    shown = offset + len(runs)
    context = {
        "runs": runs, "total": None if total is None else min(total, COUNT_CAP),
        "exact": total is not None and total <= COUNT_CAP, "offset": offset, "limit": limit, "sort": sort,
        "count_url": link("/api/", [(k, v) for k, v in kept if k != "limit"], limit="1"),
        "columns": {c["key"]: c for c in columns}, "statuses": STATUSES, "values": {n: list(query.get(n, ())) for n in MULTI},
        "single": {n: first(query, n) for n in SINGLE},
        "previous": link("/", kept, offset=str(max(0, offset - limit)) if offset - limit > 0 else None) if offset else None,
        "next": link("/", kept, offset=str(shown)) if more else None,
        "compare": link("/compare", [("run", run.id) for run in runs[:2]]) if len(runs) >= 2 else None,
    }
    def data() -> dict[str, Any]:
        found = counts.count(registry, built) if total is None else total
        return {"total": min(found, COUNT_CAP), "total_exact": found <= COUNT_CAP, "offset": offset, "limit": limit,
                "runs": [run.to_json() for run in runs]}

    return Page("runs.html", "Runs", context, data)


def _db_argument(registry: Registry) -> str:
    path = engines.sqlite_path(registry.url)
    return str(path) if path is not None else registry.display_url


def divergences(original: RunRecord, replay: RunRecord, outputs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The outputs of a comparison that are not identical: state, where in words, and the chunk strip."""
    found = []
    for out in outputs:
        if out["state"] == "identical":
            continue
        a, b = original.fingerprints.get(out["name"]), replay.fingerprints.get(out["name"])
        where = out.get("where")
        words = {"missing": "missing: the replay did not log it", "new": "new: only the replay logged it"}.get(
            out["state"], "different" + (f": {describe_where(where)}" if where else ": different content"))
        strip = charts.chunk_strip(a, b, where) if a is not None and b is not None and out["state"] == "different" else None
        found.append({"name": out["name"], "state": out["state"], "words": words, "strip": strip, "where": where})
    return found


def run_page(registry: Registry, ref: str, *, drawn: int | None = DRAWN_REPLAYS) -> Page:
    """Run ``/runs/<id>``: everything ``show`` shows, its children, its replays with verdicts and divergences
    (those of the ``drawn`` newest differing replays; None: of all)."""
    record = registry.get(ref)
    replays = registry.replays_of(record.id)
    children = registry.runs(parent=record.id, limit=CHILDREN, sort="started", deleted=None)
    n_children = registry.count(parent=record.id, deleted=None) if len(children) == CHILDREN else len(children)
    drawn_replays: list[dict[str, Any]] = []
    for replay in replays:
        if drawn is not None and len(drawn_replays) >= drawn:
            break
        if replay.verdict != "identical" and replay.replay:
            other = registry.get(replay.replay)
            drawn_replays.append({"replay": replay, "run": other,
                                  "outputs": divergences(record, other, replay.details.get("outputs", []))})
    fingerprints = [{"name": name, "fp": fp, "kept": registry.is_kept(fp)} for name, fp in record.fingerprints.items()]
    command = ["seedreg", "--db", _db_argument(registry), "replay", record.id]
    context = {"run": record, "replays": replays, "children": children, "n_children": n_children,
               "drawn": drawn_replays, "fingerprints": fingerprints, "replay_command": command,
               "results": dict(getattr(record, "results", None) or {}), "notebook": getattr(record, "notebook", None),
               "notebook_order": getattr(record, "notebook_order", None)}
    return Page("run.html", f"Run {record.id[:12]}", context,
                lambda: {**record.to_json(), "replays": [r.to_json() for r in replays]})


def compare_page(registry: Registry, query: Query) -> Page:
    """Compare ``/compare?run=A&run=B``: ``diff``'s rows side by side and each run's outputs against its base."""
    refs = [ref.strip() for ref in query.get("run", ()) if ref.strip()]
    if len(refs) < 2:
        raise UsageError("compare takes two or more runs: /compare?run=A&run=B (ids or unique prefixes)")
    compared = registry.compare(refs)
    by_id = {run.id: run for run in compared.runs}
    comparisons = []
    for comparison in compared.comparisons:
        block = comparison.block.to_json()
        original, replay = by_id[block["original"]], by_id[block["replay"]]
        comparisons.append({"relation": comparison.relation, "original": original, "replay": replay,
                            "verdict": block["verdict"], "outputs": divergences(original, replay, block["outputs"]),
                            "rng": block["rng_digest"], "status": block["status"], "notes": block["notes"]})
    only = bool(_flag(first(query, "differences"), "differences", "show only the rows that differ"))
    context = {"diff": compared, "comparisons": comparisons, "only_differences": only,
               "switch": link("/compare", [("run", ref) for ref in refs], differences=None if only else "1"),
               "refs": refs}
    return Page("compare.html", "Compare", context, compared.to_json())


def experiments_page(registry: Registry) -> Page:
    """Experiments ``/experiments``: ``experiments``' summaries and replay health over time as charts."""
    summaries = registry.experiments()
    history = registry.replay_history()
    charts_by_name = {s.experiment: charts.replay_health([d for d in history if d.experiment == s.experiment],
                                                         s.experiment, width=160, height=28, compact=True)
                      for s in summaries}
    context = {"experiments": summaries, "overall": charts.replay_health(history, "all experiments"),
               "charts": charts_by_name}
    return Page("experiments.html", "Experiments", context, [s.to_json() for s in summaries])


class AuditCache:
    """The newest audit report, kept while the chain head (count and digest) it was computed at stays."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entry: tuple[tuple[int, str], AuditReport] | None = None

    def report(self, registry: Registry, fresh: bool = False) -> tuple[AuditReport, bool]:
        """The report for the current head, and whether it came from the cache."""
        head = registry.chain_head()
        with self._lock:
            if not fresh and self._entry is not None and self._entry[0] == head:
                return self._entry[1], True
            report = registry.audit()
            self._entry = (head, report)
            return report, False


def audit_page(registry: Registry, cache: AuditCache, query: Query | None = None) -> Page:
    """Audit ``/audit``: the chain's state, computed on request and cached by chain head."""
    fresh = bool(_flag(first(query or {}, "fresh"), "fresh", "recompute even when the head has not moved"))
    report, cached = cache.report(registry, fresh)
    context = {"report": report, "cached": cached, "by_kind": sorted({f.kind for f in report.findings})}
    return Page("audit.html", "Audit", context, {**report.to_json(), "data": []})
