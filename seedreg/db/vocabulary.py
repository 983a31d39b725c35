"""The values a column may hold (statuses, seed kinds, verdicts, …), without importing SQLAlchemy.

The models' CHECK constraints, the CLI's choices and the readers all take them from here, so
``seedreg --help`` need not import the database layer.
"""

from __future__ import annotations

STATUSES = ("running", "completed", "failed", "interrupted", "crashed")
#: Statuses of a run that has ended on purpose: only these are chained (DESIGN §3).
CLOSED = ("completed", "failed", "interrupted")
SEED_SOURCES = ("given", "generated", "replay", "sweep")
SEED_KINDS = ("int", "sequence", "seedsequence")
VERDICTS = ("identical", "different", "missing", "extra")
VALUE_TYPES = ("int", "float", "bool", "str", "null", "json")
LINK_KINDS = ("record", "tombstone")
#: Tag keys seedreg, its pytest plugin and trackers set themselves; a user tag may not begin with them.
RESERVED_TAG_PREFIXES = ("seedreg.", "pytest.", "mlflow.", "wandb.")
