"""The registry's tables as SQLAlchemy Core ``Table`` objects (the schema itself is owned by Alembic).

Times are stored as naive UTC datetimes on every backend. Core, not the ORM: seedreg reads rows
into the plain records of :mod:`seedreg.records` and never needs mapped objects, and importing the
ORM with declarative classes cost a read-only command about a third of its start.

The indexes are declared by :func:`schema_metadata` only (Alembic's comparison and the schema
tests need them; queries do not): their partial ``postgresql_where`` loads the PostgreSQL dialect.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from seedreg.db.vocabulary import LINK_KINDS, SEED_KINDS, SEED_SOURCES, STATUSES, VALUE_TYPES, VERDICTS

#: Original runs (not replays) that are not deleted: what ``experiments`` summarizes.
ORIGINAL_RUNS = "deleted_at IS NULL AND coalesce(replay_of, replay_session) IS NULL"

metadata = MetaData()


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK that ``column`` holds one of ``values``, as ORed equalities (migration 0005).

    Not ``IN (...)``: SQLite builds a temporary index of such a list for every row it
    inserts, which made those checks the largest single cost of a bulk import.
    """
    return " OR ".join(f"{column} = '{value}'" for value in values)


def _required(name: str, *args: Any, **kw: Any) -> Column:
    return Column(name, *args, nullable=False, **kw)


def _optional(name: str, *args: Any, **kw: Any) -> Column:
    return Column(name, *args, nullable=True, **kw)


#: One distinct environment (interpreter, platform, installed packages), shared by many runs.
environment_table = Table(
    "environments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _required("digest", String(64), unique=True),
    _required("python_version", String(64)),
    _required("python_implementation", String(32)),
    _required("platform", String(255)),
    _required("machine", String(64)),
    _optional("numpy_version", String(64)),
    _optional("blas", String(255)),
    _required("packages", Text),  # JSON object {distribution: version}, sorted
    _required("created_at", DateTime()),
)

#: One with-block: its seed, where it ran, what it was, how it ended.
run_table = Table(
    "runs", metadata,
    Column("id", String(32), primary_key=True),
    _required("experiment", String(255)),
    _required("status", String(16)),
    _required("seed", String(512)),  # decimal entropy, or JSON array of decimal strings
    _required("seed_kind", String(16)),
    _required("seed_source", String(16)),
    _required("spawn_key", String(255), default="[]"),  # JSON array of ints
    _optional("parent_id", String(32), ForeignKey("runs.id", name="fk_runs_parent_id")),
    _optional("replay_of", String(32), ForeignKey("runs.id", name="fk_runs_replay_of")),
    _required("block_index", Integer),  # k-th root block of its process (children: -1)
    _required("started_at", DateTime()),
    _optional("ended_at", DateTime()),
    _optional("duration", Float),
    _optional("heartbeat_at", DateTime()),
    _optional("error", Text),
    _optional("rng_digest", String(80)),
    _required("environment_id", Integer, ForeignKey("environments.id", name="fk_runs_environment_id")),
    _optional("numpy_version", String(64)),
    _required("python_version", String(64)),
    _required("libraries", Text, default="{}"),  # JSON {lib: version} of imported seedable libs
    _required("hostname", String(255)),
    _optional("username", String(255)),
    _required("pid", Integer),
    _optional("process_started", Float),  # epoch seconds; with pid, names the process
    _required("executable", Text),
    _required("argv", Text),  # JSON array: sys.argv as the code saw it
    _optional("command", Text),  # JSON array: sys.orig_argv, what replay re-executes
    _required("cwd", Text),
    _required("launch", String(16)),  # script | module | interactive
    _optional("script_path", Text),
    _optional("script_digest", String(80)),
    _optional("pythonhashseed", String(32)),
    _optional("git_commit", String(64)),
    _optional("git_dirty", Boolean),
    _optional("replay_session", String(32)),  # the `seedreg replay` that made it
    _optional("generator_used", Boolean),  # whether run.rng drew anything
    _optional("seeders", Text),  # JSON: library seeders applied/failed, RNG libraries not seeded
    _optional("deleted_at", DateTime()),  # `seedreg delete`: hidden, never erased
    _optional("deleted_reason", Text),
    _optional("notebook", Text),  # JSON: a notebook run's path, digest, kernel, cell, order (0006)
    _optional("invocation", Text),  # JSON: a test's pytest session: args, rootdir, cwd (0006)
    CheckConstraint(one_of("status", STATUSES), name="ck_runs_status"),
    CheckConstraint(one_of("seed_source", SEED_SOURCES), name="ck_runs_seed_source"),
    CheckConstraint(one_of("seed_kind", SEED_KINDS), name="ck_runs_seed_kind"),
)


def _value_table(name: str) -> Table:
    """Params or tags: a run's flattened key (nested dicts joined with dots) and its typed value."""
    return Table(
        name, metadata,
        Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        Column("key", String(255), primary_key=True),
        _required("value_type", String(8)),
        _required("text", Text),  # exact, canonical text of the value
        _optional("num", Float),  # finite numbers, for numeric comparison
        CheckConstraint(one_of("value_type", VALUE_TYPES), name=f"ck_{name}_value_type"),
    )


#: A run's parameters and its tags.
param_table = _value_table("params")
tag_table = _value_table("tags")

#: A fingerprint logged by a run under a name, with its per-chunk digests.
fingerprint_table = Table(
    "fingerprints", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(255), primary_key=True),
    _required("seq", Integer),  # order of logging within the run
    _required("algorithm", String(16)),
    _required("digest", String(128)),  # hex
    _required("kind", String(16)),
    _optional("dtype", String(64)),
    _optional("shape", String(255)),  # JSON array
    _optional("chunk_elems", Integer),
    _optional("chunks", LargeBinary),  # concatenated 32-byte chunk digests
    _required("kept", Boolean, default=False),
    _required("logged_at", DateTime()),
)

#: A real number a run logged, beside its fingerprint (0006): ``text`` exact (``repr`` as logged),
#: ``num`` the finite value as a float for aggregation (NULL for NaN and infinities).
result_table = Table(
    "results", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE", name="fk_results_run_id"),
           primary_key=True),
    Column("name", String(255), primary_key=True),
    _required("value_type", String(16)),  # int, float, bool or a NumPy dtype
    _required("text", String(64)),
    _optional("num", Float),
)

#: One ``seedreg sweep``: the command it runs once per seed, where, and on what (0007).
sweep_table = Table(
    "sweeps", metadata,
    Column("id", String(32), primary_key=True),
    _required("command", Text),  # JSON array: COMMAND [ARG]...
    _required("cwd", Text),
    _required("spec", String(255)),  # --seeds as given
    _required("executor", String(255)),  # "local" or "dask <address>"
    _required("created_at", DateTime()),
)

#: A seed of a sweep: its last process's exit code and the runs it recorded; NULL until it ends (0007).
sweep_seed_table = Table(
    "sweep_seeds", metadata,
    Column("sweep_id", String(32), ForeignKey("sweeps.id", ondelete="CASCADE", name="fk_sweep_seeds_sweep_id"),
           primary_key=True),
    Column("seed", String(40), primary_key=True),  # decimal
    _required("position", Integer),  # order in the sweep's seeds
    _optional("returncode", Integer),
    _optional("runs", Text),  # JSON array: ids of the runs its last process recorded
    _required("attempts", Integer),
    _optional("ended_at", DateTime()),
)

#: A link of the tamper-evident chain: a closed run's record, or a run's deletion (tombstone).
#: No foreign key to runs on purpose: a run deleted behind seedreg's back leaves its link, which
#: is how ``audit`` finds it. A run has at most one link of each kind.
chain_table = Table(
    "chain", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    _required("run_id", String(32)),
    _required("kind", String(16), server_default="record"),  # record | tombstone
    _required("record_digest", String(80)),
    _required("link_digest", String(80)),
    _required("record_version", Integer),  # which canonical form the record digest uses
    _required("imported", Boolean, default=False),
    _required("linked_at", DateTime()),
    CheckConstraint(one_of("kind", LINK_KINDS), name="ck_chain_kind"),
    UniqueConstraint("run_id", "kind", name="uq_chain_run_id_kind"),
)

#: The chain's head (one row): so deleting the newest link is caught too.
chain_head_table = Table(
    "chain_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    _required("count", Integer),
    _required("head", String(80)),
    CheckConstraint("id = 1", name="ck_chain_head_single_row"),
)

#: What one `seedreg replay` found for one original block (the chained runs stay untouched).
replay_table = Table(
    "replays", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _required("session", String(32)),
    _optional("original_id", String(32)),
    _optional("replay_id", String(32)),
    _required("verdict", String(16)),
    _required("details", Text),  # JSON: per output, rng digest, status, environment
    _required("created_at", DateTime()),
    CheckConstraint(one_of("verdict", VERDICTS), name="ck_replays_verdict"),
)


def _partial(name: str, *columns: str, where: str, table: Table) -> Index:
    """An index over the rows matching ``where`` only, on SQLite and PostgreSQL alike."""
    return Index(name, *(table.c[c] for c in columns), sqlite_where=text(where), postgresql_where=text(where))


def _declare_indexes() -> None:
    runs = run_table
    Index("ix_runs_started_at", runs.c.started_at)
    # Covering the experiment filter of `list` in its order, deleted runs included (0004).
    Index("ix_runs_experiment_order", runs.c.experiment, runs.c.started_at, runs.c.id, runs.c.deleted_at)
    # Covering `experiments`: the original runs that are not deleted (0004).
    _partial("ix_runs_summary", "experiment", "seed", "status", "numpy_version", "started_at",
             where=ORIGINAL_RUNS, table=runs)
    Index("ix_runs_seed", runs.c.seed)
    # `seeds`: an experiment's original runs in id order, covered (0008, replacing 0007's ix_runs_same_seed).
    _partial("ix_runs_seeds_scope", "experiment", "id", "status", "seed", "spawn_key", "script_digest",
             "environment_id", "deleted_at", "replay_of", "replay_session", where=ORIGINAL_RUNS, table=runs)
    Index("ix_runs_status", runs.c.status)
    Index("ix_runs_numpy_version", runs.c.numpy_version)
    # Most runs are neither children nor replays: those indexes leave NULL out (0005).
    for column in ("parent_id", "replay_of", "replay_session"):
        _partial(f"ix_runs_{column}", column, where=f"{column} IS NOT NULL", table=runs)
    # Params and tags looked up by number (numbers only) and by exact text (the rest) (0005). On
    # PostgreSQL the text index is a hash of the text alone, and ix_params_run_values has no text
    # (0009): a btree entry holds at most 2,704 bytes, and a param's text may be longer.
    for values in (param_table, tag_table):
        _partial(f"ix_{values.name}_key_num", "key", "num", where="num IS NOT NULL", table=values)
        _partial(f"ix_{values.name}_key_text", "key", "text", where="num IS NULL", table=values)
    Index("ix_results_name_num", result_table.c.name, result_table.c.num)
    Index("ix_results_run_values", result_table.c.run_id, result_table.c.name, result_table.c.num)  # `seeds` (0007)
    # `seeds`: a run's params with their values from this index alone (0008).
    Index("ix_params_run_values", param_table.c.run_id, param_table.c.key, param_table.c.value_type,
          param_table.c.num, param_table.c.text)
    # `seeds`: runs that should agree compare their digests per name from this index alone (0008).
    Index("ix_fingerprints_run_digest", fingerprint_table.c.run_id, fingerprint_table.c.name,
          fingerprint_table.c.algorithm, fingerprint_table.c.digest)
    Index("ix_replays_original_id", replay_table.c.original_id)
    Index("ix_replays_session", replay_table.c.session)


def schema_metadata() -> MetaData:
    """The tables with every index the migrations create: what Alembic compares a database with (the
    SQLite form: on PostgreSQL the three indexes that hold a param's or tag's text differ, see 0009)."""
    if not run_table.indexes:
        _declare_indexes()
    return metadata
