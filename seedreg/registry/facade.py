"""The Python API over a registry: find, read and query runs (the CLI calls only this)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Select, func, select

from seedreg.db import engines, liveness, schema
from seedreg.db.sqlite_file import check_sqlite_file
from seedreg.db.tables import run_table
from seedreg.errors import RegistryNotFoundError, UnknownRunError, UsageError
from seedreg.records import ReplayRecord, RunRecord
from seedreg.registry import reads
from seedreg.registry.query import DEFAULT_SORT, Filters, order_by, plan

if TYPE_CHECKING:
    from seedreg.fingerprints.digest import Fingerprint
    from seedreg.integrity.audit import AuditReport
    from seedreg.registry.diff import RunsDiff
    from seedreg.registry.experiments import ExperimentSummary
    from seedreg.registry.history import ReplayDay
    from seedreg.registry.sql import SqlResult
    from seedreg.replay.compare import BlockComparison
    from seedreg.replay.runner import ReplayPlan, ReplayResult
    from seedreg.seeds.records import PairedGroup, SeedGroup
    from seedreg.seeds.scope import Request as SeedRequest
    from seedreg.sweep.runner import Plan as SweepPlan
    from seedreg.sweep.runner import SweepResult
    from seedreg.transfer.importer import ImportReport

class Registry:
    """A seedreg registry: one database, any SQLAlchemy URL (default ``./seedreg.db``).

    Reading never creates a database: a missing SQLite file raises RegistryNotFoundError.
    ``readonly=True`` opens it so that the database itself refuses writes and no file beside it
    is created (``seedreg ui``, ``report`` and every reading command); writing methods then refuse.
    """

    def __init__(self, url: str | os.PathLike[str] | None = None, *, readonly: bool = False) -> None:
        self.url = engines.resolve_url(url)
        self.readonly = readonly
        self._engine_checked: Engine | None = None

    def __repr__(self) -> str:
        return f"Registry({self.display_url!r})"

    @property
    def display_url(self) -> str:
        """The URL with any password masked."""
        return engines.mask_url(self.url)

    def _missing(self) -> RegistryNotFoundError:
        path = engines.sqlite_path(self.url)
        return RegistryNotFoundError(
            f"no registry at {path}: record a run first, or point --db / SEEDREG_DB at an existing one"
        )

    def _open(self) -> Engine:
        """The engine of this registry's URL, once its path is known to be a SQLite file (or new)."""
        check_sqlite_file(self.url)
        return engines.engine_for(self.url, readonly=self.readonly)

    def _writable(self, what: str) -> None:
        if self.readonly:
            raise UsageError(f"{what} writes to the registry, which was opened read-only")

    def engine(self) -> Engine:
        """The engine of an existing registry whose schema is current (checked once).

        Writes this process's blocks still hold back are committed first: a reader sees its own runs.
        """
        writer = sys.modules.get("seedreg.recording.writer")  # loaded only where a block ran
        if writer is not None:
            writer.flush_all()
        if self._engine_checked is None:
            if not engines.exists(self.url):
                raise self._missing()
            engine = self._open()
            schema.ensure(engine, create=False)
            self._engine_checked = engine
        return self._engine_checked

    # -- schema -------------------------------------------------------------------------

    def revision(self) -> str | None:
        """The database's schema revision (None when empty); never creates anything."""
        if not engines.exists(self.url):
            raise self._missing()
        with self._open().connect() as conn:
            return schema.current_revision(conn)

    def upgrade(self) -> tuple[str | None, str | None]:
        """Create or upgrade the schema to head; returns (revision before, revision after)."""
        self._writable("upgrade")
        return schema.upgrade(self._open())

    # -- queries ------------------------------------------------------------------------

    def filters(self, **criteria: Any) -> Filters:
        """Validated filters (see :meth:`query.Filters.build`); ``parent`` may be an id prefix."""
        parent = criteria.pop("parent", None)
        return Filters.build(parent=self.resolve(parent) if parent else None, **criteria)

    def _select(self, conn, query: Select, filters: Filters) -> Select | None:
        """``query`` narrowed by the filters; None when no run can match (a param value nobody has)."""
        common = plan(conn, filters)
        if common is None:
            return None
        return query.where(*filters.conditions(lambda: liveness.crashed_ids(conn), common))

    def runs(self, *, limit: int | None = 20, offset: int = 0, sort: str = DEFAULT_SORT,
             filters: Filters | None = None, **criteria: Any) -> list[RunRecord]:
        """Runs matching every filter, newest first (``sort``); ``limit=None`` (or 0) for all.

        Filters (all combine): ``experiment``, ``status``, ``seed``, ``numpy`` (exact or a
        prefix like ``"1.26"``), ``since``/``until`` (datetime, ISO text or ``"7d"``),
        ``params``/``tags`` (a mapping of typed values, or ``"k=v"`` texts as on the command
        line), ``replays``, ``parent``, ``deleted`` (False: hide deleted runs, the default;
        True: only them; None: both), or ``filters`` built already. See :class:`seedreg.registry.query.Filters`.
        """
        if limit is not None and limit < 0 or offset < 0:
            raise UsageError("--limit and --offset must not be negative")
        filters = filters or self.filters(**criteria)
        ordering = order_by(sort)
        with self.engine().connect() as conn:
            query = self._select(conn, reads.run_rows(conn), filters)
            if query is None:
                return []
            scope: Select | str | None = None
            if not limit and not offset:  # all matching runs: children by the same filter, not by id lists
                scope = query.with_only_columns(run_table.c.id)
            query = query.order_by(*ordering).offset(offset)
            if limit:
                query = query.limit(limit)
            rows = conn.execute(query).all()
            if scope is not None and 2 * len(rows) >= conn.execute(select(func.count()).select_from(run_table)).scalar_one():
                scope = reads.EVERY_RUN  # most of the registry: a scan of each child table is cheaper
            return reads.records(conn, rows, scope)

    def count(self, *, filters: Filters | None = None, cap: int | None = None, **criteria: Any) -> int:
        """How many runs match the filters of :meth:`runs`; with ``cap``, counting stops above it."""
        filters = filters or self.filters(**criteria)
        with self.engine().connect() as conn:
            query = self._select(conn, select(run_table.c.id), filters)
            if query is None:
                return 0
            if cap is not None:
                query = query.limit(cap + 1)
            return int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())

    def resolve(self, ref: str) -> str:
        """The full id of the one run whose id starts with ``ref`` (like git)."""
        with self.engine().connect() as conn:
            return reads.resolve(conn, ref, self.display_url)

    def get(self, ref: str) -> RunRecord:
        """The run whose id is ``ref`` or starts with it, with its environment."""
        with self.engine().connect() as conn:
            return reads.get(conn, reads.resolve(conn, ref, self.display_url))

    def last(self) -> RunRecord:
        """``--last`` (DESIGN §3): the newest root run — no parent, not a replay, any status (not deleted)."""
        with self.engine().connect() as conn:
            query = (select(run_table.c.id)
                     .where(run_table.c.parent_id.is_(None), run_table.c.deleted_at.is_(None),
                            func.coalesce(run_table.c.replay_of, run_table.c.replay_session).is_(None))
                     .order_by(*order_by(DEFAULT_SORT)).limit(1))
            found = conn.execute(query).scalar()
            if found is None:
                raise UnknownRunError(f"{self.display_url} has no runs yet")
            return reads.get(conn, found)

    def replays_of(self, ref: str) -> list[ReplayRecord]:
        """Every stored replay verdict for a run, newest first."""
        with self.engine().connect() as conn:
            return reads.replays_of(conn, reads.resolve(conn, ref, self.display_url))

    # -- at scale: summaries, raw SQL, deletion, transfer ------------------------------------

    def experiments(self) -> list[ExperimentSummary]:
        """One summary per experiment (original runs that are not deleted, and their replays' verdicts)."""
        from seedreg.registry.experiments import summarize

        with self.engine().connect() as conn:
            return summarize(conn)

    def replay_history(self) -> list[ReplayDay]:
        """Per experiment and day (UTC), how many stored replays of its runs were identical or not."""
        from seedreg.registry.history import replay_history

        with self.engine().connect() as conn:
            return replay_history(conn)

    def data_stamp(self) -> tuple | None:
        """A value that changes whenever a SQLite registry's files change (any write does): caches of what was
        read may be kept while it stays the same. None for a server, which has no such cheap stamp."""
        from seedreg.db.readonly import file_stamp

        path = engines.sqlite_path(self.url)
        return None if path is None else file_stamp(path)

    def chain_head(self) -> tuple[int, str]:
        """The audit chain's stored (count, head digest), unverified: what ``audit`` would check against."""
        from seedreg.db.tables import chain_head_table as head_table

        with self.engine().connect() as conn:
            head = conn.execute(select(head_table.c["count"], head_table.c.head).where(head_table.c.id == 1)).one_or_none()
        return (int(head[0]), head[1]) if head else (0, "")

    def is_kept(self, fingerprint: Fingerprint) -> bool:
        """Whether the data store holds the array behind ``fingerprint`` (then a replay names the exact element)."""
        from seedreg.fingerprints import kept_arrays

        if fingerprint.kind != "ndarray" or not kept_arrays.configured(self.url):
            return False
        return kept_arrays.path_for(self.url, fingerprint.hexdigest).is_file()

    def sql(self, statement: str) -> SqlResult:
        """Run one read-only SQL statement; the database itself refuses any write (DESIGN §3)."""
        from seedreg.registry.sql import run_readonly

        if not engines.exists(self.url):
            raise self._missing()
        check_sqlite_file(self.url)
        return run_readonly(self.url, statement)

    def delete(self, ref: str, reason: str) -> RunRecord:
        """Hide a run from ``list`` for good, keeping its row; the deletion is chained as a tombstone."""
        from seedreg.integrity.deletion import delete

        self._writable("delete")
        run_id = self.resolve(ref)
        delete(self.engine(), run_id, reason)
        return self.get(run_id)

    def export(self, **criteria: Any) -> Iterator[str]:
        """JSON lines (no newline) of the runs matching the filters of :meth:`runs`, oldest first."""
        from seedreg.transfer.export import export_lines

        filters = self.filters(**criteria)
        with self.engine().connect() as conn:
            query = self._select(conn, reads.run_rows(conn), filters)
            if query is not None:
                yield from export_lines(conn, query.order_by(*order_by("started")))

    def import_(self, lines: Iterable[str | bytes], progress: Callable[[int], None] | None = None) -> ImportReport:
        """Merge exported JSON lines: new runs are written, runs already here skipped, bad lines reported.

        Creates the registry when it does not exist yet. ``progress(n)`` is called as lines are written.
        """
        from seedreg.transfer.importer import import_lines

        self._writable("import")
        engine = self._open()
        engines.retrying(lambda: schema.ensure(engine, create=True), unreachable=False)
        self._engine_checked = engine
        return import_lines(engine, lines, progress)

    # -- seeds as a dimension (DESIGN §9) -------------------------------------------------

    def _seed_request(self, conn: Any, experiments: Sequence[str], by: Sequence[str] | None,
                      results: Sequence[str], sweep: str | None, split_code: bool) -> SeedRequest:
        from seedreg.seeds.scope import Request
        from seedreg.sweep.store import resolve as resolve_sweep

        if any(not isinstance(key, str) or not key for key in by or ()):
            raise UsageError("--by takes a param key (a non-empty name)")
        return Request(experiments=tuple(experiments), by=tuple(dict.fromkeys(by)) if by else None,
                       results=tuple(results), split_code=split_code,
                       sweep=resolve_sweep(conn, sweep, self.display_url) if sweep is not None else None)

    def seeds(self, experiments: Sequence[str] = (), *, by: Sequence[str] | None = None, results: Sequence[str] = (),
              sweep: str | None = None, split_code: bool = False) -> list[SeedGroup]:
        """Completed original runs grouped by experiment and params (all, or only ``by``) that differ only in
        their seed: counts, failed runs, seeds, each result's spread, nondeterministic outputs (DESIGN §9).

        ``sweep`` (an id or unique prefix) keeps one sweep's runs; ``split_code`` splits groups by script digest.
        """
        from seedreg.seeds.groups import group_seeds

        with self.engine().connect() as conn:
            return group_seeds(conn, self._seed_request(conn, experiments, by, results, sweep, split_code))

    def paired(self, a: str, b: str, experiments: Sequence[str] = (), *, by: Sequence[str] | None = None,
               results: Sequence[str] = (), sweep: str | None = None, split_code: bool = False) -> list[PairedGroup]:
        """``seeds --vs KEY=A --vs KEY=B``: configuration B against A, seed by seed, in each group of the other params."""
        from seedreg.seeds.paired import paired

        with self.engine().connect() as conn:
            return paired(conn, self._seed_request(conn, experiments, by, results, sweep, split_code), a, b)

    def resolve_sweep(self, ref: str) -> str:
        """The full id of the one sweep whose id starts with ``ref`` (like a run's)."""
        from seedreg.sweep.store import resolve

        with self.engine().connect() as conn:
            return resolve(conn, ref, self.display_url)

    def sweep(self, plan: SweepPlan, progress: Callable[[int, int, Any], None] | None = None) -> SweepResult:
        """Run ``plan`` (a new sweep, or ``retry`` of one) recording into this registry, then group its runs."""
        from seedreg.sweep.runner import run_sweep

        self._writable("sweep")
        engine = self._open()
        engines.retrying(lambda: schema.ensure(engine, create=True), unreachable=False)
        self._engine_checked = engine
        result = run_sweep(engine, self.url, plan, progress)
        result.groups = self.seeds(sweep=result.sweep)
        return result

    # -- checks ---------------------------------------------------------------------------

    def sync(self) -> int:
        """Write runs spooled while this registry was unavailable; returns how many runs were synced."""
        from seedreg.recording.writer import Recorder

        self._writable("sync")
        recorder = Recorder.for_url(self.url)
        synced, recorder.synced = recorder.synced, 0
        return synced + recorder.sync()

    def audit(self, refs: Sequence[str] = (), *, expect_head: str | None = None,
              progress: Callable[[int], None] | None = None) -> AuditReport:
        """Recompute record digests and the chain; with ``refs``, only those runs and their links."""
        from seedreg.integrity.audit import audit

        run_ids = [self.resolve(ref) for ref in refs] or None
        with self.engine().connect() as conn:
            return audit(conn, run_ids, expect_head=expect_head, progress=progress)

    def check_data(self, ref: str, name: str, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Compare a saved ``.npy`` file with the fingerprint a run recorded under ``name``."""
        import numpy as np

        from seedreg.fingerprints.encoding import fingerprint
        from seedreg.replay.compare import locate

        record = self.get(ref)
        recorded = record.fingerprints.get(name)
        if recorded is None:
            known = ", ".join(record.fingerprints) or "none"
            raise UsageError(f"run {record.id[:12]} logged no {name!r} (it logged: {known})")
        try:
            data = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise UsageError(f"cannot read {path} as a .npy array: {error}") from None
        found = fingerprint(data)
        matches = found == recorded
        return {"run": record.id, "name": name, "path": str(path), "matches": matches,
                "recorded": str(recorded), "found": str(found),
                "where": None if matches else locate(recorded, found)}

    def replay_plan(self, ref: str | None, *, timeout: float | None = None, output: str | None = None) -> ReplayPlan:
        """What ``replay`` would run for ``ref`` (None: the newest original run); a notebook run's
        replay takes a per-cell ``timeout`` (seconds) and an ``output`` path for the executed notebook."""
        from seedreg.replay.runner import plan

        return plan(self.engine(), self.url, self.last() if ref is None else self.get(ref), timeout=timeout,
                    output=output)

    def replay(self, ref: str | ReplayPlan | None) -> ReplayResult:
        """Re-execute a run's command with its recorded seeds and compare block by block."""
        from seedreg.replay.runner import ReplayPlan, execute

        self._writable("replay")
        return execute(self.engine(), self.url, ref if isinstance(ref, ReplayPlan) else self.replay_plan(ref))

    def diff(self, ref_a: str, ref_b: str) -> BlockComparison:
        """Seed, params, environment and fingerprints of two runs, compared."""
        from seedreg.replay.compare import compare_block

        return compare_block(self.get(ref_a), self.get(ref_b))

    def compare(self, refs: Sequence[str]) -> RunsDiff:
        """Two or more runs side by side (``seedreg diff``, the UI's compare page); arrays that differ
        say where, to the exact element when the data store kept both."""
        from seedreg.registry.diff import compare_runs

        if len(refs) < 2:
            raise UsageError("diff compares two or more runs: give at least two run ids (or unique prefixes)")
        return compare_runs([self.get(ref) for ref in refs], self.url)
