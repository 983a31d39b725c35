"""The ``seedreg`` command: parses arguments, calls :class:`seedreg.Registry`, prints."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from .errors import SeedregError
from .registry import Registry


class CliError(click.ClickException):
    """A one-line error with the exit code DESIGN §6 gives it (2: input, 1: failed check)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Group(click.Group):
    """Turns seedreg's and the database's errors into one line and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import DBAPIError

        try:
            return super().invoke(ctx)
        except SeedregError as error:
            raise CliError(str(error), error.exit_code) from None
        except DBAPIError as error:
            raise CliError(f"database error: {str(error.orig or error).splitlines()[0]}") from None


def db_option(command: Callable) -> Callable:
    """``--db``: the registry (a path or SQLAlchemy URL; default $SEEDREG_DB, then ./seedreg.db)."""
    return click.option(
        "--db", metavar="PATH|URL", default=None,
        help="Registry: a SQLite path or a SQLAlchemy URL (default: $SEEDREG_DB, then ./seedreg.db).",
    )(command)


def output_options(command: Callable) -> Callable:
    """``--json`` / ``--csv`` (default: a table), passed on as ``fmt``."""
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
    @functools.wraps(command)
    def wrapper(*args: Any, as_json: bool, as_csv: bool, **kwargs: Any) -> Any:
        if as_json and as_csv:
            raise CliError("choose one of --json and --csv")
        return command(*args, fmt="json" if as_json else "csv" if as_csv else "table", **kwargs)

    return wrapper


def run_argument(command: Callable) -> Callable:
    """``RUN`` (an id or unique prefix) or ``--last`` (the newest original run), passed on as ``run_ref``."""
    @click.argument("run", required=False, metavar="RUN")
    @click.option("--last", is_flag=True, help="The newest original run (not a replay) instead of RUN.")
    @functools.wraps(command)
    def wrapper(*args: Any, run: str | None, last: bool, **kwargs: Any) -> Any:
        if bool(run) == last:
            raise CliError("give a run id (or unique prefix) or --last, not both or neither")
        return command(*args, run_ref=None if last else run, **kwargs)

    return wrapper


def _record(registry: Registry, run_ref: str | None):
    return registry.last() if run_ref is None else registry.get(run_ref)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="seedreg")
def cli() -> None:
    """seedreg: record seeds, environments and data fingerprints of experiment runs."""


@cli.command("list")
@click.option("--experiment", "-e", multiple=True, help="Only this experiment (repeatable).")
@click.option(
    "--status", "-s", multiple=True,
    type=click.Choice(["running", "completed", "failed", "interrupted", "crashed"]),
    help="Only runs with this status (repeatable).",
)
@click.option("--replays/--no-replays", default=None, help="Only replays / only original runs (default: both).")
@click.option("--limit", "-n", type=click.IntRange(min=0), default=20, show_default=True, help="At most N runs; 0 for all.")
@db_option
@output_options
def list_runs(experiment: tuple[str, ...], status: tuple[str, ...], replays: bool | None,
              limit: int, db: str | None, fmt: str) -> None:
    """List runs, newest first."""
    from .render import render_runs

    registry = Registry(db)
    filters = {"experiment": list(experiment) or None, "status": list(status) or None, "replays": replays}
    runs = registry.runs(limit=limit or None, **filters)
    if runs or fmt != "table":
        click.echo(render_runs(runs, fmt))
    else:
        click.echo("no runs match", err=True)
    if limit and len(runs) == limit:
        total = registry.count(**filters)
        if total > limit:
            click.echo(f"showing the newest {limit} of {total} runs; --limit 0 shows all", err=True)


@cli.command()
@run_argument
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the run object as JSON.")
def show(run_ref: str | None, db: str | None, as_json: bool) -> None:
    """Show everything a run recorded."""
    import json

    from .render import render_run

    record = _record(Registry(db), run_ref)
    click.echo(json.dumps(record.to_json(), indent=2) if as_json else render_run(record))


@cli.group()
def db() -> None:
    """The registry's schema: see and upgrade its version."""


@db.command("current")
@db_option
def db_current(db: str | None) -> None:
    """Print the registry's schema revision (never creates a database)."""
    from .schema import HEAD

    registry = Registry(db)
    revision = registry.revision()
    state = "head" if revision == HEAD else "empty" if revision is None else f"head is {HEAD}"
    click.echo(f"{revision or '-'} ({state}) {registry.display_url}")


@db.command("upgrade")
@db_option
def db_upgrade(db: str | None) -> None:
    """Create the registry, or upgrade its schema to this seedreg's version."""
    registry = Registry(db)
    before, after = registry.upgrade()
    if before == after:
        click.echo(f"already at {after} (head) {registry.display_url}")
    else:
        click.echo(f"upgraded {before or 'empty database'} -> {after} {registry.display_url}")


def main() -> None:
    """Entry point of the ``seedreg`` console script."""
    cli(prog_name="seedreg")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
