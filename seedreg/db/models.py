"""SQLAlchemy models: the registry's tables (the schema itself is owned by Alembic).

Times are stored as naive UTC datetimes on every backend.

ORM objects never leave the store: :mod:`seedreg.registry` turns rows into the plain
records of :mod:`seedreg.records`.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from seedreg.db.vocabulary import LINK_KINDS, SEED_KINDS, SEED_SOURCES, STATUSES, VALUE_TYPES, VERDICTS

#: Original runs (not replays) that are not deleted: what ``experiments`` summarizes.
ORIGINAL_RUNS = "deleted_at IS NULL AND coalesce(replay_of, replay_session) IS NULL"


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK that ``column`` holds one of ``values``, as ORed equalities (migration 0005).

    Not ``IN (...)``: SQLite builds a temporary index of such a list for every row it
    inserts, which made those checks the largest single cost of a bulk import.
    """
    return " OR ".join(f"{column} = '{value}'" for value in values)


class Base(DeclarativeBase):
    """Declarative base of every seedreg table."""

    # Every model maps a plain Table (SQLAlchemy types ``__table__`` as any FromClause).
    __table__: ClassVar[Table]


class Environment(Base):
    """One distinct environment (interpreter, platform, installed packages), shared by many runs."""

    __tablename__ = "environments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    python_version: Mapped[str] = mapped_column(String(64))
    python_implementation: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(255))
    machine: Mapped[str] = mapped_column(String(64))
    numpy_version: Mapped[str | None] = mapped_column(String(64))
    blas: Mapped[str | None] = mapped_column(String(255))
    packages: Mapped[str] = mapped_column(Text)  # JSON object {distribution: version}, sorted
    created_at: Mapped[datetime] = mapped_column(DateTime())


class RunRow(Base):
    """One with-block: its seed, where it ran, what it was, how it ended."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="ck_runs_status"),
        CheckConstraint(one_of("seed_source", SEED_SOURCES), name="ck_runs_seed_source"),
        CheckConstraint(one_of("seed_kind", SEED_KINDS), name="ck_runs_seed_kind"),
        Index("ix_runs_started_at", "started_at"),
        # Covering the experiment filter of `list` in its order, deleted runs included (0004).
        Index("ix_runs_experiment_order", "experiment", "started_at", "id", "deleted_at"),
        # Covering `experiments`: the original runs that are not deleted (0004).
        Index("ix_runs_summary", "experiment", "seed", "status", "numpy_version", "started_at",
              sqlite_where=text(ORIGINAL_RUNS), postgresql_where=text(ORIGINAL_RUNS)),
        Index("ix_runs_seed", "seed"),
        # `seeds`: an experiment's original runs, covered, runs that should agree side by side (0007).
        Index("ix_runs_same_seed", "experiment", "seed", "spawn_key", "script_digest", "environment_id", "status",
              "id", sqlite_where=text(ORIGINAL_RUNS), postgresql_where=text(ORIGINAL_RUNS)),
        Index("ix_runs_status", "status"),
        Index("ix_runs_numpy_version", "numpy_version"),
        # Most runs are neither children nor replays: those indexes leave NULL out (0005).
        *(Index(f"ix_runs_{column}", column, sqlite_where=text(f"{column} IS NOT NULL"),
                postgresql_where=text(f"{column} IS NOT NULL"))
          for column in ("parent_id", "replay_of", "replay_session")),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    experiment: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    seed: Mapped[str] = mapped_column(String(512))  # decimal entropy, or JSON array of decimal strings
    seed_kind: Mapped[str] = mapped_column(String(16))
    seed_source: Mapped[str] = mapped_column(String(16))
    spawn_key: Mapped[str] = mapped_column(String(255), default="[]")  # JSON array of ints
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", name="fk_runs_parent_id"))
    replay_of: Mapped[str | None] = mapped_column(ForeignKey("runs.id", name="fk_runs_replay_of"))
    block_index: Mapped[int] = mapped_column(Integer)  # k-th root block of its process (children: -1)
    started_at: Mapped[datetime] = mapped_column(DateTime())
    ended_at: Mapped[datetime | None] = mapped_column(DateTime())
    duration: Mapped[float | None] = mapped_column(Float)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime())
    error: Mapped[str | None] = mapped_column(Text)
    rng_digest: Mapped[str | None] = mapped_column(String(80))
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", name="fk_runs_environment_id")
    )
    numpy_version: Mapped[str | None] = mapped_column(String(64))
    python_version: Mapped[str] = mapped_column(String(64))
    libraries: Mapped[str] = mapped_column(Text, default="{}")  # JSON {lib: version} of imported seedable libs
    hostname: Mapped[str] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    process_started: Mapped[float | None] = mapped_column(Float)  # epoch seconds; with pid, names the process
    executable: Mapped[str] = mapped_column(Text)
    argv: Mapped[str] = mapped_column(Text)  # JSON array: sys.argv as the code saw it
    command: Mapped[str | None] = mapped_column(Text)  # JSON array: sys.orig_argv, what replay re-executes
    cwd: Mapped[str] = mapped_column(Text)
    launch: Mapped[str] = mapped_column(String(16))  # script | module | interactive
    script_path: Mapped[str | None] = mapped_column(Text)
    script_digest: Mapped[str | None] = mapped_column(String(80))
    pythonhashseed: Mapped[str | None] = mapped_column(String(32))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    git_dirty: Mapped[bool | None] = mapped_column(Boolean)
    replay_session: Mapped[str | None] = mapped_column(String(32))  # the `seedreg replay` that made it
    generator_used: Mapped[bool | None] = mapped_column(Boolean)  # whether run.rng drew anything
    seeders: Mapped[str | None] = mapped_column(Text)  # JSON: library seeders applied/failed, RNG libraries not seeded
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime())  # `seedreg delete`: hidden, never erased
    deleted_reason: Mapped[str | None] = mapped_column(Text)
    notebook: Mapped[str | None] = mapped_column(Text)  # JSON: a notebook run's path, digest, kernel, cell, order (0006)
    invocation: Mapped[str | None] = mapped_column(Text)  # JSON: a test's pytest session: args, rootdir, cwd (0006)


def _value_indexes(table: str) -> tuple[Index, Index]:
    """Params or tags looked up by number (numbers only) and by exact text (the rest) (0005)."""
    numbers, others = text("num IS NOT NULL"), text("num IS NULL")
    return (Index(f"ix_{table}_key_num", "key", "num", sqlite_where=numbers, postgresql_where=numbers),
            Index(f"ix_{table}_key_text", "key", "text", sqlite_where=others, postgresql_where=others))


class _Value:
    """Columns shared by params and tags: a flattened key and its typed value."""

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value_type: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)  # exact, canonical text of the value
    num: Mapped[float | None] = mapped_column(Float)  # finite numbers, for numeric comparison


class Param(_Value, Base):
    """A run's parameter (nested dicts flattened with dots)."""

    __tablename__ = "params"
    __table_args__ = (
        CheckConstraint(one_of("value_type", VALUE_TYPES), name="ck_params_value_type"),
        *_value_indexes("params"),
    )


class Tag(_Value, Base):
    """A run's tag (nested dicts flattened with dots)."""

    __tablename__ = "tags"
    __table_args__ = (
        CheckConstraint(one_of("value_type", VALUE_TYPES), name="ck_tags_value_type"),
        *_value_indexes("tags"),
    )


class FingerprintRow(Base):
    """A fingerprint logged by a run under a name, with its per-chunk digests."""

    __tablename__ = "fingerprints"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)  # order of logging within the run
    algorithm: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(128))  # hex
    kind: Mapped[str] = mapped_column(String(16))
    dtype: Mapped[str | None] = mapped_column(String(64))
    shape: Mapped[str | None] = mapped_column(String(255))  # JSON array
    chunk_elems: Mapped[int | None] = mapped_column(Integer)
    chunks: Mapped[bytes | None] = mapped_column(LargeBinary)  # concatenated 32-byte chunk digests
    kept: Mapped[bool] = mapped_column(Boolean, default=False)
    logged_at: Mapped[datetime] = mapped_column(DateTime())


class Result(Base):
    """A real number a run logged, kept as a value beside its fingerprint (0006).

    ``text`` is exact (``repr`` of the value as logged); ``num`` the finite value as a float for
    aggregation, NULL for NaN and infinities; ``value_type`` ``int``/``float``/``bool`` or a NumPy dtype.
    """

    __tablename__ = "results"
    __table_args__ = (Index("ix_results_name_num", "name", "num"),
                      Index("ix_results_run_values", "run_id", "name", "num"))  # covering `seeds` (0007)

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE", name="fk_results_run_id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value_type: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(String(64))
    num: Mapped[float | None] = mapped_column(Float)


class Sweep(Base):
    """One ``seedreg sweep``: the command it runs once per seed, where, and on what (0007)."""

    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    command: Mapped[str] = mapped_column(Text)  # JSON array: COMMAND [ARG]...
    cwd: Mapped[str] = mapped_column(Text)
    spec: Mapped[str] = mapped_column(String(255))  # --seeds as given
    executor: Mapped[str] = mapped_column(String(255))  # "local" or "dask <address>"
    created_at: Mapped[datetime] = mapped_column(DateTime())


class SweepSeed(Base):
    """A seed of a sweep: its last process's exit code and the runs it recorded; NULL until it ends (0007)."""

    __tablename__ = "sweep_seeds"

    sweep_id: Mapped[str] = mapped_column(
        ForeignKey("sweeps.id", ondelete="CASCADE", name="fk_sweep_seeds_sweep_id"), primary_key=True)
    seed: Mapped[str] = mapped_column(String(40), primary_key=True)  # decimal
    position: Mapped[int] = mapped_column(Integer)  # order in the sweep's seeds
    returncode: Mapped[int | None] = mapped_column(Integer)
    runs: Mapped[str | None] = mapped_column(Text)  # JSON array: ids of the runs its last process recorded
    attempts: Mapped[int] = mapped_column(Integer)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime())


class ChainLink(Base):
    """A link of the tamper-evident chain: a closed run's record, or a run's deletion (tombstone).

    No foreign key to runs on purpose: a run deleted behind seedreg's back leaves its link,
    which is how ``audit`` finds it. A run has at most one link of each kind.
    """

    __tablename__ = "chain"
    __table_args__ = (
        CheckConstraint(one_of("kind", LINK_KINDS), name="ck_chain_kind"),
        UniqueConstraint("run_id", "kind", name="uq_chain_run_id_kind"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    run_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), server_default="record")  # record | tombstone
    record_digest: Mapped[str] = mapped_column(String(80))
    link_digest: Mapped[str] = mapped_column(String(80))
    record_version: Mapped[int] = mapped_column(Integer)  # which canonical form the record digest uses
    imported: Mapped[bool] = mapped_column(Boolean, default=False)
    linked_at: Mapped[datetime] = mapped_column(DateTime())


class ChainHead(Base):
    """The chain's head (one row): so deleting the newest link is caught too."""

    __tablename__ = "chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="ck_chain_head_single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer)
    head: Mapped[str] = mapped_column(String(80))


class ReplayVerdict(Base):
    """What one `seedreg replay` found for one original block (the chained runs stay untouched)."""

    __tablename__ = "replays"
    __table_args__ = (
        CheckConstraint(one_of("verdict", VERDICTS), name="ck_replays_verdict"),
        Index("ix_replays_original_id", "original_id"),
        Index("ix_replays_session", "session"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session: Mapped[str] = mapped_column(String(32))
    original_id: Mapped[str | None] = mapped_column(String(32))
    replay_id: Mapped[str | None] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(16))
    details: Mapped[str] = mapped_column(Text)  # JSON: per output, rng digest, status, environment
    created_at: Mapped[datetime] = mapped_column(DateTime())
