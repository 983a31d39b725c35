"""The version-1 canonical record of a run: FROZEN, so every chain written with it still verifies.

Never edit this module (golden vectors in tests/test_record_versions.py pin it); a new field
enters a new record version in :mod:`seedreg.integrity.chain`. Migration 0002 keeps its own copy.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Sequence
from typing import Any

import blake3

#: The run fields a version-1 record digest covers (heartbeat and local ids are not facts).
RECORD_FIELDS = (
    "id", "experiment", "status", "seed", "seed_kind", "seed_source", "spawn_key", "parent_id",
    "replay_of", "replay_session", "block_index", "started_at", "ended_at", "duration", "error",
    "rng_digest", "generator_used", "numpy_version", "python_version", "libraries", "hostname",
    "username", "pid", "process_started", "executable", "argv", "command", "cwd", "launch",
    "script_path", "script_digest", "pythonhashseed", "git_commit", "git_dirty",
)
#: The fingerprint fields a version-1 record covers.
FP_FIELDS = ("name", "seq", "algorithm", "digest", "kind", "dtype", "shape", "chunk_elems", "chunks", "kept")
PREFIX = b"seedreg-record/1\x00"

_TIMES = ("started_at", "ended_at")
_RECORD_VALUES = operator.itemgetter(*RECORD_FIELDS)
_FP_VALUES = operator.itemgetter(*FP_FIELDS)
_CHUNKS = FP_FIELDS.index("chunks")


def _fingerprint(row: Any) -> list[Any]:
    item = list(_FP_VALUES(row))
    if item[_CHUNKS] is not None:
        item[_CHUNKS] = blake3.blake3(bytes(item[_CHUNKS])).hexdigest()
    return item


def canonical(run: Any, environment: str, params: Iterable[Sequence[Any]],
              tags: Iterable[Sequence[Any]], fingerprints: Iterable[Any]) -> dict[str, Any]:
    """The version-1 record from a run's stored values (a mapping with ``RECORD_FIELDS``)."""
    fields = dict(zip(RECORD_FIELDS, _RECORD_VALUES(run)))
    for name in _TIMES:
        if fields[name] is not None:
            fields[name] = fields[name].isoformat(timespec="microseconds")
    return {
        "run": fields,
        "environment": environment,
        "params": sorted([list(p) for p in params]),
        "tags": sorted([list(t) for t in tags]),
        "fingerprints": sorted((_fingerprint(fp) for fp in fingerprints), key=lambda item: item[0]),
    }


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True,
                              check_circular=False)


def encode(record: dict[str, Any]) -> bytes:
    """The canonical JSON bytes of a record (one encoder for all: ``json.dumps`` builds one per call)."""
    return _CANONICAL.encode(record).encode()


def digest(record: dict[str, Any]) -> str:
    """``blake3:<hex>`` of a version-1 record."""
    return "blake3:" + blake3.blake3(PREFIX + encode(record)).hexdigest()
