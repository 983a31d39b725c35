"""Cheaper writes, same rules: CHECKs as ORed equalities, indexes of mostly-NULL columns partial.

CHECK constraints on enumerated columns become ORed equalities instead of ``IN (...)``. The
same rule, cheaper to check: SQLite evaluates a CHECK ``x IN ('a', 'b', ...)`` by building
a temporary index of the list for every row it inserts (~1.7 µs a check), which made these
checks the largest single cost of a bulk import. ``x = 'a' OR x = 'b' ...`` accepts exactly
the same values and costs almost nothing.

SQLite cannot alter a constraint in place; rebuilding ``runs`` would cascade-delete its params
through their foreign keys and copy the whole table. Its documented procedure for changes
that leave stored rows valid ("Making Other Kinds Of Table Schema Changes",
https://www.sqlite.org/lang_altertable.html) rewrites the table's definition in the schema
table instead, inside the migration's transaction; the definition is re-read and checked
before the transaction commits. Elsewhere each constraint is dropped and added again.

Indexes leave out rows no query looks up through them, so a run adds fewer index entries:
``runs.parent_id``, ``replay_of`` and ``replay_session`` leave out NULL (most runs are neither
children nor replays; a lookup by value, or ``IS NOT NULL``, still uses them); the params and
tags indexes by number hold only numbers (``num IS NOT NULL``), those by exact text only the
values that are not numbers (``num IS NULL``, which the query for them now says).

Revision ID: 0005
Revises: 0004

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

VALUE_TYPES = ('int', 'float', 'bool', 'str', 'null', 'json')
# (table, constraint, column, allowed values), as they are at 0004.
CHECKS = [
    ('runs', 'ck_runs_status', 'status', ('running', 'completed', 'failed', 'interrupted', 'crashed')),
    ('runs', 'ck_runs_seed_source', 'seed_source', ('given', 'generated', 'replay')),
    ('runs', 'ck_runs_seed_kind', 'seed_kind', ('int', 'sequence', 'seedsequence')),
    ('params', 'ck_params_value_type', 'value_type', VALUE_TYPES),
    ('tags', 'ck_tags_value_type', 'value_type', VALUE_TYPES),
    ('chain', 'ck_chain_kind', 'kind', ('record', 'tombstone')),
    ('replays', 'ck_replays_verdict', 'verdict', ('identical', 'different', 'missing', 'extra')),
]


def listed(column: str, values: Sequence[str]) -> str:
    """The 0001-0004 form: ``column IN ('a', 'b')``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def equalities(column: str, values: Sequence[str]) -> str:
    """The 0005 form: ``column = 'a' OR column = 'b'`` (``seedreg.db.tables.one_of``)."""
    return " OR ".join(f"{column} = '{v}'" for v in values)


def _rewrite_sqlite(forms: dict[str, list[tuple[str, str, str]]]) -> None:
    """Replace CHECK texts in SQLite's stored table definitions (its documented procedure)."""
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        for table, replacements in forms.items():
            sql = bind.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar()
            for name, old, new in replacements:
                before, after = f"CONSTRAINT {name} CHECK ({old})", f"CONSTRAINT {name} CHECK ({new})"
                if sql.count(before) != 1:
                    raise RuntimeError(f"table {table}: constraint {name} is not `{old}` as expected; "
                                       "this database was altered outside seedreg's migrations")
                sql = sql.replace(before, after)
            bind.exec_driver_sql(
                "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (sql, table))
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    for table in forms:  # parse the new definitions now: a mistake fails here, inside the transaction
        bind.exec_driver_sql(f"SELECT count(*) FROM (SELECT * FROM {table} LIMIT 0)")


def _change(to_equalities: bool) -> None:
    forms: dict[str, list[tuple[str, str, str]]] = {}
    for table, name, column, values in CHECKS:
        old, new = listed(column, values), equalities(column, values)
        if not to_equalities:
            old, new = new, old
        forms.setdefault(table, []).append((name, old, new))
    if op.get_bind().dialect.name == "sqlite":
        _rewrite_sqlite(forms)
        return
    for table, replacements in forms.items():
        for name, _, new in replacements:
            op.drop_constraint(name, table, type_="check")
            op.create_check_constraint(name, table, sa.text(new))


# (table, index, columns, the rows it keeps from 0005 on)
PARTIAL = [
    *(("runs", f"ix_runs_{column}", [column], f"{column} IS NOT NULL")
      for column in ("parent_id", "replay_of", "replay_session")),
    *((table, f"ix_{table}_key_{by}", ["key", by], "num IS NOT NULL" if by == "num" else "num IS NULL")
      for table in ("params", "tags") for by in ("num", "text")),
]


def _partial_indexes(partial: bool) -> None:
    for table, name, columns, rows in PARTIAL:
        where = sa.text(rows) if partial else None
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    """Upgrade schema."""
    _change(to_equalities=True)
    _partial_indexes(partial=True)


def downgrade() -> None:
    """Downgrade schema."""
    _partial_indexes(partial=False)
    _change(to_equalities=False)
