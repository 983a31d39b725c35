"""The registry's schema version: checked with one query, created and upgraded by Alembic.

Alembic is imported only to create or upgrade a database, so reading commands stay fast.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from seedreg.db import engines
from seedreg.errors import RegistryError, SchemaError

#: Every Alembic revision this seedreg knows, oldest first (a test checks it against migrations/).
REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009")
HEAD = REVISIONS[-1]
UPGRADE_HINT = "run `seedreg db upgrade`"


def current_revision(conn: Connection) -> str | None:
    """The database's Alembic revision; None for an empty database.

    Raises SchemaError for a database that holds tables but is not a seedreg registry.
    """
    inspector = inspect(conn)
    if not inspector.has_table("alembic_version"):
        if inspector.get_table_names():
            raise SchemaError("this database is not a seedreg registry (it has no alembic_version table)")
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return row[0] if row else None


def _recorded_revision(conn: Connection) -> str | None:
    """:func:`current_revision` in one query when the database has a revision (every registry).

    Reading it directly spares each opening command the schema inspection (its own queries and
    module); a database without the table is then inspected to say what it is.
    """
    try:
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    except DBAPIError:
        conn.rollback()
        return current_revision(conn)
    return row[0] if row else None


def check(revision: str | None, url: str) -> None:
    """Refuse any schema but head, with a message saying what to do."""
    where = engines.mask_url(url)
    if revision == HEAD:
        return
    if revision is None:
        raise SchemaError(f"{where} has no seedreg schema yet; {UPGRADE_HINT} or record a run to create it")
    if revision in REVISIONS:
        raise SchemaError(f"{where} has an older seedreg schema ({revision}, current is {HEAD}); {UPGRADE_HINT}")
    raise SchemaError(
        f"{where} was written by a newer seedreg (schema {revision}, this seedreg knows up to {HEAD}); "
        "upgrade seedreg to use it"
    )


def migrations_location() -> str:
    """Where the Alembic scripts are: inside the installed package, or the source tree's migrations/."""
    try:
        from importlib.resources import files

        return str(files("seedreg.migrations"))
    except ModuleNotFoundError:
        return str(Path(__file__).resolve().parents[2] / "migrations")


def _lock(conn: Connection) -> None:
    """Serialise schema changes between processes (SQLite: BEGIN IMMEDIATE already did)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7302105411)"))


def upgrade(engine: Engine, target: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to ``target`` under a lock; returns (revision before, revision after)."""
    from alembic import command
    from alembic.config import Config

    def work() -> tuple[str | None, str | None]:
        with engines.write(engine) as conn:
            _lock(conn)
            before = current_revision(conn)
            if before is not None and before not in REVISIONS:
                check(before, str(engine.url))
            if before != HEAD:
                config = Config()
                config.set_main_option("script_location", migrations_location())
                config.attributes["connection"] = conn
                config.attributes["configure_logging"] = False
                command.upgrade(config, target)
            return before, current_revision(conn)

    try:
        return engines.retrying(work)
    except RegistryError:
        raise
    except DBAPIError as error:
        raise RegistryError(f"could not create or upgrade {engines.mask_url(str(engine.url))}: {error.orig}") from error


def ensure(engine: Engine, *, create: bool) -> None:
    """Check the schema is head; a new, empty database is created at head when ``create``."""
    with engine.connect() as conn:
        revision = _recorded_revision(conn)
    if revision is None and create:
        upgrade(engine)
        return
    check(revision, engine.url.render_as_string(hide_password=False))
