"""Bulk import: validated export lines written in large transactions, idempotently by run id.

Lines are checked by :mod:`seedreg.transfer` in worker processes for a long input (a regular
file is cut into byte ranges the workers read themselves), so validating the next lines
overlaps writing these. This process writes ``BATCH`` runs at a time, one ``executemany`` per
table, and commits every ``COMMIT`` runs. Each new closed run is appended to the audit chain
with its original record digest (links computed in Python, inserted at once); a run whose id
is already in the registry is skipped, so importing twice changes nothing.
"""

from __future__ import annotations

import gc
import io
import itertools
import marshal
import multiprocessing
import os
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, Dialect, Engine, select

from seedreg.db import bulk, engines
from seedreg.db.lookups import where_in
from seedreg.db.tables import (
    environment_table,
    fingerprint_table,
    param_table,
    replay_table,
    result_table,
    run_table,
    tag_table,
)
from seedreg.integrity import chain
from seedreg.transfer.format import FP_INSERT, RESULT_INSERT, RUN_INSERT, VALUE_INSERT, LineError
from seedreg.transfer.lines import LineReader

#: Runs written at a time, and at most per transaction: a commit writes every index page its
#: runs touched, and run ids are random, so a transaction touches pages all over the id
#: indexes; fewer, larger transactions write each page fewer times. Other writers wait while
#: one is open (about 5 s for 50,000 runs here; DESIGN: short transactions).
BATCH = 10_000
COMMIT = 50_000
#: Lines per validation task when lines are handed over one by one, bytes per task when the
#: input is a regular file, lines handed to the workers ahead of the writer (enough to keep
#: them busy through a commit), and how many worker processes validate a long input.
CHUNK = 1000
CHUNK_BYTES = 2 << 20
AHEAD = 50_000
WORKERS = 2
#: The writer is the one step that cannot be shared: the workers run at a lower priority, so
#: that it always has a CPU and they use the rest (on 2 CPUs: 11,700 runs/s instead of 10,000).
WORKER_NICE = 5
#: SQLite settings of the importing connection while it imports: a bulk load touches many
#: index pages, so keep them in memory and copy the WAL into the database less often.
#: Foreign keys are checked by the importer itself (referenced runs are looked up under the
#: write lock, rows reference runs written in the same transaction), so SQLite need not.
SQLITE_IMPORT = {"cache_size": -1024 * 1024, "wal_autocheckpoint": 250_000, "foreign_keys": 0}
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


class Head(NamedTuple):
    """What the writer needs of one good line besides its rows: which run, what it refers to, its
    chain links and verdicts, and how many rows of each table it has (rows stay in line order)."""

    number: int
    run_id: str
    refs: tuple[str, ...]
    record_digest: str | None
    record_version: int
    tombstone: str | None
    replays: list[dict[str, Any]]
    params: int
    tags: int
    fingerprints: int
    results: int


class Chunk(NamedTuple):
    """Validated lines, their rows gathered per table (cheap to pass between processes and to insert).

    ``runs`` rows end with their environment's digest, replaced by its local id when written.
    Line numbers count from the chunk's first line (1); ``lines`` is how many it spans.
    """

    lines: int
    heads: list[Head]  # per good line
    runs: list[tuple]
    params: list[tuple]
    tags: list[tuple]
    fingerprints: list[tuple]
    results: list[tuple]
    environments: dict[str, dict[str, Any]]
    refused: list[tuple[int, str]]


#: One validation task: ``(offset, length)`` of the input file, or a list of lines (str or bytes).
Task = tuple[int, int] | list[Any]


class _Validation:
    """One import's checking of lines: its reader, and the input file for byte-range tasks (None
    when the input is not a regular file). Each import has its own, so imports never share one."""

    def __init__(self, dialect: Dialect, fd: int | None) -> None:
        self.reader = LineReader(dialect)
        self.fd = fd

    def run(self, task: Task) -> bytes | Chunk:
        """Validate one task's lines: ``(offset, length)`` of the input file, or a list of lines.
        Marshalled when its values are plain (SQLite): several times cheaper than pickling them
        between processes."""
        if isinstance(task, tuple):  # only byte ranges are tuples (see _tasks)
            assert self.fd is not None
            texts: list[Any] = os.pread(self.fd, task[1], task[0]).split(b"\n")
            if texts and not texts[-1]:
                texts.pop()
        else:
            texts = task
        return _validated(self.reader, texts)


#: In a validation worker process (forked for one import): the validation it serves.
_served: _Validation | None = None


def _serve(validation: _Validation) -> None:
    """A worker's initializer: lower its priority and keep the import it validates for."""
    global _served
    os.nice(WORKER_NICE)
    _served = validation


def _worker_task(task: Task) -> bytes | Chunk:
    assert _served is not None
    return _served.run(task)


def _validated(reader: LineReader, texts: list[Any]) -> bytes | Chunk:
    """The chunk of these lines (line numbers from 1), marshalled when it can be."""
    heads, runs, params, tags, fps, results, refused = [], [], [], [], [], [], []
    environments: dict[str, dict[str, Any]] = {}
    read = reader.read
    for number, text in enumerate(texts, 1):
        if len(text) <= 8 and not text.strip():
            continue
        try:
            line = read(number, text)
        except LineError as error:
            refused.append((number, str(error)))
            continue
        digest = line.environment["digest"]
        environments[digest] = line.environment
        # A plain tuple in Head's field order (marshal takes no NamedTuple; cheaper to build and
        # pass): _loaded names it.
        heads.append((number, line.run_id, line.refs, line.record_digest, line.record_version, line.tombstone,
                      line.replays, len(line.params), len(line.tags), len(line.fingerprints), len(line.results)))
        runs.append(line.run_row + (digest,))
        params += line.params
        tags += line.tags
        fps += line.fingerprints
        results += line.results
    chunk = Chunk(len(texts), heads, runs, params, tags, fps, results, environments, refused)  # type: ignore[arg-type]
    try:
        return marshal.dumps(tuple(chunk))
    except ValueError:
        return chunk


def _loaded(result: bytes | Chunk) -> Chunk:
    """A task's chunk, its heads named."""
    lines, heads, *rest = marshal.loads(result) if isinstance(result, bytes) else result
    return Chunk(lines, list(map(Head._make, heads)), *rest)


def _input_file(lines: Iterable[str | bytes]) -> int | None:
    """The descriptor of ``lines`` when it is a regular file opened in binary, else None."""
    raw = getattr(lines, "raw", lines)  # a file opened "rb" is a BufferedReader over a FileIO
    if isinstance(raw, io.FileIO) and raw.seekable() and stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
        return raw.fileno()
    return None


def _tasks(lines: Iterable[str | bytes], fd: int | None) -> Iterator[Task]:
    """The input cut into tasks: byte ranges of the regular file ``fd`` (found by seeking, not
    reading), else lists of lines."""
    if fd is None:
        each = iter(lines)
        yield from iter(lambda: list(itertools.islice(each, CHUNK)), [])
        return
    stream: Any = lines
    offset = stream.tell()
    size = os.fstat(fd).st_size
    while offset < size:
        stream.seek(min(offset + CHUNK_BYTES, size))
        stream.readline()  # to the end of the line the cut falls in
        end = stream.tell()
        yield (offset, end - offset)
        offset = end


def _chunks(lines: Iterable[str | bytes], dialect: Dialect) -> Iterator[Chunk]:
    """Validated chunks in input order; a long input is validated by forked workers meanwhile."""
    fd = _input_file(lines)
    validation = _Validation(dialect, fd)
    tasks = _tasks(lines, fd)
    first = list(itertools.islice(tasks, 2))
    cpus = os.cpu_count() or 1
    workers = min(WORKERS, cpus) if cpus > 1 else 0  # on one CPU, passing lines around only costs
    # Fork only a single-threaded process: a lock another thread holds would stay held in the child.
    forkable = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    if len(first) < 2 or workers < 1 or not forkable:
        for task in itertools.chain(first, tasks):
            yield _loaded(validation.run(task))
        return
    # Forked workers inherit this import's validation and input file (not pickled: forked) and
    # never touch the database (a forked child drops inherited engines). About AHEAD lines are in flight.
    ahead = 4
    with multiprocessing.get_context("fork").Pool(workers, initializer=_serve, initargs=(validation,)) as pool:
        pending: deque = deque()
        for task in itertools.chain(first, tasks):
            pending.append(pool.apply_async(_worker_task, (task,)))
            while len(pending) > ahead:
                chunk = _loaded(pending.popleft().get())
                ahead = max(2, AHEAD // max(1, chunk.lines))
                yield chunk
        while pending:
            yield _loaded(pending.popleft().get())


class _Batch:
    """Chunks gathered for one write, line numbers made absolute."""

    def __init__(self) -> None:
        self.heads: list[Head] = []
        self.runs: list[tuple] = []
        self.params: list[tuple] = []
        self.tags: list[tuple] = []
        self.fingerprints: list[tuple] = []
        self.results: list[tuple] = []
        self.environments: dict[str, dict[str, Any]] = {}

    def add(self, chunk: Chunk, base: int) -> None:
        self.heads += [Head(base + head.number, *head[1:]) for head in chunk.heads] if base else chunk.heads
        self.runs += chunk.runs
        self.params += chunk.params
        self.tags += chunk.tags
        self.fingerprints += chunk.fingerprints
        self.results += chunk.results
        self.environments.update(chunk.environments)


def import_lines(engine: Engine, lines: Iterable[str | bytes], progress: Progress | None = None) -> ImportReport:
    """Write every valid line's run that the registry does not have yet, ``BATCH`` runs at a time,
    committed every ``COMMIT`` runs and at the end.

    ``lines`` may be a binary file: a regular file is then read by the workers themselves.
    """
    report = ImportReport()
    done = ImportReport()  # what the open transaction did, counted once it commits
    batch = _Batch()
    collecting = gc.isenabled()
    gc.disable()  # a batch is many small containers without cycles: the collector would rescan them all
    with engine.connect() as base:
        conn = base.execution_options(seedreg_write=True)
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _pragmas(conn, SQLITE_IMPORT)
        written = 0  # lines written in the open transaction

        def flush(last: bool) -> None:
            nonlocal batch, done, written
            if batch.heads:
                if not conn.in_transaction():
                    engines.retrying(lambda: _begin(conn), unreachable=False)
                _write(conn, batch, done)
                written += len(batch.heads)
                if progress:
                    progress(len(batch.heads))
                batch = _Batch()
            if last or written >= COMMIT:
                conn.commit()
                report.imported += done.imported
                report.skipped += done.skipped
                report.verdicts += done.verdicts
                report.rejected += done.rejected
                done, written = ImportReport(), 0

        try:
            numbered = 0  # lines before the current chunk
            for chunk in _chunks(lines, conn.dialect):
                report.rejected += [(numbered + number, why) for number, why in chunk.refused]
                batch.add(chunk, numbered)
                numbered += chunk.lines
                if len(batch.heads) >= BATCH:
                    flush(last=False)
            if batch.heads or written:
                flush(last=True)
        finally:
            if sqlite or conn.in_transaction():
                conn.rollback()  # an error left the open transaction: none of its runs were written
            if sqlite:
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


def _begin(conn: Connection) -> None:
    """Open the import's write transaction and lock the chain head: closes and other imports
    wait, so what :func:`_write` checks holds until the commit."""
    conn.begin()
    try:
        chain.lock_head(conn)
    except BaseException:
        conn.rollback()
        raise


def _write(conn: Connection, batch: _Batch, report: ImportReport) -> None:
    """In the open transaction: new runs with their rows, their chain links, and verdicts not stored yet."""
    present = _existing(conn, run_table.c.id, {h.run_id for h in batch.heads} | {r for h in batch.heads for r in h.refs})
    drop: set[int] = set()  # positions of lines not written
    refused: list[tuple[int, str]] = []
    skipped = 0
    links = []
    for i, head in enumerate(batch.heads):
        if head.run_id in present:
            skipped += 1
            drop.add(i)
            continue
        absent = [ref for ref in head.refs if ref not in present]
        if absent:
            refused.append((head.number, f"run {head.run_id} refers to run {absent[0]}, which is neither in "
                                         "the registry nor on an earlier line: export it too"))
            drop.add(i)
            continue
        present.add(head.run_id)
        if head.record_digest is not None:
            links.append((head.run_id, "record", head.record_digest, head.record_version))
        if head.tombstone is not None:
            links.append((head.run_id, "tombstone", head.tombstone, chain.TOMBSTONE_VERSION))
    runs, params, tags, fps, results = batch.runs, batch.params, batch.tags, batch.fingerprints, batch.results
    if drop:
        runs = [row for i, row in enumerate(runs) if i not in drop]
        heads = batch.heads
        params = _kept(params, [head.params for head in heads], drop)
        tags = _kept(tags, [head.tags for head in heads], drop)
        fps = _kept(fps, [head.fingerprints for head in heads], drop)
        results = _kept(results, [head.results for head in heads], drop)
    env_ids = _environment_ids(conn, {row[-1]: batch.environments[row[-1]] for row in runs})
    bulk.insert_rows(conn, run_table, RUN_INSERT, [row[:-1] + (env_ids[row[-1]],) for row in runs])
    bulk.insert_rows(conn, param_table, VALUE_INSERT, params)
    bulk.insert_rows(conn, tag_table, VALUE_INSERT, tags)
    bulk.insert_rows(conn, fingerprint_table, FP_INSERT, fps)
    bulk.insert_rows(conn, result_table, RESULT_INSERT, results)
    if links:
        chain.extend(conn, links, imported=True)
    verdicts = _new_verdicts(conn, [v for head in batch.heads for v in head.replays])
    columns = ["session", "original_id", "replay_id", "verdict", "details", "created_at"]
    bulk.insert_rows(conn, replay_table, columns, [tuple(v[c] for c in columns) for v in verdicts])
    report.imported += len(runs)
    report.skipped += skipped
    report.verdicts += len(verdicts)
    report.rejected += refused


def _kept(rows: list[tuple], counts: list[int], drop: set[int]) -> list[tuple]:
    """The rows of the lines not dropped (line i has ``counts[i]`` rows, in line order)."""
    kept, at = [], 0
    for i, count in enumerate(counts):
        if i not in drop:
            kept += rows[at : at + count]
        at += count
    return kept


def _existing(conn: Connection, column: Any, keys: Iterable[Any]) -> set[Any]:
    """The ``keys`` found in ``column``."""
    return {row[0] for row in where_in(conn, select(column), column, keys)}


def _environment_ids(conn: Connection, environments: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Local ids of these environments (by digest), inserting the ones the registry lacks."""
    table = environment_table

    def known() -> dict[str, int]:
        return dict(where_in(conn, select(table.c.digest, table.c.id), table.c.digest, environments))

    ids = known()
    missing = [dict(env, created_at=engines.utcnow()) for digest, env in environments.items() if digest not in ids]
    if missing:
        conn.execute(table.insert(), missing)
        ids = known()
    return ids


def _new_verdicts(conn: Connection, verdicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The verdicts not stored yet (a verdict is its session, original and replay)."""
    if not verdicts:
        return []
    table = replay_table
    query = select(table.c.session, table.c.original_id, table.c.replay_id)
    stored = {tuple(row) for row in where_in(conn, query, table.c.original_id, {v["original_id"] for v in verdicts})}
    fresh = []
    for verdict in verdicts:
        key = (verdict["session"], verdict["original_id"], verdict["replay_id"])
        if key not in stored:
            stored.add(key)
            fresh.append(verdict)
    return fresh
