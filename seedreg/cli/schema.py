"""``seedreg db current`` and ``seedreg db upgrade``: the registry's schema version."""

from __future__ import annotations

import click

from seedreg.cli.options import db_option, open_registry


@click.group()
def db() -> None:
    """The registry's schema: see and upgrade its version."""


@db.command("current", short_help="Print the schema revision (never creates a database).")
@db_option
def db_current(db: str | None) -> None:
    """Print the registry's schema revision (never creates a database)."""
    from seedreg.db.schema import HEAD

    registry = open_registry(db, readonly=True)
    revision = registry.revision()
    state = "head" if revision == HEAD else "empty" if revision is None else f"head is {HEAD}"
    click.echo(f"{revision or '-'} ({state}) {registry.display_url}")


@db.command("upgrade", short_help="Create the registry, or upgrade its schema.")
@db_option
def db_upgrade(db: str | None) -> None:
    """Create the registry, or upgrade its schema to this seedreg's version."""
    registry = open_registry(db)
    before, after = registry.upgrade()
    if before == after:
        click.echo(f"already at {after} (head) {registry.display_url}")
    else:
        click.echo(f"upgraded {before or 'empty database'} -> {after} {registry.display_url}")

