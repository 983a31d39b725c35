"""Seeds as a dimension: an index for "same seed, different data", and what a sweep is.

- ``ix_runs_same_seed``: original runs (not replays, not deleted) by experiment, seed, spawn key,
  script digest and environment, then status and id. ``seedreg seeds`` reads an experiment's runs
  from it without touching the table (it covers them), already in the order that puts runs which
  should have given identical data next to each other.
- ``ix_results_run_values``: a run's results with their numbers, so the statistics of ``seeds`` read
  them from the index alone.
- ``sweeps``: one row per ``seedreg sweep`` (its command, where it ran, how), so ``seeds --sweep``
  finds a sweep by id or prefix even when no seed recorded a block, and ``sweep --retry`` knows
  what to run again; ``sweep_seeds``: each seed of a sweep, its last process's exit code and the
  ids of the runs that process recorded (NULL until that process ends).

Revision ID: 0007
Revises: 0006

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ORIGINAL_RUNS = "deleted_at IS NULL AND coalesce(replay_of, replay_session) IS NULL"


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index('ix_runs_same_seed', 'runs',
                    ['experiment', 'seed', 'spawn_key', 'script_digest', 'environment_id', 'status', 'id'],
                    sqlite_where=sa.text(ORIGINAL_RUNS), postgresql_where=sa.text(ORIGINAL_RUNS))
    op.create_index('ix_results_run_values', 'results', ['run_id', 'name', 'num'])
    op.create_table('sweeps',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('command', sa.Text(), nullable=False),
    sa.Column('cwd', sa.Text(), nullable=False),
    sa.Column('spec', sa.String(length=255), nullable=False),
    sa.Column('executor', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('sweep_seeds',
    sa.Column('sweep_id', sa.String(length=32), nullable=False),
    sa.Column('seed', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('returncode', sa.Integer(), nullable=True),
    sa.Column('runs', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['sweep_id'], ['sweeps.id'], name='fk_sweep_seeds_sweep_id', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sweep_id', 'seed')
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('sweep_seeds')
    op.drop_table('sweeps')
    op.drop_index('ix_results_run_values', table_name='results')
    op.drop_index('ix_runs_same_seed', table_name='runs')
