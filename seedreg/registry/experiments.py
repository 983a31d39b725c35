"""``seedreg experiments``: one summary row per experiment, from a few grouped queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, text

from seedreg.db import liveness
from seedreg.db.tables import ORIGINAL_RUNS, replay_table, run_table
from seedreg.records import aware, iso

#: Columns of ``experiments`` in table and CSV output, in a stable order.
COLUMNS = ("experiment", "runs", "completed", "failed", "interrupted", "crashed", "last_run", "seeds", "numpy",
           "replays_identical", "replays_different")
#: Statuses counted in columns of their own (``runs`` counts every status, running ones too).
COUNTED = ("completed", "failed", "interrupted", "crashed")


@dataclass(frozen=True)
class ExperimentSummary:
    """An experiment's original runs (not deleted): counts by status, last start, seeds, NumPy versions, replay verdicts.

    ``crashed`` counts runs whose process died without closing them, stored as crashed or not yet.
    """

    experiment: str
    runs: int
    completed: int
    failed: int
    last_run: datetime | None  # aware UTC
    seeds: int  # distinct seeds
    numpy_versions: tuple[str, ...]
    replays_identical: int  # stored replay verdicts of its runs: identical
    replays_different: int  # different, missing or extra
    interrupted: int = 0
    crashed: int = 0

    def row(self) -> list[Any]:
        """The values of :data:`COLUMNS`."""
        return [self.experiment, self.runs, self.completed, self.failed, self.interrupted, self.crashed,
                self.last_run, self.seeds,
                " ".join(self.numpy_versions), self.replays_identical, self.replays_different]

    def to_json(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "runs": self.runs, "completed": self.completed,
                "failed": self.failed, "interrupted": self.interrupted, "crashed": self.crashed, "last_run": iso(self.last_run), "seeds": self.seeds,
                "numpy_versions": list(self.numpy_versions), "replays_identical": self.replays_identical,
                "replays_different": self.replays_different}


def _version_key(version: str) -> tuple:
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in version.split("."))


def summarize(conn: Connection) -> list[ExperimentSummary]:
    """Every experiment with original, not deleted runs, by name.

    Both queries read the covering index ``ix_runs_summary`` in its order (experiment, seed,
    status, NumPy, start): grouped there first, only the small groups are sorted again.
    """
    originals = text(ORIGINAL_RUNS)
    groups: dict[str, dict[str, Any]] = {}
    fine = (select(run_table.c.experiment, run_table.c.seed, run_table.c.status, run_table.c.numpy_version, func.count().label("n"),
                   func.max(run_table.c.started_at).label("last"))
            .where(originals).group_by(run_table.c.experiment, run_table.c.seed, run_table.c.status, run_table.c.numpy_version).subquery())
    query = (select(fine.c.experiment, fine.c.status, fine.c.numpy_version, func.sum(fine.c.n), func.max(fine.c.last))
             .group_by(fine.c.experiment, fine.c.status, fine.c.numpy_version))
    for experiment, status, numpy, count, last in conn.execute(query):
        group = groups.setdefault(experiment, {"runs": 0, "last": None, "numpy": set(), "seeds": 0, "identical": 0,
                                               "different": 0, **dict.fromkeys(COUNTED, 0)})
        group["runs"] += int(count)
        if status in COUNTED:
            group[status] += int(count)
        if numpy:
            group["numpy"].add(numpy)
        if last is not None and (group["last"] is None or last > group["last"]):
            group["last"] = last
    running = conn.execute(select(run_table.c.experiment, *liveness.columns()).where(originals, run_table.c.status == "running")).all()
    dead = liveness.crashed_among(running)
    for row in running:
        if row.id in dead:  # shown as crashed, as `list` shows it, without writing
            groups[row.experiment]["crashed"] += 1
    pairs = select(run_table.c.experiment, run_table.c.seed).where(originals).distinct().subquery()
    for experiment, count in conn.execute(select(pairs.c.experiment, func.count()).group_by(pairs.c.experiment)):
        groups[experiment]["seeds"] = count
    verdicts = (select(run_table.c.experiment, replay_table.c.verdict, func.count())
                .join(run_table, run_table.c.id == replay_table.c.original_id)
                .where(run_table.c.deleted_at.is_(None)).group_by(run_table.c.experiment, replay_table.c.verdict))
    for experiment, verdict, count in conn.execute(verdicts):
        if experiment in groups:
            groups[experiment]["identical" if verdict == "identical" else "different"] += count
    return [
        ExperimentSummary(
            experiment=name, runs=g["runs"], completed=g["completed"], failed=g["failed"],
            interrupted=g["interrupted"], crashed=g["crashed"],
            last_run=aware(g["last"]), seeds=g["seeds"],
            numpy_versions=tuple(sorted(g["numpy"], key=_version_key)),
            replays_identical=g["identical"], replays_different=g["different"],
        )
        for name, g in sorted(groups.items())
    ]
