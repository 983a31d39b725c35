"""The Python API over a registry: find, read and query runs (the CLI calls only this)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Select, func, select

from . import database, liveness, schema, values
from .errors import RegistryNotFoundError, UnknownRunError, UsageError
from .models import Environment, FingerprintRow, Param, ReplayVerdict, Run, Tag
from .query import DEFAULT_SORT, Filters, order_by, plan
from .records import EnvironmentRecord, ReplayRecord, RunRecord, aware

if TYPE_CHECKING:
    from .audit import AuditReport
    from .experiments import ExperimentSummary
    from .sql import SqlResult
    from .importer import ImportReport
    from .compare import BlockComparison
    from .replay import ReplayPlan, ReplayResult

_HEX = set("0123456789abcdef")
_BATCH = 500


def _fingerprint_from_row(row: Any):
    from .fingerprints import Fingerprint

    return Fingerprint(
        algorithm=row.algorithm,
        hexdigest=row.digest,
        kind=row.kind,
        dtype=row.dtype,
        shape=tuple(json.loads(row.shape)) if row.shape is not None else None,
        chunk_elems=row.chunk_elems,
        chunks=bytes(row.chunks) if row.chunks is not None else None,
    )


class Registry:
    """A seedreg registry: one database, any SQLAlchemy URL (default ``./seedreg.db``).

    Reading never creates a database: a missing SQLite file raises RegistryNotFoundError.
    """

    def __init__(self, url: str | os.PathLike[str] | None = None) -> None:
        self.url = database.resolve_url(url)
        self._engine_checked: Engine | None = None

    def __repr__(self) -> str:
        return f"Registry({self.display_url!r})"

    @property
    def display_url(self) -> str:
        """The URL with any password masked."""
        return database.mask_url(self.url)

    def _missing(self) -> RegistryNotFoundError:
        path = database.sqlite_path(self.url)
        return RegistryNotFoundError(
            f"no registry at {path}: record a run first, or point --db / SEEDREG_DB at an existing one"
        )

    def engine(self) -> Engine:
        """The engine of an existing registry whose schema is current (checked once)."""
        if self._engine_checked is None:
            if not database.exists(self.url):
                raise self._missing()
            engine = database.engine_for(self.url)
            schema.ensure(engine, create=False)
            self._engine_checked = engine
        return self._engine_checked

    # -- schema -------------------------------------------------------------------------

    def revision(self) -> str | None:
        """The database's schema revision (None when empty); never creates anything."""
        if not database.exists(self.url):
            raise self._missing()
        with database.engine_for(self.url).connect() as conn:
            return schema.current_revision(conn)

    def upgrade(self) -> tuple[str | None, str | None]:
        """Create or upgrade the schema to head; returns (revision before, revision after)."""
        return schema.upgrade(database.engine_for(self.url))

    # -- queries ------------------------------------------------------------------------

    def _crashed_ids(self, conn) -> list[str]:
        rows = conn.execute(
            select(Run.id, Run.hostname, Run.pid, Run.process_started, Run.heartbeat_at).where(Run.status == "running")
        )
        return [r.id for r in rows if liveness.crashed(r.hostname, r.pid, r.process_started, r.heartbeat_at)]

    def filters(self, **criteria: Any) -> Filters:
        """Validated filters (see :meth:`query.Filters.build`); ``parent`` may be an id prefix."""
        parent = criteria.pop("parent", None)
        return Filters.build(parent=self.resolve(parent) if parent else None, **criteria)

    def _select(self, conn, query: Select, filters: Filters) -> Select | None:
        """``query`` narrowed by the filters; None when no run can match (a param value nobody has)."""
        common = plan(conn, filters)
        if common is None:
            return None
        return query.where(*filters.conditions(lambda: self._crashed_ids(conn), common))

    def runs(self, *, limit: int | None = 20, offset: int = 0, sort: str = DEFAULT_SORT,
             filters: Filters | None = None, **criteria: Any) -> list[RunRecord]:
        """Runs matching every filter, newest first (``sort``); ``limit=None`` (or 0) for all.

        Filters (all combine): ``experiment``, ``status``, ``seed``, ``numpy`` (exact or a
        prefix like ``"1.26"``), ``since``/``until`` (datetime, ISO text or ``"7d"``),
        ``params``/``tags`` (a mapping of typed values, or ``"k=v"`` texts as on the command
        line), ``replays``, ``parent``, ``deleted`` (False: hide deleted runs, the default;
        True: only them; None: both), or ``filters`` built already. See :class:`seedreg.query.Filters`.
        """
        if limit is not None and limit < 0 or offset < 0:
            raise UsageError("--limit and --offset must not be negative")
        filters = filters or self.filters(**criteria)
        ordering = order_by(sort)
        with self.engine().connect() as conn:
            query = self._select(conn, select(Run.__table__), filters)
            if query is None:
                return []
            query = query.order_by(*ordering).offset(offset)
            if limit:
                query = query.limit(limit)
            rows = conn.execute(query).all()
            return self._records(conn, rows)

    def count(self, *, filters: Filters | None = None, cap: int | None = None, **criteria: Any) -> int:
        """How many runs match the filters of :meth:`runs`; with ``cap``, counting stops above it."""
        filters = filters or self.filters(**criteria)
        with self.engine().connect() as conn:
            query = self._select(conn, select(Run.id), filters)
            if query is None:
                return 0
            if cap is not None:
                query = query.limit(cap + 1)
            return int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())

    def resolve(self, ref: str) -> str:
        """The full id of the one run whose id starts with ``ref`` (like git)."""
        prefix = ref.strip().lower()
        if not prefix or not set(prefix) <= _HEX or len(prefix) > 32:
            raise UnknownRunError(f"{ref!r} is not a run id or id prefix (hex digits)")
        with self.engine().connect() as conn:
            query = select(Run.id).where(Run.id >= prefix)
            if len(prefix) < 32:
                query = query.where(Run.id < prefix + "g")
            else:
                query = query.where(Run.id == prefix)
            ids = list(conn.execute(query.order_by(Run.id).limit(6)).scalars())
        if not ids:
            raise UnknownRunError(f"no run matches {ref!r} in {self.display_url}")
        if len(ids) > 1:
            shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
            raise UnknownRunError(f"{ref!r} matches several runs ({shown}): give more characters")
        return ids[0]

    def get(self, ref: str) -> RunRecord:
        """The run whose id is ``ref`` or starts with it, with its environment."""
        run_id = self.resolve(ref)
        with self.engine().connect() as conn:
            row = conn.execute(select(Run.__table__).where(Run.id == run_id)).one()
            env = conn.execute(select(Environment.__table__).where(Environment.id == row.environment_id)).one()
            record = self._records(conn, [row])[0]
        environment = EnvironmentRecord(
            digest=env.digest, python_version=env.python_version,
            python_implementation=env.python_implementation, platform=env.platform,
            machine=env.machine, numpy_version=env.numpy_version, blas=env.blas,
            packages=json.loads(env.packages),
        )
        from dataclasses import replace

        return replace(record, environment=environment)

    def last(self) -> RunRecord:
        """The newest original run (not a replay)."""
        found = self.runs(replays=False, limit=1)
        if not found:
            raise UnknownRunError(f"{self.display_url} has no runs yet")
        return self.get(found[0].id)

    def replays_of(self, ref: str) -> list[ReplayRecord]:
        """Every stored replay verdict for a run, newest first."""
        run_id = self.resolve(ref)
        with self.engine().connect() as conn:
            rows = conn.execute(
                select(ReplayVerdict.__table__).where(ReplayVerdict.original_id == run_id)
                .order_by(ReplayVerdict.created_at.desc(), ReplayVerdict.id.desc())
            ).all()
        return [
            ReplayRecord(session=r.session, original=r.original_id, replay=r.replay_id, verdict=r.verdict,
                         created_at=aware(r.created_at), details=json.loads(r.details))
            for r in rows
        ]

    # -- at scale: summaries, raw SQL, deletion, transfer ------------------------------------

    def experiments(self) -> list[ExperimentSummary]:
        """One summary per experiment (original runs that are not deleted, and their replays' verdicts)."""
        from .experiments import summarize

        with self.engine().connect() as conn:
            return summarize(conn)

    def sql(self, statement: str) -> SqlResult:
        """Run one read-only SQL statement; the database itself refuses any write (DESIGN §3)."""
        from .sql import run_readonly

        if not database.exists(self.url):
            raise self._missing()
        return run_readonly(self.url, statement)

    def delete(self, ref: str, reason: str) -> RunRecord:
        """Hide a run from ``list`` for good, keeping its row; the deletion is chained as a tombstone."""
        from .deletion import delete

        run_id = self.resolve(ref)
        delete(self.engine(), run_id, reason)
        return self.get(run_id)

    def export(self, **criteria: Any) -> Iterator[str]:
        """JSON lines (no newline) of the runs matching the filters of :meth:`runs`, oldest first."""
        from .transfer import export_lines

        filters = self.filters(**criteria)
        with self.engine().connect() as conn:
            query = self._select(conn, select(Run.__table__), filters)
            if query is not None:
                yield from export_lines(conn, query.order_by(*order_by("started")))

    def import_(self, lines: Iterable[str | bytes], progress: Callable[[int], None] | None = None) -> ImportReport:
        """Merge exported JSON lines: new runs are written, runs already here skipped, bad lines reported.

        Creates the registry when it does not exist yet. ``progress(n)`` is called as lines are written.
        """
        from .importer import import_lines

        engine = database.engine_for(self.url)
        database.retrying(lambda: schema.ensure(engine, create=True), unreachable=False)
        self._engine_checked = engine
        return import_lines(engine, lines, progress)

    # -- checks ---------------------------------------------------------------------------

    def sync(self) -> int:
        """Write runs spooled while this registry was unavailable; returns how many runs were synced."""
        from .recorder import Recorder

        recorder = Recorder.for_url(self.url)
        synced, recorder.synced = recorder.synced, 0
        return synced + recorder.sync()

    def audit(self, refs: Sequence[str] = (), *, expect_head: str | None = None,
              progress: Callable[[int], None] | None = None) -> AuditReport:
        """Recompute record digests and the chain; with ``refs``, only those runs and their links."""
        from .audit import audit

        run_ids = [self.resolve(ref) for ref in refs] or None
        with self.engine().connect() as conn:
            return audit(conn, run_ids, expect_head=expect_head, progress=progress)

    def check_data(self, ref: str, name: str, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Compare a saved ``.npy`` file with the fingerprint a run recorded under ``name``."""
        import numpy as np

        from .compare import locate
        from .hashing import fingerprint

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
        from .replay import plan

        return plan(self, ref)

    def replay(self, ref: str | ReplayPlan | None) -> ReplayResult:
        """Re-execute a run's command with its recorded seeds and compare block by block."""
        from .replay import ReplayPlan, execute, plan

        return execute(self, ref if isinstance(ref, ReplayPlan) else plan(self, ref))

    def diff(self, ref_a: str, ref_b: str) -> BlockComparison:
        """Seed, params, environment and fingerprints of two runs, compared."""
        from .compare import compare_block

        return compare_block(self.get(ref_a), self.get(ref_b))

    # -- row conversion -----------------------------------------------------------------

    def _records(self, conn, rows: Sequence[Any]) -> list[RunRecord]:
        ids = [row.id for row in rows]
        params = self._values(conn, Param, ids)
        tags = self._values(conn, Tag, ids)
        fingerprints: dict[str, dict[str, Any]] = {run_id: {} for run_id in ids}
        for batch in _batches(ids):
            query = select(FingerprintRow.__table__).where(FingerprintRow.run_id.in_(batch))
            for fp in conn.execute(query.order_by(FingerprintRow.run_id, FingerprintRow.seq)):
                fingerprints[fp.run_id][fp.name] = _fingerprint_from_row(fp)
        running = [row for row in rows if row.status == "running"]
        crashed = {r.id for r in running if liveness.crashed(r.hostname, r.pid, r.process_started, r.heartbeat_at)}
        return [
            _record(row, params.get(row.id, {}), tags.get(row.id, {}), fingerprints[row.id], row.id in crashed)
            for row in rows
        ]

    @staticmethod
    def _values(conn, table, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for batch in _batches(ids):
            query = select(table.run_id, table.key, table.value_type, table.text).where(table.run_id.in_(batch))
            for run_id, key, value_type, text in conn.execute(query.order_by(table.run_id, table.key)):
                found.setdefault(run_id, {})[key] = values.decode(value_type, text)
        return found


def _batches(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), _BATCH):
        yield ids[start : start + _BATCH]


def _record(row: Any, params: dict, tags: dict, fingerprints: dict, crashed: bool) -> RunRecord:
    seed_text: str = row.seed
    seed: int | tuple[int, ...] = (
        tuple(int(p) for p in json.loads(seed_text)) if seed_text.startswith("[") else int(seed_text)
    )
    return RunRecord(
        id=row.id, experiment=row.experiment, status="crashed" if crashed else row.status,
        seed=seed, seed_kind=row.seed_kind, seed_source=row.seed_source,
        spawn_key=tuple(json.loads(row.spawn_key)), parent=row.parent_id, replay_of=row.replay_of,
        block_index=row.block_index, started_at=aware(row.started_at), ended_at=aware(row.ended_at),
        duration=row.duration, heartbeat_at=aware(row.heartbeat_at), error=row.error,
        rng_digest=row.rng_digest, numpy_version=row.numpy_version, python_version=row.python_version,
        libraries=json.loads(row.libraries), hostname=row.hostname, username=row.username, pid=row.pid,
        process_started=row.process_started, executable=row.executable, argv=json.loads(row.argv),
        command=json.loads(row.command) if row.command else None, cwd=row.cwd, launch=row.launch,
        script_path=row.script_path, script_digest=row.script_digest, pythonhashseed=row.pythonhashseed,
        git_commit=row.git_commit, git_dirty=row.git_dirty,
        replay_session=row.replay_session, generator_used=row.generator_used,
        seeders=json.loads(row.seeders) if row.seeders else None,
        deleted_at=aware(row.deleted_at), deleted_reason=row.deleted_reason,
        params=params, tags=tags, fingerprints=fingerprints,
    )
