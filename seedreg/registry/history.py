"""Replay health over time: per experiment and day, how many stored replay verdicts were identical or not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select

from seedreg.db.tables import replay_table, run_table


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
    day = func.date(replay_table.c.created_at)
    query = (select(run_table.c.experiment, day, replay_table.c.verdict, func.count())
             .join(run_table, run_table.c.id == replay_table.c.original_id)
             .where(run_table.c.deleted_at.is_(None))
             .group_by(run_table.c.experiment, day, replay_table.c.verdict))
    counts: dict[tuple[str, date], list[int]] = {}
    for experiment, when, verdict, count in conn.execute(query):
        key = (experiment, when if isinstance(when, date) else date.fromisoformat(str(when)[:10]))
        counts.setdefault(key, [0, 0])[0 if verdict == "identical" else 1] += int(count)
    return [ReplayDay(experiment, when, same, other)
            for (experiment, when), (same, other) in sorted(counts.items(), key=lambda item: (item[0][1], item[0][0]))]
