"""Deletion and query at scale: runs.deleted_at/deleted_reason, tombstone links, covering indexes.

A run deleted with ``seedreg delete`` keeps its row (hidden from ``list``); the deletion is a
chain link of kind ``tombstone``, so a run now has up to two links: ``chain.run_id`` is unique
per (run_id, kind). Existing links are records. Record digests do not change.

Indexes: on a million-run registry, `list --experiment E ...` walks a covering index of the
experiment in order (it replaces ix_runs_experiment_started_at, which it extends), and
`experiments` reads one covering, partial index of the original runs that are not deleted.

Revision ID: 0004
Revises: 0003

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ORIGINAL_RUNS = "deleted_at IS NULL AND coalesce(replay_of, replay_session) IS NULL"
# Indexes replaced: (table, old name, old columns, new name, new columns).
INDEXES = [
    ("runs", "ix_runs_experiment_started_at", ["experiment", "started_at"],
     "ix_runs_experiment_order", ["experiment", "started_at", "id", "deleted_at"]),
]

# 0002 left the unique constraint on chain.run_id unnamed: name it so batch mode can drop it.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _run_id_unique_name() -> str:
    """The name the database gave 0002's unique constraint on chain.run_id."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints("chain"):
        if constraint["column_names"] == ["run_id"] and constraint.get("name"):
            return constraint["name"]
    return "uq_chain_run_id"


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('deleted_reason', sa.Text(), nullable=True))

    name = _run_id_unique_name()
    with op.batch_alter_table('chain', schema=None, naming_convention=_NAMING) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='record', nullable=False))
        batch_op.drop_constraint(name, type_='unique')
        batch_op.create_unique_constraint('uq_chain_run_id_kind', ['run_id', 'kind'])
        batch_op.create_check_constraint('ck_chain_kind', "kind IN ('record', 'tombstone')")

    for table, old, _, new, columns in INDEXES:
        op.drop_index(old, table_name=table)
        op.create_index(new, table, columns)
    op.create_index('ix_runs_summary', 'runs', ['experiment', 'seed', 'status', 'numpy_version', 'started_at'],
                    sqlite_where=sa.text(ORIGINAL_RUNS), postgresql_where=sa.text(ORIGINAL_RUNS))


def downgrade() -> None:
    """Downgrade schema; refused while deletions are chained (the old schema cannot hold them)."""
    tombstones = op.get_bind().execute(sa.text("SELECT count(*) FROM chain WHERE kind = 'tombstone'")).scalar()
    if tombstones:
        raise RuntimeError(f"cannot downgrade below 0004: {tombstones} deletion(s) are links of the audit chain")
    op.drop_index('ix_runs_summary', table_name='runs')
    for table, old, old_columns, new, _ in INDEXES:
        op.drop_index(new, table_name=table)
        op.create_index(old, table, old_columns)
    with op.batch_alter_table('chain', schema=None) as batch_op:
        batch_op.drop_constraint('ck_chain_kind', type_='check')
        batch_op.drop_constraint('uq_chain_run_id_kind', type_='unique')
        batch_op.create_unique_constraint('uq_chain_run_id', ['run_id'])
        batch_op.drop_column('kind')

    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('deleted_reason')
        batch_op.drop_column('deleted_at')
