"""Two or more runs side by side: the rows of ``seedreg diff`` and of the UI's compare page.

Besides the rows (a field, param, tag, result or output, and each run's value), every run after
the first is compared output by output with its base: its original when that is among the runs
(a replay and its original), else the first run. Arrays that differ say where (``where``, as in
``replay --json``), to the exact element when the data store kept both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from seedreg.records import RunRecord
from seedreg.replay.compare import BlockComparison, compare_block


@dataclass(frozen=True)
class DiffRow:
    """One row: its label (``seed``, ``param lr``, ``output noise``, …) and each run's value as text.

    ``kind`` says how a table may shorten the values: ``digest``, ``seed`` or ``text`` (never).
    """

    field: str
    values: tuple[str, ...]
    kind: str = "text"

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "values": list(self.values), "differs": self.differs}


@dataclass(frozen=True)
class Comparison:
    """A run compared with its base: ``relation`` is ``replay`` for a replay and its original, else ``runs``."""

    relation: str
    block: BlockComparison

    def to_json(self) -> dict[str, Any]:
        return {"relation": self.relation, **self.block.to_json()}


@dataclass(frozen=True)
class RunsDiff:
    """Runs side by side: rows, and each run after the first compared with its base."""

    runs: list[RunRecord]
    rows: list[DiffRow]
    comparisons: list[Comparison]

    def to_json(self) -> dict[str, Any]:
        """``diff --json``: the first comparison's fields and ``a``/``b`` (as for two runs), then
        ``runs``, ``rows`` and ``comparisons`` for any number of runs."""
        return {**self.comparisons[0].block.to_json(), "a": self.runs[0].to_json(), "b": self.runs[1].to_json(),
                "runs": [run.to_json() for run in self.runs], "rows": [row.to_json() for row in self.rows],
                "comparisons": [c.to_json() for c in self.comparisons]}


def seed_text(run: RunRecord) -> str:
    """The seed as people read it: ``101``, or ``[1, 2]`` for a sequence seed."""
    return run.seed_text if isinstance(run.seed_text, str) else "[" + ", ".join(run.seed_text) + "]"


def results_of(run: RunRecord) -> dict[str, Any]:
    """The scalar results a run logged (``{}`` before seedreg recorded results)."""
    return dict(getattr(run, "results", None) or {})


def _union(keys: Sequence[Sequence[str]]) -> list[str]:
    """Every key in first-seen order."""
    return list(dict.fromkeys(key for group in keys for key in group))


def rows(runs: Sequence[RunRecord]) -> list[DiffRow]:
    """The rows of ``diff``: fields, then params, tags and results by key, then outputs in logged order."""
    def row(field: str, values: Sequence[Any], kind: str = "text") -> DiffRow:
        return DiffRow(field, tuple("" if value is None else str(value) for value in values), kind)

    def platform(run: RunRecord) -> str:
        return run.environment.platform if run.environment else ""

    found = [
        row("experiment", [r.experiment for r in runs]),
        row("seed", [seed_text(r) for r in runs], "seed"),
        row("seed source", [r.seed_source for r in runs]),
        row("spawn key", [str(list(r.spawn_key)) for r in runs]),
        row("status", [r.status for r in runs]),
        row("numpy", [r.numpy_version for r in runs]),
        row("python", [r.python_version for r in runs]),
        row("platform", [platform(r) for r in runs]),
        row("script digest", [r.script_digest for r in runs], "digest"),
        row("git commit", [r.git_commit for r in runs]),
        row("rng digest", [r.rng_digest for r in runs], "digest"),
    ]
    for title, mapping in (("param", lambda r: r.params), ("tag", lambda r: r.tags), ("result", results_of)):
        for key in sorted(_union([list(mapping(r)) for r in runs])):
            found.append(row(f"{title} {key}", [json.dumps(mapping(r).get(key)) for r in runs]))
    for name in _union([list(r.fingerprints) for r in runs]):
        found.append(row(f"output {name}", [str(r.fingerprints[name]) if name in r.fingerprints else "-" for r in runs],
                         "digest"))
    return found


def _kept_loader(url: str | None) -> Any:
    """Loads both kept arrays of two fingerprints from the registry's data store (None where not kept)."""
    if url is None:
        return None
    from seedreg.fingerprints import kept_arrays

    return lambda original, replay: (kept_arrays.load(url, original.hexdigest), kept_arrays.load(url, replay.hexdigest))


def compare_runs(runs: Sequence[RunRecord], url: str | None = None) -> RunsDiff:
    """``runs`` (two or more) side by side; ``url`` is the registry whose data store may hold kept arrays."""
    if len(runs) < 2:
        raise ValueError("a diff needs two or more runs")
    loader = _kept_loader(url)
    by_id = {run.id: run for run in runs}
    comparisons = []
    for run in runs[1:]:
        if run.replay_of in by_id and run.replay_of != run.id:
            comparisons.append(Comparison("replay", compare_block(by_id[run.replay_of], run, loader)))
        elif runs[0].replay_of == run.id:  # a replay named before its original
            comparisons.append(Comparison("replay", compare_block(run, runs[0], loader)))
        else:
            comparisons.append(Comparison("runs", compare_block(runs[0], run, loader)))
    return RunsDiff(list(runs), rows(runs), comparisons)
