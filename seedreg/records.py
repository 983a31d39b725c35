"""Plain, typed records the registry returns: what a run recorded, as Python values."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar, overload

# Re-exported: the environment record is one of the records, kept in its own module for the with-block.
from seedreg.environment_record import ENVIRONMENT_FIELDS as ENVIRONMENT_FIELDS
from seedreg.environment_record import EnvironmentRecord as EnvironmentRecord
from seedreg.environment_record import environment_record as environment_record

if TYPE_CHECKING:
    from seedreg.fingerprints.digest import Fingerprint


_Record = TypeVar("_Record")


def stored(cls: type[_Record], values: dict[str, Any]) -> _Record:
    """A frozen record of ``cls`` from values read back from the registry, ``values`` naming every field;
    ``values`` becomes the record's ``__dict__`` (the caller hands it over).

    Skips the dataclass ``__init__``, which sets each field through ``object.__setattr__``: for a
    frozen record of 46 fields that was a third of reading 10,000 runs. The values are the
    registry's own, already of the field types, so there is nothing to validate.
    """
    record = _new(cls)
    _set(record, "__dict__", values)
    return record


_new, _set = object.__new__, object.__setattr__


def json_safe(value: Any) -> Any:
    """Strict JSON for a param or tag value: NaN and infinities become the strings "NaN",
    "Infinity" and "-Infinity" (as JavaScript spells them), so jq and browsers can read the output."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    return value


def result_json(value: bool | int | float) -> bool | int | float | str:
    """A result as JSON shows it (DESIGN §9): NaN and infinities as the strings "nan", "inf", "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    return value


@overload
def aware(moment: datetime | str) -> datetime: ...
@overload
def aware(moment: None) -> None: ...
@overload
def aware(moment: datetime | str | None) -> datetime | None: ...
def aware(moment: datetime | str | None) -> datetime | None:
    """A stored time (naive UTC, as every backend stores it; or SQLite's text of it, see
    :mod:`seedreg.db.stored_times`) as an aware UTC datetime."""
    if moment is None:
        return None
    if isinstance(moment, str):
        return _from_iso(moment + "+00:00")
    return moment.replace(tzinfo=timezone.utc)


_from_iso = datetime.fromisoformat


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as every machine-readable output prints times."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class RunRecord:
    """Everything one run recorded; times are timezone-aware UTC."""

    id: str
    experiment: str
    status: str
    seed: int | tuple[int, ...]
    seed_kind: str
    seed_source: str
    spawn_key: tuple[int, ...]
    parent: str | None
    replay_of: str | None
    block_index: int
    started_at: datetime
    ended_at: datetime | None
    duration: float | None
    heartbeat_at: datetime | None
    error: str | None
    rng_digest: str | None
    numpy_version: str | None
    python_version: str
    libraries: dict[str, str]
    hostname: str
    username: str | None
    pid: int
    process_started: float | None
    executable: str
    argv: list[str]
    command: list[str] | None
    cwd: str
    launch: str
    script_path: str | None
    script_digest: str | None
    pythonhashseed: str | None
    git_commit: str | None
    git_dirty: bool | None
    replay_session: str | None = None
    generator_used: bool | None = None
    #: Library seeders: ``{"applied": {name: version}, "failed": {name: message}, "not_seeded":
    #: {module: reason}}``; None for runs recorded before seedreg had library seeders.
    seeders: dict[str, Any] | None = None
    #: A block opened in a Jupyter kernel (DESIGN §8): ``{"path", "digest", "kernel", "cell": {"index",
    #: "execution_count", "first_line"}, "order", "history"}``; ``path`` None when the notebook was not found.
    notebook: dict[str, Any] | None = None
    #: A test's run (the pytest plugin): its session's ``{"args", "dir", "rootdir", "inifile", "addopts",
    #: "pytest", "replay"}`` (``replay``: the arguments after ``pytest`` that replay this test); else None.
    invocation: dict[str, Any] | None = None
    #: Set when the run was deleted with ``seedreg delete`` (hidden from ``list``, never erased).
    deleted_at: datetime | None = None
    deleted_reason: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    fingerprints: dict[str, Fingerprint] = field(default_factory=dict)
    #: Real numbers the run logged (``run.log("score", 0.93)``), as Python numbers (DESIGN §9).
    results: dict[str, bool | int | float] = field(default_factory=dict)
    environment: EnvironmentRecord | None = None
    #: The verdict of the newest stored replay of this run (``list`` shows it); None when never replayed.
    last_verdict: str | None = None

    @property
    def seed_text(self) -> str | list[str]:
        """The seed as JSON shows it: a decimal string, or a list of them for a sequence seed."""
        if isinstance(self.seed, int):
            return str(self.seed)
        return [str(part) for part in self.seed]

    @property
    def replayable(self) -> bool:
        """Whether the run can be re-executed: a command or a notebook (not a REPL, ``python -c``,
        ``python -``, or a Jupyter kernel whose notebook was not found)."""
        return self.launch != "interactive" and bool(self.command) and not self.from_stdin

    @property
    def notebook_order(self) -> str | None:
        """``"in-order"`` or ``"out-of-order"`` for a notebook run (DESIGN §8); None otherwise."""
        return (self.notebook or {}).get("order")

    @property
    def from_stdin(self) -> bool:
        """Whether its code was piped to ``python -`` (older seedreg recorded it as a script ``<stdin>``)."""
        return self.argv[:1] == ["-"] or (self.script_path or "").endswith("<stdin>")

    def to_json(self) -> dict[str, Any]:
        """The run object of ``list --json`` and ``show --json`` (DESIGN §6)."""
        data: dict[str, Any] = {
            "id": self.id,
            "experiment": self.experiment,
            "seed": self.seed_text,
            "seed_kind": self.seed_kind,
            "seed_source": self.seed_source,
            "spawn_key": list(self.spawn_key),
            "parent": self.parent,
            "replay_of": self.replay_of,
            "status": self.status,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "duration": self.duration,
            "numpy_version": self.numpy_version,
            "python_version": self.python_version,
            "libraries": self.libraries,
            "params": {key: json_safe(value) for key, value in self.params.items()},
            "tags": {key: json_safe(value) for key, value in self.tags.items()},
            "fingerprints": {name: str(fp) for name, fp in self.fingerprints.items()},
            "results": {name: result_json(value) for name, value in self.results.items()},
            "rng_digest": self.rng_digest,
            "error": self.error,
            "hostname": self.hostname,
            "user": self.username,
            "pid": self.pid,
            "executable": self.executable,
            "argv": self.argv,
            "command": self.command,
            "cwd": self.cwd,
            "launch": self.launch,
            "script_path": self.script_path,
            "script_digest": self.script_digest,
            "pythonhashseed": self.pythonhashseed,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "generator_used": self.generator_used,
            "seeders": self.seeders,
            "notebook": self.notebook,
            "notebook_order": self.notebook_order,
            "invocation": self.invocation,
            "deleted_at": iso(self.deleted_at),
            "deleted_reason": self.deleted_reason,
            "last_verdict": self.last_verdict,
        }
        if self.environment is not None:
            data["environment"] = self.environment.to_json()
        return data


@dataclass(frozen=True)
class ReplayRecord:
    """One stored replay verdict: which original block, which replay run, and what was found."""

    session: str
    original: str | None
    replay: str | None
    verdict: str
    created_at: datetime
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"session": self.session, "original": self.original, "replay": self.replay,
                "verdict": self.verdict, "created_at": iso(self.created_at)}
