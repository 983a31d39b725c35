"""Plain, typed records the registry returns: what a run recorded, as Python values."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seedreg.fingerprints.digest import Fingerprint



def json_safe(value: Any) -> Any:
    """Strict JSON for a param or tag value: NaN and infinities become the strings "NaN",
    "Infinity" and "-Infinity" (as JavaScript spells them), so jq and browsers can read the output."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    return value


def aware(moment: datetime | None) -> datetime | None:
    """A stored time (naive UTC, as every backend stores it) as an aware UTC datetime."""
    return None if moment is None else moment.replace(tzinfo=timezone.utc)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as every machine-readable output prints times."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class EnvironmentRecord:
    """A distinct environment several runs share."""

    digest: str
    python_version: str
    python_implementation: str
    platform: str
    machine: str
    numpy_version: str | None
    blas: str | None
    packages: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "python_version": self.python_version,
            "python_implementation": self.python_implementation,
            "platform": self.platform,
            "machine": self.machine,
            "numpy_version": self.numpy_version,
            "blas": self.blas,
            "packages": self.packages,
        }


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
    #: Set when the run was deleted with ``seedreg delete`` (hidden from ``list``, never erased).
    deleted_at: datetime | None = None
    deleted_reason: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    fingerprints: dict[str, Fingerprint] = field(default_factory=dict)
    environment: EnvironmentRecord | None = None

    @property
    def seed_text(self) -> str | list[str]:
        """The seed as JSON shows it: a decimal string, or a list of them for a sequence seed."""
        if isinstance(self.seed, int):
            return str(self.seed)
        return [str(part) for part in self.seed]

    @property
    def replayable(self) -> bool:
        """Whether the run has a command to re-execute (not a REPL, notebook or ``python -c``)."""
        return self.launch != "interactive" and bool(self.command)

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
            "deleted_at": iso(self.deleted_at),
            "deleted_reason": self.deleted_reason,
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
