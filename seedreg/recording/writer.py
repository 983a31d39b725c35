"""Writing runs as they happen: open, log a fingerprint, close.

A root block's open and its fingerprints wait at most :data:`BATCH_SECONDS` (a background
flusher commits them), and its close commits whatever still waits with it: a short block is one
transaction, and a fingerprint is durable within 50 ms of being logged (DESIGN §1). A child's
open is written at once, its parent first. The first block fails fast when the registry cannot be
reached (before the experiment runs); closing retries, then spools (:mod:`seedreg.spool`) rather
than lose a result.
"""

from __future__ import annotations

import atexit
import json
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from seedreg import forks
from seedreg.db import direct, engines, liveness, schema
from seedreg.db.engines import utcnow
from seedreg.db.sqlite_file import check_sqlite_file
from seedreg.db.tables import environment_table, fingerprint_table, param_table, result_table, run_table, tag_table
from seedreg.environment_record import EnvironmentRecord
from seedreg.errors import RegistryError
from seedreg.integrity import chain
from seedreg.recording import spool

_RUNS = run_table
#: Which runs a close may close: those still open (running, or shown as crashed).
_STILL_OPEN = "status IN ('running', 'crashed')"
_recorders: dict[str, Recorder] = {}
forks.after_fork(_recorders.clear)  # a forked child builds its own (its parent writes what waits)

#: How long a root block's open and fingerprints may wait to be committed together (DESIGN §1: 50 ms).
BATCH_SECONDS = 0.04
#: How long a child's open waits for its parent to appear (another process commits it within BATCH_SECONDS).
PARENT_WAIT_SECONDS = 0.5

#: A record's run fields, none of them set (a run row sets most).
_BLANK_RECORD: dict[str, Any] = dict.fromkeys((*chain.RECORD_FIELDS_V1, *chain.RUN_FIELDS_V2))
#: A write of this process: ("open", {"row", "params", "tags"}), ("fingerprint", row) or
#: ("close", {"run_id", "fields", "record"}).
Write = tuple[str, dict[str, Any]]


def flush_all() -> None:
    """Commit every write this process still holds back (a reader here sees its own runs)."""
    for recorder in list(_recorders.values()):
        recorder.flush()


@atexit.register
def _at_exit() -> None:
    """Commit what waits, then close the recorders' connections: the last close of a SQLite registry
    checkpoints its WAL into the file (the flusher thread would otherwise keep them open)."""
    flush_all()
    for recorder in list(_recorders.values()):
        recorder.engine.dispose()
forks.before_fork(flush_all)  # a forked worker's block may name this process's run as its parent


class Recorder:
    """Writes into one registry, creating it at the current schema when it is new."""

    def __init__(self, url: str) -> None:
        self.url = url
        check_sqlite_file(url)  # a directory or a text file: say so, not "registry write failed"
        self.engine: Engine = engines.engine_for(url)
        engines.retrying(lambda: schema.ensure(self.engine, create=True), unreachable=False)
        self._environments: dict[str, int] = {}
        self._environment_digests: dict[int, str] = {}  # by row id: what a record of a run there holds
        #: What this process wrote of each of its open runs, by id: at close its record is digested
        #: from these, not read back.
        self._written: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, list[Write]] = {}  # by run id, in order
        self._lock = threading.Lock()  # guards _pending
        self._writing = threading.Lock()  # one committer of held-back writes at a time, in order
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
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
                self._environment_digests[found] = chain.environment_digest(conn, found)
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
        """Insert a new run (status running) with its params and tags (rows of :func:`values.rows`).

        A root run's insert waits for the next batch; a child's is written now (after every write
        held back here, its parent's included), waiting a little for a parent another process opened.
        """
        write = {"row": row, "params": [{"run_id": row["id"], **r} for r in params],
                 "tags": [{"run_id": row["id"], **r} for r in tags]}
        self._written[row["id"]] = {**write, "fingerprints": []}
        if row["parent_id"] is None:
            self._hold(row["id"], ("open", write))
            return
        self.flush()
        deadline = time.monotonic() + PARENT_WAIT_SECONDS

        def work() -> None:
            with direct.transaction(self.engine) as cursor:
                _open(cursor, write)
        while True:
            try:
                return engines.retrying(work, unreachable=False)
            except RegistryError as error:
                if not engines.violates_foreign_key(error) or time.monotonic() > deadline:
                    raise
                time.sleep(BATCH_SECONDS / 4)

    def log_fingerprint(self, run_id: str, name: str, seq: int, fp: Any, kept: bool,
                        result: tuple[str, str, float | None] | None = None) -> None:
        """Store one fingerprint within :data:`BATCH_SECONDS`, so a run that crashes later keeps it.

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
        self._written[run_id]["fingerprints"].append(row)
        self._hold(run_id, ("fingerprint", row))

    def close_run(self, run_id: str, *, later: bool = False, **fields: Any) -> None:
        """Record how the run ended and link it into the audit chain, atomically, with whatever of the
        run still waits; spool it all if the registry is unreachable.

        ``later``: a run that logged no fingerprint closes with the next batch (within
        :data:`BATCH_SECONDS`), like a fingerprint; one that logged any closes now (DESIGN §1).
        """
        logged = bool(self._written[run_id]["fingerprints"])
        close = ("close", {"run_id": run_id, "fields": fields,
                           "record": chain.digest_of(self._record_parts(run_id, fields))})
        if later and not logged:
            self._hold(run_id, close)
            return
        with self._writing:
            with self._lock:
                writes = self._pending.pop(run_id, [])
            self._commit(run_id, [*writes, close])

    def _commit(self, run_id: str, writes: list[Write]) -> None:
        """Commit one run's writes now, retrying a busy registry; spool them if it cannot be reached."""
        def work() -> None:
            with direct.transaction(self.engine) as cursor:
                _write_all(cursor, writes)
        self._or_spool(work, run_id, writes)

    def _record_parts(self, run_id: str, fields: dict[str, Any]) -> chain.Parts:
        """The record of a run this process opened, closed with ``fields``, from what it wrote: values
        as the database gives them back (:func:`chain.as_read`), so its digest is the one the audit
        recomputes."""
        written = self._written.pop(run_id)
        row = written["row"]
        environment = self._environment_digests[row["environment_id"]]
        fingerprints = written["fingerprints"]
        return chain.Parts(
            chain.as_read(run_table, {**_BLANK_RECORD, **row, **fields}), environment,
            [(r["key"], r["value_type"], r["text"]) for r in written["params"]],
            [(r["key"], r["value_type"], r["text"]) for r in written["tags"]],
            [chain.as_read(fingerprint_table, r) for r in fingerprints],
            [(r["name"], r["value_type"], r["text"]) for f in fingerprints if (r := f.get("result")) is not None],
        )

    def flush(self) -> None:
        """Commit every write held back now, in one transaction. On failure an open run's writes wait for
        its close; a run already closed (its close held back too) is committed alone, or spooled."""
        with self._writing:
            with self._lock:
                held, self._pending = self._pending, {}
            if not held:
                return
            try:
                with direct.transaction(self.engine) as cursor:
                    for writes in held.values():
                        _write_all(cursor, writes)
            except Exception:
                closed = {run_id: writes for run_id, writes in held.items() if writes[-1][0] == "close"}
                with self._lock:  # back in front of what came since: the close writes them, or spools them
                    for run_id, writes in held.items():
                        if run_id not in closed:
                            self._pending[run_id] = writes + self._pending.get(run_id, [])
                for run_id, writes in closed.items():  # closed later: nobody else will write them
                    try:
                        self._commit(run_id, writes)
                    except RegistryError as error:
                        warnings.warn(f"seedreg could not close run {run_id}: {error}", RuntimeWarning, stacklevel=2)

    def _hold(self, run_id: str, write: Write) -> None:
        with self._lock:
            self._pending.setdefault(run_id, []).append(write)
            if self._flusher is None:
                self._flusher = threading.Thread(target=_flush_batches, args=(weakref.ref(self), self._wake),
                                                 name="seedreg-writer", daemon=True)
                self._flusher.start()
        self._wake.set()

    def _or_spool(self, work: Any, run_id: str, entries: list[Write]) -> None:
        try:
            engines.retrying(work)
        except RegistryError as error:
            if not isinstance(error.__cause__, DBAPIError) or engines.error_kind(error.__cause__) == "error":
                raise
            for kind, write in entries:
                path = spool.append(self.url, run_id, kind, _spooled(kind, write))
            warnings.warn(
                f"seedreg: the registry {engines.mask_url(self.url)} is unavailable ({error}); "
                f"run {run_id} was spooled to {path}: run `seedreg sync` when it is back",
                RuntimeWarning, stacklevel=4,
            )

    def sync(self) -> int:
        """Apply spooled writes for this registry (each run once, idempotently); returns runs synced."""
        synced = 0
        for path, entries in spool.pending(self.url):
            def work(entries: list[dict[str, Any]] = entries) -> None:
                with engines.write(self.engine) as conn, direct.on(conn) as cursor:
                    for entry in entries:
                        _apply(conn, cursor, entry)
            engines.retrying(work, unreachable=False)
            path.unlink(missing_ok=True)
            synced += 1
        return synced


def _flush_batches(recorder: weakref.ref[Recorder], wake: threading.Event) -> None:
    """The flusher: whatever is held back is committed :data:`BATCH_SECONDS` after it arrived.

    It holds its recorder weakly: at exit the recorder (and its engine's connections) can be closed,
    which checkpoints a SQLite registry's WAL into its file.
    """
    while True:
        wake.wait()
        time.sleep(BATCH_SECONDS)
        wake.clear()
        alive = recorder()
        if alive is None:
            return
        alive.flush()
        del alive


def _open(cursor: direct.Cursor, write: dict[str, Any]) -> None:
    """A new run's row with its params and tags."""
    cursor.insert(_RUNS, [write["row"]])
    cursor.insert(param_table, write["params"])
    cursor.insert(tag_table, write["tags"])


def _spooled(kind: str, write: dict[str, Any]) -> dict[str, Any]:
    """A write as a spool entry's fields (top-level values only are encoded: an open's row goes flat;
    a close's record is read back when it is synced)."""
    if kind == "open":
        return {**write["row"], "$params": write["params"], "$tags": write["tags"]}
    if kind == "close":
        return write["fields"]
    return write


def _close(cursor: direct.Cursor, run_id: str, fields: dict[str, Any], record: Callable[[], str]) -> None:
    """Close a run that is still open (running, or shown as crashed) and chain it: ``record()`` gives
    its record digest once closed."""
    if cursor.update(_RUNS, fields, {"id": run_id}, _STILL_OPEN):
        chain.append(cursor, run_id, record())


def _insert_fingerprint(cursor: direct.Cursor, row: dict[str, Any]) -> None:
    """A fingerprints row, and the result it carries under ``"result"`` (a real number) if any."""
    fields = dict(row)
    result = fields.pop("result", None)
    cursor.insert(fingerprint_table, [fields])
    if result is not None:
        cursor.insert(result_table, [result])


def _apply(conn: Any, cursor: direct.Cursor, entry: dict[str, Any]) -> None:
    """One spooled write, applied once whatever was written before (a spool may be synced twice)."""
    fields = entry["fields"]
    if entry["kind"] == "open":
        row = {key: value for key, value in fields.items() if not key.startswith("$")}
        if conn.execute(select(_RUNS.c.id).where(_RUNS.c.id == row["id"])).first() is None:
            _open(cursor, {"row": row, "params": fields["$params"], "tags": fields["$tags"]})
    elif entry["kind"] == "fingerprint":
        table = fingerprint_table
        exists = conn.execute(
            select(table.c.name).where(table.c.run_id == fields["run_id"], table.c.name == fields["name"])
        ).first()
        if exists is None:
            _insert_fingerprint(cursor, fields)
    elif entry["kind"] == "close":
        _close(cursor, entry["run"], fields, lambda: chain.stored_digest(conn, entry["run"]))


def _close_held(cursor: direct.Cursor, write: dict[str, Any]) -> None:
    _close(cursor, write["run_id"], write["fields"], lambda: write["record"])


#: How each kind of write this process makes is committed.
_APPLY = {"open": _open, "fingerprint": _insert_fingerprint, "close": _close_held}


def _write_all(cursor: direct.Cursor, writes: list[Write]) -> None:
    """One run's writes, in the order they were made."""
    for kind, write in writes:
        _APPLY[kind](cursor, write)
