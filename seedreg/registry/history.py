"""Replay health over time: per experiment and day, how many stored replay verdicts were identical or not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select

from seedreg.db.models import ReplayVerdict, RunRow


@dataclass(frozen=True)
class ReplayDay:
    """The replays of one experiment's runs stored on one day (UTC), by verdict."""

    experiment: str
    day: date
    identical: int
    different: int  # different, missing or extra, as ``experiments`` counts them

    def to_json(self) -> dict[str, object]:
        return {"experiment": self.experiment, "day": self.day.isoformat(), "identical": self.identical,
                "different": self.different}


def replay_history(conn: Connection) -> list[ReplayDay]:
    """Every (experiment, day) with stored replays of its runs that are not deleted, oldest day first."""
    day = func.date(ReplayVerdict.created_at)
    query = (select(RunRow.experiment, day, ReplayVerdict.verdict, func.count())
             .join(RunRow, RunRow.id == ReplayVerdict.original_id)
             .where(RunRow.deleted_at.is_(None))
             .group_by(RunRow.experiment, day, ReplayVerdict.verdict))
    counts: dict[tuple[str, date], list[int]] = {}
    for experiment, when, verdict, count in conn.execute(query):
        key = (experiment, when if isinstance(when, date) else date.fromisoformat(str(when)[:10]))
        counts.setdefault(key, [0, 0])[0 if verdict == "identical" else 1] += int(count)
    return [ReplayDay(experiment, when, same, other)
            for (experiment, when), (same, other) in sorted(counts.items(), key=lambda item: (item[0][1], item[0][0]))]
