"""What every command shares: one-line errors with DESIGN §6's exit codes, and the common options."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from seedreg.db.vocabulary import STATUSES
from seedreg.errors import SeedregError

if TYPE_CHECKING:
    from seedreg.records import RunRecord
    from seedreg.registry.facade import Registry


class CliError(click.ClickException):
    """A one-line error with the exit code DESIGN §6 gives it (2: input, 1: failed check)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        # click types exit_code as a ClassVar; each CliError carries its own (click reads it off the instance).
        self.exit_code = exit_code  # type: ignore[misc]


class Group(click.Group):
    """Turns every error into one line and an exit code (DESIGN §6), never a traceback or usage dump."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as error:
            hint = f" (see `{error.ctx.command_path} --help`)" if error.ctx is not None else ""
            click.echo(f"Error: {error.format_message()}{hint}", err=True)
            sys.exit(2)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SeedregError as error:
            raise CliError(str(error), error.exit_code) from None
        except Exception as error:
            if "sqlalchemy" in sys.modules:  # only a command that opened a database can raise its errors
                from sqlalchemy.exc import DBAPIError

                if isinstance(error, DBAPIError):
                    raise CliError(f"database error: {str(error.orig or error).splitlines()[0]}") from None
            raise


def _db_or_root(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A subcommand's own ``--db`` wins; else the one given before the subcommand (``seedreg --db X list``)."""
    return value if value is not None else ctx.find_root().params.get("db")


def db_option(command: Callable) -> Callable:
    """``--db``: the registry (a path or SQLAlchemy URL; default $SEEDREG_DB, then ./seedreg.db).

    Accepted before the subcommand too (on the group); the subcommand's own value wins.
    """
    return click.option(
        "--db", metavar="PATH|URL", default=None, callback=_db_or_root,
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
    """``RUN`` (an id or unique prefix) or ``--last`` (the newest root run), passed on as ``run_ref``."""
    @click.argument("run", required=False, metavar="RUN")
    @click.option("--last", is_flag=True, help="The newest root run (no parent, not a replay) instead of RUN.")
    @functools.wraps(command)
    def wrapper(*args: Any, run: str | None, last: bool, **kwargs: Any) -> Any:
        if bool(run) == last:
            raise CliError("give a run id (or unique prefix) or --last, not both or neither")
        return command(*args, run_ref=None if last else run, **kwargs)

    return wrapper



def open_registry(db: str | None, *, readonly: bool = False) -> Registry:
    """The registry a command works on, imported only when a command runs (so ``--help`` is fast)."""
    from seedreg.registry.facade import Registry

    return Registry(db, readonly=readonly)


def record_of(registry: Registry, run_ref: str | None) -> RunRecord:
    """The run ``run_ref`` names, or the newest root run for ``--last``."""
    return registry.last() if run_ref is None else registry.get(run_ref)


def filter_options(command: Callable) -> Callable:
    """The filters of ``list`` and ``export``, passed on as one ``filters`` dict for :meth:`Registry.runs`."""
    options = [
        click.option("--experiment", "-e", multiple=True, help="Only this experiment (repeatable)."),
        click.option("--status", "-s", multiple=True, type=click.Choice(STATUSES),
                     help="Only runs with this status (repeatable)."),
        click.option("--seed", multiple=True, metavar="SEED",
                     help="Only runs with this seed: an int, or ints joined by commas for a sequence seed (repeatable)."),
        click.option("--numpy", metavar="VERSION", help="Only runs under this NumPy: exact (1.26.4) or a prefix (1.26)."),
        click.option("--since", metavar="WHEN",
                     help="Only runs started at or after WHEN: an ISO date or time (without a zone: local time) "
                          "or an age such as 7d, 12h, 30m, 2w."),
        click.option("--until", metavar="WHEN",
                     help="Only runs started before WHEN (same forms; a date alone includes that whole day)."),
        click.option("--param", "params", multiple=True, metavar="K=V",
                     help="Only runs whose param K equals V (repeatable): numbers compare numerically "
                          "(lr=0.1 matches 0.1 logged as a float, n=1 matches 1 and 1.0), true/false/null "
                          "match those values, anything else a string."),
        click.option("--tag", "tags", multiple=True, metavar="K=V", help="Only runs whose tag K equals V (as --param)."),
        click.option("--replays/--no-replays", default=None, help="Only replays / only original runs (default: both)."),
        click.option("--parent", metavar="RUN", help="Only runs whose parent is RUN (an id or unique prefix)."),
        click.option("--deleted", is_flag=True, help="Include runs deleted with `seedreg delete`."),
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, experiment: tuple[str, ...], status: tuple[str, ...], seed: tuple[str, ...],
                numpy: str | None, since: str | None, until: str | None, params: tuple[str, ...],
                tags: tuple[str, ...], replays: bool | None, parent: str | None, deleted: bool,
                **kwargs: Any) -> Any:
        filters = {"experiment": experiment or None, "status": status or None, "seed": list(seed) or None,
                   "numpy": numpy, "since": since, "until": until, "params": params or None, "tags": tags or None,
                   "replays": replays, "parent": parent, "deleted": None if deleted else False}
        return command(*args, filters=filters, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper

