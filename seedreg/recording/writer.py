"""Writing runs as they happen: open, log a fingerprint, close — each one short transaction.

Opening fails fast when the registry cannot be reached (before the experiment runs);
logging and closing retry, then spool (:mod:`seedreg.spool`) rather than lose a result.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from seedreg import forks
from seedreg.db import engines, liveness, schema
from seedreg.db.engines import utcnow
from seedreg.db.sqlite_file import check_sqlite_file
from seedreg.db.tables import environment_table, fingerprint_table, param_table, result_table, run_table, tag_table
from seedreg.errors import RegistryError
from seedreg.integrity import chain
from seedreg.recording import spool
from seedreg.records import EnvironmentRecord

_RUNS = run_table
#: Closes a run that is still open (running, or shown as crashed); built once.
_CLOSE = _RUNS.update().where(_RUNS.c.id == bindparam("run_id"), _RUNS.c.status.in_(("running", "crashed")))
_recorders: dict[str, Recorder] = {}
forks.after_fork(_recorders.clear)  # a forked child builds its own


class Recorder:
    """Writes into one registry, creating it at the current schema when it is new."""

    def __init__(self, url: str) -> None:
        self.url = url
        check_sqlite_file(url)  # a directory or a text file: say so, not "registry write failed"
        self.engine: Engine = engines.engine_for(url)
        engines.retrying(lambda: schema.ensure(self.engine, create=True), unreachable=False)
        self._environments: dict[str, int] = {}
        self.synced = self.sync()
        self._persist_crashed()

    @classmethod
    def for_url(cls, url: str) -> Recorder:
        """One recorder per registry and process (a forked child builds its own)."""
        recorder = _recorders.get(url)
        if recorder is not None and not engines.exists(url):
            # The SQLite file was deleted: pooled connections would write into the unlinked file.
            engines.forget(url)
            recorder = None
        if recorder is None:
            recorder = _recorders[url] = cls(url)
        return recorder

    def _persist_crashed(self) -> None:
        """Mark running runs whose process died (or whose heartbeat went stale) as crashed."""
        with self.engine.connect() as conn:
            dead = liveness.crashed_ids(conn)
        if dead:
            def work() -> None:
                with engines.write(self.engine) as conn:
                    conn.execute(
                        update(run_table).where(run_table.c.id.in_(dead), run_table.c.status == "running").values(status="crashed")
                    )
            engines.retrying(work, unreachable=False)

    def environment_id(self, snapshot: EnvironmentRecord) -> int:
        """The row of this environment, inserted the first time it is seen."""
        cached = self._environments.get(snapshot.digest)
        if cached is not None:
            return cached

        def work() -> int:
            with engines.write(self.engine) as conn:
                found = conn.execute(
                    select(environment_table.c.id).where(environment_table.c.digest == snapshot.digest)
                ).scalar()
                if found is None:
                    found = conn.execute(
                        insert(environment_table).values(**snapshot.as_row(), created_at=utcnow()).returning(environment_table.c.id)
                    ).scalar_one()
                return int(found)

        try:
            env_id = engines.retrying(work, unreachable=False)
        except RegistryError as error:
            if isinstance(error.__cause__, IntegrityError):  # another process inserted it first
                env_id = engines.retrying(work, unreachable=False)
            else:
                raise
        self._environments[snapshot.digest] = env_id
        return env_id

    def open_run(self, row: dict[str, Any], params: list[dict[str, Any]], tags: list[dict[str, Any]]) -> None:
        """Insert a new run (status running) with its params and tags (rows of :func:`values.rows`)."""
        def work() -> None:
            with engines.write(self.engine) as conn:
                conn.execute(_RUNS.insert(), row)
                for table, rows in ((param_table, params), (tag_table, tags)):
                    if rows:
                        conn.execute(table.insert(), [{"run_id": row["id"], **r} for r in rows])
        engines.retrying(work, unreachable=False)

    def log_fingerprint(self, run_id: str, name: str, seq: int, fp: Any, kept: bool,
                        result: tuple[str, str, float | None] | None = None) -> Path | None:
        """Store one fingerprint now, so a run that crashes later keeps it; spool it if unreachable.

        ``result`` (``scalars.encode`` of a real number) is written in the same transaction.
        """
        row = {
            "run_id": run_id, "name": name, "seq": seq, "algorithm": fp.algorithm,
            "digest": fp.hexdigest, "kind": fp.kind, "dtype": fp.dtype,
            "shape": json.dumps(list(fp.shape)) if fp.shape is not None else None,
            "chunk_elems": fp.chunk_elems, "chunks": fp.chunks, "kept": kept, "logged_at": utcnow(),
        }

        if result is not None:
            value_type, text, num = result
            row["result"] = {"run_id": run_id, "name": name, "value_type": value_type, "text": text, "num": num}

        def work() -> None:
            with engines.write(self.engine) as conn:
                _insert_fingerprint(conn, row)
        return self._or_spool(work, run_id, "fingerprint", row)

    def close_run(self, run_id: str, **fields: Any) -> Path | None:
        """Record how the run ended and link it into the audit chain, atomically; spool it if unreachable."""
        def work() -> None:
            with engines.write(self.engine) as conn:
                _close(conn, run_id, fields)
        return self._or_spool(work, run_id, "close", fields)

    def _or_spool(self, work: Any, run_id: str, kind: str, fields: dict[str, Any]) -> Path | None:
        try:
            engines.retrying(work)
        except RegistryError as error:
            if not isinstance(error.__cause__, DBAPIError) or engines.error_kind(error.__cause__) == "error":
                raise
            path = spool.append(self.url, run_id, kind, fields)
            warnings.warn(
                f"seedreg: the registry {engines.mask_url(self.url)} is unavailable ({error}); "
                f"run {run_id} was spooled to {path}: run `seedreg sync` when it is back",
                RuntimeWarning, stacklevel=3,
            )
            return path
        return None

    def sync(self) -> int:
        """Apply spooled writes for this registry (each run once, idempotently); returns runs synced."""
        synced = 0
        for path, entries in spool.pending(self.url):
            def work(entries: list[dict[str, Any]] = entries) -> None:
                with engines.write(self.engine) as conn:
                    for entry in entries:
                        _apply(conn, entry)
            engines.retrying(work, unreachable=False)
            path.unlink(missing_ok=True)
            synced += 1
        return synced


def _close(conn: Any, run_id: str, fields: dict[str, Any]) -> None:
    """Close a run that is still open (running, or shown as crashed) and chain it."""
    done = conn.execute(_CLOSE, {"run_id": run_id, **fields})
    if done.rowcount:
        chain.append(conn, run_id)


def _insert_fingerprint(conn: Any, row: dict[str, Any]) -> None:
    """A fingerprints row, and the result it carries under ``"result"`` (a real number) if any."""
    fields = dict(row)
    result = fields.pop("result", None)
    conn.execute(fingerprint_table.insert(), fields)
    if result is not None:
        conn.execute(result_table.insert(), result)


def _apply(conn: Any, entry: dict[str, Any]) -> None:
    fields = entry["fields"]
    if entry["kind"] == "fingerprint":
        table = fingerprint_table
        exists = conn.execute(
            select(table.c.name).where(table.c.run_id == fields["run_id"], table.c.name == fields["name"])
        ).first()
        if exists is None:
            _insert_fingerprint(conn, fields)
    elif entry["kind"] == "close":
        _close(conn, entry["run"], fields)
