"""Results, notebook runs, test invocations and sweep seeds: what record version 2 adds.

- ``results``: a real number a run logged (``run.log(name, 0.93)``) kept as a value beside its
  fingerprint: its type (``int``/``float``/``bool`` or a NumPy dtype such as ``<f4``), its exact
  text, and ``num`` (the finite value as a float, NULL for NaN and infinities) to aggregate on.
- ``runs.notebook``: JSON facts of a run recorded in a Jupyter kernel (path, digest, kernel, cell,
  order); ``runs.invocation``: JSON of the pytest session a test's run belongs to.
- ``runs.seed_source`` may be ``sweep`` (``seedreg sweep``).

Runs recorded before keep NULL / no results. Their chain links say record version 1, whose
digest does not cover these, so every chain written before still verifies.

Revision ID: 0006
Revises: 0005

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The seed_source CHECK as 0005 left it, and as it is from here on (ORed equalities, as in 0005).
SOURCES_0005 = ('given', 'generated', 'replay')
SOURCES_0006 = ('given', 'generated', 'replay', 'sweep')


def equalities(column: str, values: Sequence[str]) -> str:
    return " OR ".join(f"{column} = '{v}'" for v in values)


def _rewrite_sqlite_check(table: str, name: str, old: str, new: str) -> None:
    """Replace one CHECK text in SQLite's stored table definition (the procedure 0005 documents)."""
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar()
    before, after = f"CONSTRAINT {name} CHECK ({old})", f"CONSTRAINT {name} CHECK ({new})"
    if sql.count(before) != 1:
        raise RuntimeError(f"table {table}: constraint {name} is not `{old}` as expected; "
                           "this database was altered outside seedreg's migrations")
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                             (sql.replace(before, after), table))
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    bind.exec_driver_sql(f"SELECT count(*) FROM (SELECT * FROM {table} LIMIT 0)")


def _seed_sources(old: Sequence[str], new: Sequence[str]) -> None:
    name = 'ck_runs_seed_source'
    if op.get_bind().dialect.name == "sqlite":
        _rewrite_sqlite_check('runs', name, equalities('seed_source', old), equalities('seed_source', new))
        return
    op.drop_constraint(name, 'runs', type_="check")
    op.create_check_constraint(name, 'runs', sa.text(equalities('seed_source', new)))


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('results',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('value_type', sa.String(length=16), nullable=False),
    sa.Column('text', sa.String(length=64), nullable=False),
    sa.Column('num', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name='fk_results_run_id', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'name')
    )
    op.create_index('ix_results_name_num', 'results', ['name', 'num'], unique=False)
    # Plain ALTER TABLE (no batch copy): rebuilding runs would cascade-delete its params on SQLite.
    op.add_column('runs', sa.Column('notebook', sa.Text(), nullable=True))
    op.add_column('runs', sa.Column('invocation', sa.Text(), nullable=True))
    _seed_sources(SOURCES_0005, SOURCES_0006)


def downgrade() -> None:
    """Downgrade schema; refused while sweep runs or results exist (0005 cannot hold them, and
    editing or dropping them would break their chained records)."""
    bind = op.get_bind()
    sweeps = bind.exec_driver_sql("SELECT count(*) FROM runs WHERE seed_source = 'sweep'").scalar()
    if sweeps:
        raise RuntimeError(f"{sweeps} run(s) were recorded by `seedreg sweep`: schema 0005 cannot hold them")
    results = bind.exec_driver_sql("SELECT count(DISTINCT run_id) FROM results").scalar()
    if results:  # their chained records cover their results: dropping them would break the audit
        raise RuntimeError(f"{results} run(s) logged results: schema 0005 cannot hold them")
    _seed_sources(SOURCES_0006, SOURCES_0005)
    op.drop_column('runs', 'invocation')  # SQLite 3.35+ drops a column in place
    op.drop_column('runs', 'notebook')
    op.drop_index('ix_results_name_num', table_name='results')
    op.drop_table('results')
