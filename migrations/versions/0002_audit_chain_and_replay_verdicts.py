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
    from seedreg.integrity import chain

    chain.link_unchained(op.get_bind())



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
