"""``seedreg seeds`` read from indexes alone, each run's rows looked up in run id order.

- ``ix_runs_seeds_scope`` (replaces 0007's ``ix_runs_same_seed``): original runs (not replays, not
  deleted) by experiment, then id, covering what ``seeds`` reads of a run. An experiment's runs come
  out in id order, with no sort, and every lookup by run id that follows (params, results,
  fingerprints) walks its index forward instead of jumping about it. It also holds the columns of
  its own WHERE (NULL in its rows, so nearly free): SQLite then counts it as covering, and prefers
  it to an index that is not.
- ``ix_params_run_values``: a run's params with their values, so ``seeds`` keys a run by all its
  params from the index alone (like ``ix_results_run_values`` for results).
- ``ix_fingerprints_run_digest``: each run's fingerprints by name with their algorithm and digest:
  "same seed, different data" compares the digests of runs that should agree from this index, never
  the table's rows (whose per-chunk digests make them several times larger).

With them (and ``seeds`` reading in id order), ``seedreg seeds -e E`` over a tenth of 1,000,000 runs
took 1.8 s as a whole process instead of 3.3 s. They add about 5 % to a bulk import; the upgrade
of a 1,000,000-run registry builds them in about 10 s.

Revision ID: 0008
Revises: 0007

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ORIGINAL_RUNS = "deleted_at IS NULL AND coalesce(replay_of, replay_session) IS NULL"


def upgrade() -> None:
    """Upgrade schema."""
    op.drop_index('ix_runs_same_seed', table_name='runs')
    op.create_index('ix_runs_seeds_scope', 'runs',
                    ['experiment', 'id', 'status', 'seed', 'spawn_key', 'script_digest', 'environment_id', 'deleted_at',
                     'replay_of', 'replay_session'],
                    sqlite_where=sa.text(ORIGINAL_RUNS), postgresql_where=sa.text(ORIGINAL_RUNS))
    op.create_index('ix_params_run_values', 'params', ['run_id', 'key', 'value_type', 'num', 'text'])
    op.create_index('ix_fingerprints_run_digest', 'fingerprints', ['run_id', 'name', 'algorithm', 'digest'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_fingerprints_run_digest', table_name='fingerprints')
    op.drop_index('ix_params_run_values', table_name='params')
    op.drop_index('ix_runs_seeds_scope', table_name='runs')
    op.create_index('ix_runs_same_seed', 'runs',
                    ['experiment', 'seed', 'spawn_key', 'script_digest', 'environment_id', 'status', 'id'],
                    sqlite_where=sa.text(ORIGINAL_RUNS), postgresql_where=sa.text(ORIGINAL_RUNS))
