"""Bulk import: validated export lines written in large transactions, idempotently by run id.

Lines are checked by :mod:`seedreg.transfer` — in worker processes for a long input, so
validating the next lines overlaps writing these — and written ``BATCH`` runs per
transaction with one ``executemany`` per table. Each new closed run is appended to the audit
chain with its original record digest (links computed in Python, inserted at once); a run
whose id is already in the registry is skipped, so importing twice changes nothing.
"""

from __future__ import annotations

import gc
import itertools
import marshal
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, select

from . import bulk, chain, database
from .models import ChainHead, Environment, FingerprintRow, Param, ReplayVerdict, Run, Tag
from .transfer import FP_INSERT, RUN_INSERT, VALUE_INSERT, Line, LineError, LineReader, parts

#: Runs written per transaction.
BATCH = 20_000
#: Lines per validation task, and at most how many worker processes validate a long input
#: (one fewer than the CPUs: this process writes meanwhile).
CHUNK = 1000
WORKERS = 2
#: SQLite settings of the importing connection while it imports: a bulk load touches many
#: index pages, so keep them in memory and copy the WAL into the database less often.
#: Foreign keys are checked by the importer itself (referenced runs are looked up under the
#: write lock, rows reference runs written in the same transaction), so SQLite need not.
SQLITE_IMPORT = {"cache_size": -512 * 1024, "wal_autocheckpoint": 100_000, "foreign_keys": 0}
SQLITE_DEFAULT = {"cache_size": -2000, "wal_autocheckpoint": 1000, "foreign_keys": 1}

Progress = Callable[[int], None]


@dataclass
class ImportReport:
    """What an import did: runs written, runs already present, verdicts added, lines refused (number, why)."""

    imported: int = 0
    skipped: int = 0
    verdicts: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected

    def to_json(self) -> dict[str, Any]:
        return {"imported": self.imported, "skipped": self.skipped, "verdicts": self.verdicts,
                "rejected": [{"line": n, "error": e} for n, e in self.rejected]}


_reader: LineReader | None = None


def read_chunk(chunk: list[tuple[int, str | bytes]]) -> bytes | tuple[list[tuple], list[tuple[int, str]]]:
    """Validate numbered lines (in a worker for long inputs): the good ones, and the refused (number, why)."""
    assert _reader is not None
    good, refused = [], []
    for number, text in chunk:
        try:
            good.append(tuple(_reader.read(number, text)))
        except LineError as error:
            refused.append((number, str(error)))
    try:  # plain values (SQLite): marshal passes them between processes several times faster than pickle
        return marshal.dumps((good, refused))
    except ValueError:
        return good, refused


def _chunks(lines: Iterable[str | bytes], dialect: Dialect) -> Iterator[tuple[list[tuple], list[tuple[int, str]]]]:
    """Validated chunks in input order; a long input is validated by forked workers meanwhile."""
    global _reader
    _reader = LineReader(dialect)
    numbered = ((n, text) for n, text in enumerate(lines, 1) if len(text) > 8 or text.strip())
    chunks = iter(lambda: list(itertools.islice(numbered, CHUNK)), [])
    first = list(itertools.islice(chunks, 2))
    workers = min(WORKERS, (os.cpu_count() or 1) - 1)
    # Fork only a single-threaded process: a lock another thread holds would stay held in the child.
    forkable = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    if len(first) < 2 or workers < 1 or not forkable:
        for chunk in itertools.chain(first, chunks):
            yield _loaded(read_chunk(chunk))
        return
    # Forked workers inherit the reader and never touch the database (database.py drops
    # inherited engines in a forked child). At most a batch and a little more is in flight.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pending: deque = deque()
        for chunk in itertools.chain(first, chunks):
            pending.append(pool.apply_async(read_chunk, (chunk,)))
            if len(pending) > BATCH // CHUNK + 2:
                yield _loaded(pending.popleft().get())
        while pending:
            yield _loaded(pending.popleft().get())


def _loaded(result: bytes | tuple) -> tuple[list[tuple], list[tuple[int, str]]]:
    return marshal.loads(result) if isinstance(result, bytes) else result


def import_lines(engine: Engine, lines: Iterable[str | bytes], progress: Progress | None = None) -> ImportReport:
    """Write every valid line's run that the registry does not have yet, ``BATCH`` runs per transaction."""
    report = ImportReport()
    batch: list[Line] = []
    collecting = gc.isenabled()
    gc.disable()  # a batch is many small containers without cycles: the collector would rescan them all
    with engine.connect() as base:
        conn = base.execution_options(seedreg_write=True)
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _pragmas(conn, SQLITE_IMPORT)

        def flush() -> None:
            database.retrying(lambda: _write(conn, batch, report), unreachable=False)
            if progress:
                progress(len(batch))
            batch.clear()

        try:
            for good, refused in _chunks(lines, conn.dialect):
                report.rejected += refused
                batch += map(Line._make, good)
                if len(batch) >= BATCH:
                    flush()
            if batch:
                flush()
        finally:
            if sqlite:
                conn.rollback()
                _pragmas(conn, SQLITE_DEFAULT)
            if collecting:
                gc.enable()
    report.rejected.sort()
    return report


def _pragmas(conn: Connection, settings: dict[str, int]) -> None:
    """Set SQLite pragmas outside any transaction (``foreign_keys`` is ignored inside one)."""
    driver = conn.connection.dbapi_connection
    assert driver is not None and not conn.in_transaction()
    for name, value in settings.items():
        driver.execute(f"PRAGMA {name} = {int(value)}")


def _write(conn: Connection, batch: list[Line], report: ImportReport) -> None:
    """One transaction: new runs with their rows, their chain links, and verdicts not stored yet."""
    with conn.begin():
        # Lock the chain head first: closes and other imports wait, so the checks below hold.
        conn.execute(select(ChainHead.count).where(ChainHead.id == 1).with_for_update()).one()
        present = _existing(conn, Run.id, {line.run_id for line in batch} | {r for line in batch for r in line.refs})
        new: list[Line] = []
        refused: list[tuple[int, str]] = []
        skipped = 0
        for line in batch:
            if line.run_id in present:
                skipped += 1
                continue
            absent = [ref for ref in line.refs if ref not in present]
            if absent:
                refused.append((line.number, f"run {line.run_id} refers to run {absent[0]}, which is neither in "
                                             "the registry nor on an earlier line: export it too"))
                continue
            present.add(line.run_id)
            new.append(line)
        env_ids = _environment_ids(conn, {line.environment["digest"]: line.environment for line in new})
        links = []
        for line in new:
            if line.record_digest is not None:
                links.append((line.run_id, "record", line.record_digest))
            if line.tombstone is not None:
                links.append((line.run_id, "tombstone", line.tombstone))
        bulk.insert_rows(conn, Run.__table__, RUN_INSERT,
                    [line.run_row + (env_ids[line.environment["digest"]],) for line in new])
        bulk.insert_rows(conn, Param.__table__, VALUE_INSERT, [row for line in new for row in line.params])
        bulk.insert_rows(conn, Tag.__table__, VALUE_INSERT, [row for line in new for row in line.tags])
        bulk.insert_rows(conn, FingerprintRow.__table__, FP_INSERT, [row for line in new for row in line.fingerprints])
        if links:
            chain.extend(conn, links, imported=True)
        verdicts = _new_verdicts(conn, [v for line in batch for v in line.replays])
        columns = ["session", "original_id", "replay_id", "verdict", "details", "created_at"]
        bulk.insert_rows(conn, ReplayVerdict.__table__, columns, [tuple(v[c] for c in columns) for v in verdicts])
    report.imported += len(new)
    report.skipped += skipped
    report.verdicts += len(verdicts)
    report.rejected += refused


def _existing(conn: Connection, column: Any, keys: Iterable[Any]) -> set[Any]:
    found: set[Any] = set()
    for part in parts(sorted(set(keys))):
        found.update(conn.execute(select(column).where(column.in_(part))).scalars())
    return found


def _environment_ids(conn: Connection, environments: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Local ids of these environments (by digest), inserting the ones the registry lacks."""
    table = Environment.__table__

    def known() -> dict[str, int]:
        found: dict[str, int] = {}
        for part in parts(sorted(environments)):
            found.update(conn.execute(select(table.c.digest, table.c.id).where(table.c.digest.in_(part))).all())
        return found

    ids = known()
    missing = [dict(env, created_at=database.utcnow()) for digest, env in environments.items() if digest not in ids]
    if missing:
        conn.execute(table.insert(), missing)
        ids = known()
    return ids


def _new_verdicts(conn: Connection, verdicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The verdicts not stored yet (a verdict is its session, original and replay)."""
    if not verdicts:
        return []
    table = ReplayVerdict.__table__
    stored: set[tuple] = set()
    for part in parts(sorted({v["original_id"] for v in verdicts})):
        query = select(table.c.session, table.c.original_id, table.c.replay_id).where(table.c.original_id.in_(part))
        stored.update(tuple(row) for row in conn.execute(query))
    fresh = []
    for verdict in verdicts:
        key = (verdict["session"], verdict["original_id"], verdict["replay_id"])
        if key not in stored:
            stored.add(key)
            fresh.append(verdict)
    return fresh
