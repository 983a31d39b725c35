"""Audit chain (chain, chain_head), replay verdicts (replays), runs.replay_session/generator_used.

Runs already closed are chained in the order they ended, so an upgraded registry audits clean.

Revision ID: 0002
Revises: 0001

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


# -- a frozen copy of the version-1 record and link, as they were when this revision was written:
# -- a migration must not change when seedreg's chain code does.

_RECORD_FIELDS = (
    "id", "experiment", "status", "seed", "seed_kind", "seed_source", "spawn_key", "parent_id",
    "replay_of", "replay_session", "block_index", "started_at", "ended_at", "duration", "error",
    "rng_digest", "generator_used", "numpy_version", "python_version", "libraries", "hostname",
    "username", "pid", "process_started", "executable", "argv", "command", "cwd", "launch",
    "script_path", "script_digest", "pythonhashseed", "git_commit", "git_dirty",
)
_FP_FIELDS = ("name", "seq", "algorithm", "digest", "kind", "dtype", "shape", "chunk_elems", "chunks", "kept")


def _record_digest_v1(run, environment, params, tags, fingerprints) -> str:
    import json

    import blake3

    fields = {name: run[name] for name in _RECORD_FIELDS}
    for name in ("started_at", "ended_at"):
        if fields[name] is not None:
            fields[name] = fields[name].isoformat(timespec="microseconds")
    fps = []
    for fp in fingerprints:
        item = [fp[name] for name in _FP_FIELDS]
        if item[8] is not None:
            item[8] = blake3.blake3(bytes(item[8])).hexdigest()
        fps.append(item)
    record = {"run": fields, "environment": environment, "params": sorted(params), "tags": sorted(tags),
              "fingerprints": sorted(fps, key=lambda item: item[0])}
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)
    return "blake3:" + blake3.blake3(b"seedreg-record/1\x00" + text.encode()).hexdigest()


def _environment_v1(env) -> str:
    """The environment digest as a version-1 record holds it: the stored digest, marked when the
    row's fields no longer give it."""
    import json

    import blake3

    if env["digest"] is None:
        return ""
    try:
        packages = json.dumps(json.loads(env["packages"]), sort_keys=True, separators=(",", ":"))
        parts = [env["python_version"], env["python_implementation"], env["platform"], env["machine"],
                 env["numpy_version"] or "", env["blas"] or "", packages]
        recomputed = blake3.blake3("\x00".join(parts).encode()).hexdigest()
    except (TypeError, ValueError):
        recomputed = "unreadable"
    return env["digest"] if recomputed == env["digest"] else f"{env['digest']} (its fields give {recomputed})"


def _link_unchained(conn) -> None:
    """Chain the runs closed before the chain existed, in the order they ended (version-1 records)."""
    from datetime import datetime, timezone

    import blake3

    typed = {"started_at": sa.DateTime(), "ended_at": sa.DateTime(), "generator_used": sa.Boolean(),
             "git_dirty": sa.Boolean(), "kept": sa.Boolean()}  # converted as the models of 0002 did
    runs_t = sa.table("runs", *(sa.column(c, typed.get(c)) for c in (*_RECORD_FIELDS, "environment_id")))
    env_fields = ("digest", "python_version", "python_implementation", "platform", "machine", "numpy_version",
                  "blas", "packages")
    env_t = sa.table("environments", sa.column("id"), *(sa.column(c) for c in env_fields))
    fps_t = sa.table("fingerprints", sa.column("run_id"), *(sa.column(c, typed.get(c)) for c in _FP_FIELDS))
    runs = conn.execute(
        sa.select(runs_t, *(env_t.c[c].label(f"env_{c}") for c in env_fields))
        .select_from(runs_t.outerjoin(env_t, env_t.c.id == runs_t.c.environment_id))
        .where(runs_t.c.status.in_(("completed", "failed", "interrupted")))
        .order_by(runs_t.c.ended_at, runs_t.c.id)).mappings().all()
    head, seq = "", 0
    chain = sa.table("chain", *(sa.column(c) for c in (
        "seq", "run_id", "record_digest", "link_digest", "record_version", "imported", "linked_at")))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for run in runs:
        values = {}
        for table in ("params", "tags"):
            values[table] = [list(r) for r in conn.execute(sa.text(
                f"SELECT key, value_type, text FROM {table} WHERE run_id = :id"), {"id": run["id"]})]
        fps = conn.execute(sa.select(fps_t).where(fps_t.c.run_id == run["id"])).mappings().all()
        env = {c: run[f"env_{c}"] for c in env_fields}
        digest = _record_digest_v1(run, _environment_v1(env), values["params"], values["tags"], fps)
        seq += 1
        head = "blake3:" + blake3.blake3(f"seedreg-link/1\x00{head}\x00{digest}".encode()).hexdigest()
        conn.execute(chain.insert().values(seq=seq, run_id=run["id"], record_digest=digest, link_digest=head,
                                           record_version=1, imported=False, linked_at=now))
    conn.execute(sa.text("UPDATE chain_head SET count = :count, head = :head WHERE id = 1"),
                 {"count": seq, "head": head})


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('chain',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('record_digest', sa.String(length=80), nullable=False),
    sa.Column('link_digest', sa.String(length=80), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.Column('imported', sa.Boolean(), nullable=False),
    sa.Column('linked_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('run_id')
    )
    op.create_table('chain_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('head', sa.String(length=80), nullable=False),
    sa.CheckConstraint('id = 1', name='ck_chain_head_single_row'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('replays',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('session', sa.String(length=32), nullable=False),
    sa.Column('original_id', sa.String(length=32), nullable=True),
    sa.Column('replay_id', sa.String(length=32), nullable=True),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("verdict IN ('identical', 'different', 'missing', 'extra')", name='ck_replays_verdict'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('replays', schema=None) as batch_op:
        batch_op.create_index('ix_replays_original_id', ['original_id'], unique=False)
        batch_op.create_index('ix_replays_session', ['session'], unique=False)

    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replay_session', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('generator_used', sa.Boolean(), nullable=True))
        batch_op.create_index('ix_runs_replay_session', ['replay_session'], unique=False)

    head = sa.table("chain_head", sa.column("id"), sa.column("count"), sa.column("head"))
    op.bulk_insert(head, [{"id": 1, "count": 0, "head": ""}])
    _link_unchained(op.get_bind())



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_replay_session')
        batch_op.drop_column('generator_used')
        batch_op.drop_column('replay_session')

    with op.batch_alter_table('replays', schema=None) as batch_op:
        batch_op.drop_index('ix_replays_session')
        batch_op.drop_index('ix_replays_original_id')

    op.drop_table('replays')
    op.drop_table('chain_head')
    op.drop_table('chain')
