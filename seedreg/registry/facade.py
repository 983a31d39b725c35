"""The Python API over a registry: find, read and query runs (the CLI calls only this)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Select, func, select

from seedreg.db import engines, liveness, schema
from seedreg.db.models import RunRow
from seedreg.errors import RegistryNotFoundError, UnknownRunError, UsageError
from seedreg.records import ReplayRecord, RunRecord
from seedreg.registry import reads
from seedreg.registry.query import DEFAULT_SORT, Filters, order_by, plan

if TYPE_CHECKING:
    from seedreg.integrity.audit import AuditReport
    from seedreg.registry.experiments import ExperimentSummary
    from seedreg.registry.sql import SqlResult
    from seedreg.replay.compare import BlockComparison
    from seedreg.replay.runner import ReplayPlan, ReplayResult
    from seedreg.transfer.importer import ImportReport

class Registry:
    """A seedreg registry: one database, any SQLAlchemy URL (default ``./seedreg.db``).

    Reading never creates a database: a missing SQLite file raises RegistryNotFoundError.
    """

    def __init__(self, url: str | os.PathLike[str] | None = None) -> None:
        self.url = engines.resolve_url(url)
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

    def engine(self) -> Engine:
        """The engine of an existing registry whose schema is current (checked once)."""
        if self._engine_checked is None:
            if not engines.exists(self.url):
                raise self._missing()
            engine = engines.engine_for(self.url)
            schema.ensure(engine, create=False)
            self._engine_checked = engine
        return self._engine_checked

    # -- schema -------------------------------------------------------------------------

    def revision(self) -> str | None:
        """The database's schema revision (None when empty); never creates anything."""
        if not engines.exists(self.url):
            raise self._missing()
        with engines.engine_for(self.url).connect() as conn:
            return schema.current_revision(conn)

    def upgrade(self) -> tuple[str | None, str | None]:
        """Create or upgrade the schema to head; returns (revision before, revision after)."""
        return schema.upgrade(engines.engine_for(self.url))

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
            query = self._select(conn, select(RunRow.__table__), filters)
            if query is None:
                return []
            query = query.order_by(*ordering).offset(offset)
            if limit:
                query = query.limit(limit)
            rows = conn.execute(query).all()
            return reads.records(conn, rows)

    def count(self, *, filters: Filters | None = None, cap: int | None = None, **criteria: Any) -> int:
        """How many runs match the filters of :meth:`runs`; with ``cap``, counting stops above it."""
        filters = filters or self.filters(**criteria)
        with self.engine().connect() as conn:
            query = self._select(conn, select(RunRow.id), filters)
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
        """The newest original run (not a replay)."""
        found = self.runs(replays=False, limit=1)
        if not found:
            raise UnknownRunError(f"{self.display_url} has no runs yet")
        return self.get(found[0].id)

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

    def sql(self, statement: str) -> SqlResult:
        """Run one read-only SQL statement; the database itself refuses any write (DESIGN §3)."""
        from seedreg.registry.sql import run_readonly

        if not engines.exists(self.url):
            raise self._missing()
        return run_readonly(self.url, statement)

    def delete(self, ref: str, reason: str) -> RunRecord:
        """Hide a run from ``list`` for good, keeping its row; the deletion is chained as a tombstone."""
        from seedreg.integrity.deletion import delete

        run_id = self.resolve(ref)
        delete(self.engine(), run_id, reason)
        return self.get(run_id)

    def export(self, **criteria: Any) -> Iterator[str]:
        """JSON lines (no newline) of the runs matching the filters of :meth:`runs`, oldest first."""
        from seedreg.transfer.export import export_lines

        filters = self.filters(**criteria)
        with self.engine().connect() as conn:
            query = self._select(conn, select(RunRow.__table__), filters)
            if query is not None:
                yield from export_lines(conn, query.order_by(*order_by("started")))

    def import_(self, lines: Iterable[str | bytes], progress: Callable[[int], None] | None = None) -> ImportReport:
        """Merge exported JSON lines: new runs are written, runs already here skipped, bad lines reported.

        Creates the registry when it does not exist yet. ``progress(n)`` is called as lines are written.
        """
        from seedreg.transfer.importer import import_lines

        engine = engines.engine_for(self.url)
        engines.retrying(lambda: schema.ensure(engine, create=True), unreachable=False)
        self._engine_checked = engine
        return import_lines(engine, lines, progress)

    # -- checks ---------------------------------------------------------------------------

    def sync(self) -> int:
        """Write runs spooled while this registry was unavailable; returns how many runs were synced."""
        from seedreg.recording.writer import Recorder

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

    def replay_plan(self, ref: str | None) -> ReplayPlan:
        """What ``replay`` would run for ``ref`` (None: the newest original run)."""
        from seedreg.replay.runner import plan

        return plan(self.engine(), self.url, self.last() if ref is None else self.get(ref))

    def replay(self, ref: str | ReplayPlan | None) -> ReplayResult:
        """Re-execute a run's command with its recorded seeds and compare block by block."""
        from seedreg.replay.runner import ReplayPlan, execute

        return execute(self.engine(), self.url, ref if isinstance(ref, ReplayPlan) else self.replay_plan(ref))

    def diff(self, ref_a: str, ref_b: str) -> BlockComparison:
        """Seed, params, environment and fingerprints of two runs, compared."""
        from seedreg.replay.compare import compare_block

        return compare_block(self.get(ref_a), self.get(ref_b))
