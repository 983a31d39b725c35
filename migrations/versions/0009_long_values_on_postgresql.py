"""Params and tags of any length on PostgreSQL.

A PostgreSQL btree holds entries of at most 2,704 bytes (a third of a page), so a run whose param
or tag text was longer and did not compress (a prompt, a long list as JSON, a huge integer) could
not be recorded there: ``ix_params_key_text``, ``ix_tags_key_text`` and ``ix_params_run_values``
held the whole text. On PostgreSQL:

- ``ix_{params,tags}_key_text`` become hash indexes of the text (same rows: ``num IS NULL``). A hash
  index stores a 4-byte hash per row, whatever the text's length, and serves the one lookup it is
  for, a value's exact text (``--param k=v``); the key is then checked on the matching rows.
- ``ix_params_run_values`` leaves the text out: ``seeds`` reads a run's texts from the table.

SQLite has no such limit: its indexes are unchanged, and this revision does nothing there.

Revision ID: 0009
Revises: 0008

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TEXT_ROWS = "num IS NULL"


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("params", "tags"):
        op.drop_index(f'ix_{table}_key_text', table_name=table)
        op.create_index(f'ix_{table}_key_text', table, ['text'], postgresql_using='hash',
                        postgresql_where=sa.text(TEXT_ROWS))
    op.drop_index('ix_params_run_values', table_name='params')
    op.create_index('ix_params_run_values', 'params', ['run_id', 'key', 'value_type', 'num'])


def downgrade() -> None:
    """Downgrade schema (fails on PostgreSQL while a param or tag is longer than a btree entry holds)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index('ix_params_run_values', table_name='params')
    op.create_index('ix_params_run_values', 'params', ['run_id', 'key', 'value_type', 'num', 'text'])
    for table in ("params", "tags"):
        op.drop_index(f'ix_{table}_key_text', table_name=table)
        op.create_index(f'ix_{table}_key_text', table, ['key', 'text'], postgresql_where=sa.text(TEXT_ROWS))
