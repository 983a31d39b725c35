"""The export format ``seedreg-run/1``: one JSON line per run.

Every ``runs`` column as stored (times as ISO 8601 UTC), its environment, params and tags as
``[key, value_type, text]``, fingerprints with their chunk digests (base64), the run's record
digest and record version from the audit chain, its results as
``[name, value_type, text]`` (from record version 2 on), its deletion, and the replay verdicts stored for it. Import
recomputes each line's record digest and refuses a line that does not give it, so a merged
registry still audits clean: imported runs keep their original digest and are appended to the
local chain as imported links (:mod:`seedreg.transfer.importer`).
"""

from __future__ import annotations

from datetime import datetime

from seedreg.db.tables import run_table
from seedreg.integrity import chain

FORMAT = "seedreg-run/1"
#: Runs read per query on export.
BATCH = 5000

_LOCAL = ("environment_id", "deleted_at", "deleted_reason")  # not facts of the run, or carried apart
RUN_COLUMNS = [c for c in run_table.columns if c.name not in _LOCAL]
FP_FIELDS = (*chain.FP_FIELDS_V1, "logged_at")  # when it was logged: exported, not part of the record
#: Column order of the rows a line carries, as :mod:`seedreg.transfer.importer` inserts them.
RUN_INSERT = [c.name for c in RUN_COLUMNS] + ["deleted_at", "deleted_reason", "environment_id"]
VALUE_INSERT = ["run_id", "key", "value_type", "text", "num"]
FP_INSERT = ["run_id", *FP_FIELDS]
VERDICT_FIELDS = ("session", "original", "replay", "verdict", "details", "created_at")
KEYS = {"format", "run", "environment", "params", "tags", "fingerprints", "results", "record_digest",
        "record_version", "deleted", "replays"}
RESULT_INSERT = ["run_id", "name", "value_type", "text", "num"]


class LineError(ValueError):
    """A line that cannot be imported; the message says why."""


def exact_utc(moment: datetime | str | None) -> str | None:
    """A stored (naive UTC) time, or SQLite's text of it, as exact ISO 8601 with a ``Z``: microseconds always written."""
    if moment is None:
        return None
    if isinstance(moment, str):
        if len(moment) == 26 and moment[10] == " ":  # the text SQLAlchemy writes
            return f"{moment[:10]}T{moment[11:]}Z"
        moment = datetime.fromisoformat(moment)
    return moment.isoformat(timespec="microseconds") + "Z"
