"""The spool: writes a registry could not take, kept in a local file until ``seedreg sync``.

When the registry is unreachable while a run logs or closes, the write goes to
``$SEEDREG_SPOOL`` (default ``~/.cache/seedreg/spool``) as one JSON-lines file per run, so the
experiment's result is neither lost nor turned into an exception. The file names the
registry by its masked URL (never a password).
"""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from seedreg.db import engines

SPOOL_ENV = "SEEDREG_SPOOL"


def directory() -> Path:
    """Where spooled writes wait."""
    chosen = os.environ.get(SPOOL_ENV)
    if chosen:
        return Path(chosen).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "seedreg" / "spool"


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if isinstance(value, dict) and "$bytes" in value:
        return base64.b64decode(value["$bytes"])
    return value


def append(url: str, run_id: str, kind: str, fields: dict[str, Any]) -> Path:
    """Add one write (``fingerprint`` or ``close``) of a run to its spool file."""
    folder = directory()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.jsonl"
    entry = {"registry": engines.mask_url(url), "run": run_id, "kind": kind,
             "fields": {key: _encode(value) for key, value in fields.items()}}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return path


def pending(url: str) -> list[tuple[Path, list[dict[str, Any]]]]:
    """Spool files waiting for this registry, with their decoded entries, oldest first."""
    folder = directory()
    if not folder.is_dir():
        return []
    masked = engines.mask_url(url)
    found = []
    for path in sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime):
        entries = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash while spooling
            entries.append({**entry, "fields": {k: _decode(v) for k, v in entry["fields"].items()}})
        if entries and entries[0]["registry"] == masked:
            found.append((path, entries))
    return found
