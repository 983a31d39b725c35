"""Synthetic export lines with true record digests, for building registries with chosen facts.

A line is what ``seedreg export`` writes; importing it is the fast way to get runs with a given
start time, NumPy version, status or deletion, which a real with-block cannot choose.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import blake3

from seedreg.db import keyvalues
from seedreg.db.vocabulary import CLOSED
from seedreg.integrity import chain
from seedreg.records import EnvironmentRecord


def environment(numpy: str | None = "1.26.4") -> dict[str, Any]:
    return EnvironmentRecord(python_version="3.11.9", python_implementation="CPython", platform="Linux-x",
                             machine="x86_64", numpy_version=numpy, blas=None,
                             packages={"numpy": numpy or "", "seedreg": "0.1.0"}).as_row()


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds") + "Z"


def line(*, id: str | None = None, experiment: str = "exp", status: str = "completed", seed: str = "101",
         numpy: str | None = "1.26.4", started: datetime = datetime(2026, 1, 1, 12), params: dict | None = None,
         tags: dict | None = None, parent: str | None = None, replay_of: str | None = None,
         replay_session: str | None = None, deleted: tuple[datetime, str] | None = None,
         outputs: tuple[str, ...] = ("order",), replays: list[dict] | None = None) -> str:
    """One valid export line (a JSON string) of a synthetic run."""
    run_id = id or uuid.uuid4().hex
    env = environment(numpy)
    closed = status in CLOSED
    ended = started + timedelta(seconds=3) if closed else None
    run = {
        "id": run_id, "experiment": experiment, "status": status, "seed": seed,
        "seed_kind": "sequence" if seed.startswith("[") else "int", "seed_source": "given", "spawn_key": "[]",
        "parent_id": parent, "replay_of": replay_of, "block_index": -1 if parent else 0, "started_at": started,
        "ended_at": ended, "duration": 3.0 if closed else None, "heartbeat_at": started,
        "error": "Traceback: boom\n" if status == "failed" else None, "rng_digest": "blake3:" + "0" * 64,
        "numpy_version": numpy, "python_version": "3.11.9", "libraries": "{}", "hostname": "elsewhere",
        "username": "someone", "pid": 4242, "process_started": 1.5e9, "executable": "/usr/bin/python3",
        "argv": '["train.py"]', "command": '["/usr/bin/python3", "train.py"]', "cwd": "/work",
        "launch": "script", "script_path": "/work/train.py", "script_digest": None, "pythonhashseed": None,
        "git_commit": None, "git_dirty": None, "replay_session": replay_session, "generator_used": False,
        "seeders": None,
    }
    param_rows = [[r["key"], r["value_type"], r["text"]] for r in keyvalues.rows(params)]
    tag_rows = [[r["key"], r["value_type"], r["text"]] for r in keyvalues.rows(tags)]
    fps = []
    for seq, name in enumerate(outputs):
        chunks = blake3.blake3(f"{run_id}/{name}".encode()).digest() * 2
        fps.append({"name": name, "seq": seq, "algorithm": "blake3", "digest": blake3.blake3(chunks).hexdigest(),
                    "kind": "ndarray", "dtype": "<f8", "shape": "[2048]", "chunk_elems": 1024, "chunks": chunks,
                    "kept": False})
    # Written as export lines were before record versions: no record_version, so version 1.
    digest = chain.digest_of(chain.Parts(run, env["digest"], param_rows, tag_rows, fps), 1) if closed else None
    for fp in fps:
        fp["chunks"] = base64.b64encode(fp["chunks"]).decode()
        fp["logged_at"] = iso(started + timedelta(seconds=1))
    for name in ("started_at", "ended_at", "heartbeat_at"):
        run[name] = iso(run[name]) if run[name] is not None else None
    return json.dumps({
        "format": "seedreg-run/1", "run": run, "environment": env, "params": param_rows, "tags": tag_rows,
        "fingerprints": fps, "record_digest": digest,
        "deleted": None if deleted is None else {"at": iso(deleted[0]), "reason": deleted[1]},
        "replays": replays or [],
    })


def verdict(original: str, replay: str | None, verdict: str, session: str = "s" * 32,
            created: datetime = datetime(2026, 2, 1)) -> dict:
    """A stored replay verdict as an export line carries it."""
    return {"session": session, "original": original, "replay": replay, "verdict": verdict, "details": "{}",
            "created_at": iso(created)}
