"""Initial schema: environments, runs, params, tags, fingerprints.

Revision ID: 0001
Revises: 

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    
    op.create_table('environments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('python_version', sa.String(length=64), nullable=False),
    sa.Column('python_implementation', sa.String(length=32), nullable=False),
    sa.Column('platform', sa.String(length=255), nullable=False),
    sa.Column('machine', sa.String(length=64), nullable=False),
    sa.Column('numpy_version', sa.String(length=64), nullable=True),
    sa.Column('blas', sa.String(length=255), nullable=True),
    sa.Column('packages', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('digest')
    )
    op.create_table('runs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('experiment', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('seed', sa.String(length=512), nullable=False),
    sa.Column('seed_kind', sa.String(length=16), nullable=False),
    sa.Column('seed_source', sa.String(length=16), nullable=False),
    sa.Column('spawn_key', sa.String(length=255), nullable=False),
    sa.Column('parent_id', sa.String(length=32), nullable=True),
    sa.Column('replay_of', sa.String(length=32), nullable=True),
    sa.Column('block_index', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('duration', sa.Float(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('rng_digest', sa.String(length=80), nullable=True),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('numpy_version', sa.String(length=64), nullable=True),
    sa.Column('python_version', sa.String(length=64), nullable=False),
    sa.Column('libraries', sa.Text(), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('username', sa.String(length=255), nullable=True),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('process_started', sa.Float(), nullable=True),
    sa.Column('executable', sa.Text(), nullable=False),
    sa.Column('argv', sa.Text(), nullable=False),
    sa.Column('command', sa.Text(), nullable=True),
    sa.Column('cwd', sa.Text(), nullable=False),
    sa.Column('launch', sa.String(length=16), nullable=False),
    sa.Column('script_path', sa.Text(), nullable=True),
    sa.Column('script_digest', sa.String(length=80), nullable=True),
    sa.Column('pythonhashseed', sa.String(length=32), nullable=True),
    sa.Column('git_commit', sa.String(length=64), nullable=True),
    sa.Column('git_dirty', sa.Boolean(), nullable=True),
    sa.CheckConstraint("seed_kind IN ('int', 'sequence', 'seedsequence')", name='ck_runs_seed_kind'),
    sa.CheckConstraint("seed_source IN ('given', 'generated', 'replay')", name='ck_runs_seed_source'),
    sa.CheckConstraint("status IN ('running', 'completed', 'failed', 'interrupted', 'crashed')", name='ck_runs_status'),
    sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], name='fk_runs_environment_id'),
    sa.ForeignKeyConstraint(['parent_id'], ['runs.id'], name='fk_runs_parent_id'),
    sa.ForeignKeyConstraint(['replay_of'], ['runs.id'], name='fk_runs_replay_of'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index('ix_runs_experiment_started_at', ['experiment', 'started_at'], unique=False)
        batch_op.create_index('ix_runs_numpy_version', ['numpy_version'], unique=False)
        batch_op.create_index('ix_runs_parent_id', ['parent_id'], unique=False)
        batch_op.create_index('ix_runs_replay_of', ['replay_of'], unique=False)
        batch_op.create_index('ix_runs_seed', ['seed'], unique=False)
        batch_op.create_index('ix_runs_started_at', ['started_at'], unique=False)
        batch_op.create_index('ix_runs_status', ['status'], unique=False)

    op.create_table('fingerprints',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('algorithm', sa.String(length=16), nullable=False),
    sa.Column('digest', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('dtype', sa.String(length=64), nullable=True),
    sa.Column('shape', sa.String(length=255), nullable=True),
    sa.Column('chunk_elems', sa.Integer(), nullable=True),
    sa.Column('chunks', sa.LargeBinary(), nullable=True),
    sa.Column('kept', sa.Boolean(), nullable=False),
    sa.Column('logged_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'name')
    )
    op.create_table('params',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value_type', sa.String(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('num', sa.Float(), nullable=True),
    sa.CheckConstraint("value_type IN ('int', 'float', 'bool', 'str', 'null', 'json')", name='ck_params_value_type'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'key')
    )
    with op.batch_alter_table('params', schema=None) as batch_op:
        batch_op.create_index('ix_params_key_num', ['key', 'num'], unique=False)
        batch_op.create_index('ix_params_key_text', ['key', 'text'], unique=False)

    op.create_table('tags',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value_type', sa.String(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('num', sa.Float(), nullable=True),
    sa.CheckConstraint("value_type IN ('int', 'float', 'bool', 'str', 'null', 'json')", name='ck_tags_value_type'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'key')
    )
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.create_index('ix_tags_key_num', ['key', 'num'], unique=False)
        batch_op.create_index('ix_tags_key_text', ['key', 'text'], unique=False)




def downgrade() -> None:
    """Downgrade schema."""
    
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.drop_index('ix_tags_key_text')
        batch_op.drop_index('ix_tags_key_num')

    op.drop_table('tags')
    with op.batch_alter_table('params', schema=None) as batch_op:
        batch_op.drop_index('ix_params_key_text')
        batch_op.drop_index('ix_params_key_num')

    op.drop_table('params')
    op.drop_table('fingerprints')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_status')
        batch_op.drop_index('ix_runs_started_at')
        batch_op.drop_index('ix_runs_seed')
        batch_op.drop_index('ix_runs_replay_of')
        batch_op.drop_index('ix_runs_parent_id')
        batch_op.drop_index('ix_runs_numpy_version')
        batch_op.drop_index('ix_runs_experiment_started_at')

    op.drop_table('runs')
    op.drop_table('environments')

