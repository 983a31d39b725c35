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


@cli.command()
@run_argument
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the run object as JSON.")
def show(run_ref: str | None, db: str | None, as_json: bool) -> None:
    """Show everything a run recorded."""
    import json

    from .render import render_run

    registry = Registry(db)
    record = _record(registry, run_ref)
    replays = registry.replays_of(record.id)
    if as_json:
        click.echo(json.dumps({**record.to_json(), "replays": [r.to_json() for r in replays]}, indent=2))
        return
    click.echo(render_run(record))
    if replays:
        click.echo("replays:")
        for r in replays:
            click.echo(f"  {r.created_at.astimezone():%Y-%m-%d %H:%M:%S}  {(r.replay or '-')[:12]}  {r.verdict}")


@cli.command()
@run_argument
@db_option
@click.option("--yes", "-y", is_flag=True, help="Run the recorded command without asking.")
@click.option("--dry-run", is_flag=True, help="Only print what would run; record nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def replay(run_ref: str | None, db: str | None, yes: bool, dry_run: bool, as_json: bool) -> None:
    """Re-run a run's command with its recorded seeds and compare outputs block by block.

    Exit 0: every block's data is identical; 1: something differs; 2: could not replay.
    """
    import json
    import shlex

    from .render import render_replay

    registry = Registry(db)
    plan = registry.replay_plan(run_ref)
    shown = f"{shlex.join(plan.argv)}  (in {plan.cwd})"
    if dry_run:
        click.echo(json.dumps({"command": plan.argv, "cwd": plan.cwd, "notes": plan.notes}) if as_json
                   else f"would run: {shown}")
        return
    for note in plan.notes:
        click.echo(f"note: {note}", err=True)
    if not yes:
        click.echo(f"replay will run: {shown}", err=True)
        try:
            agreed = click.confirm("Run it?", default=False, err=True)
        except click.Abort:  # end of input: end the prompt's line so the error is a line of its own
            click.echo(err=True)
            agreed = False
        if not agreed:
            raise CliError("replay declined: nothing was run (pass --yes to run without asking)")
    result = registry.replay(plan)
    click.echo(json.dumps(result.to_json(), indent=2) if as_json else render_replay(result))
    click.get_current_context().exit(result.exit_code)


@cli.command()
@click.argument("runs", nargs=-1, metavar="[RUN]...")
@click.option("--expect-head", metavar="DIGEST", help="Check against a head digest anchored elsewhere.")
@click.option("--data", "data", multiple=True, metavar="NAME=PATH",
              help="Check a saved .npy file against what RUN recorded under NAME (repeatable).")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def audit(runs: tuple[str, ...], expect_head: str | None, data: tuple[str, ...], db: str | None,
          as_json: bool) -> None:
    """Check that records are intact: every record digest and chain link; exit 1 on any finding."""
    import json

    from .render import describe_where, render_audit

    registry = Registry(db)
    checks = []
    if data:
        if len(runs) != 1:
            raise CliError("--data checks one run: give exactly one RUN")
        for item in data:
            name, sep, path = item.partition("=")
            if not sep or not name or not path:
                raise CliError(f"--data takes NAME=PATH, not {item!r}")
            checks.append(registry.check_data(runs[0], name, path))
    if sys.stderr.isatty() and not runs and not as_json:
        with click.progressbar(length=registry.count(deleted=None), label="auditing", file=sys.stderr) as bar:
            report = registry.audit(runs, expect_head=expect_head, progress=bar.update)
    else:
        report = registry.audit(runs, expect_head=expect_head)
    if as_json:
        click.echo(json.dumps({**report.to_json(), "data": checks}, indent=2))
    else:
        click.echo(render_audit(report))
        for check in checks:
            mark = "✓ matches" if check["matches"] else f"✗ differs: {describe_where(check['where']) or 'different content'}"
            click.echo(f"data {check['name']} = {check['path']}: {mark}")
    click.get_current_context().exit(0 if report.ok and all(c["matches"] for c in checks) else 1)


@cli.command()
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def diff(run_a: str, run_b: str, db: str | None, as_json: bool) -> None:
    """Two runs side by side: seed, params, environment, fingerprints (✗ marks differences)."""
    import json

    from .render import render_diff

    block = Registry(db).diff(run_a, run_b)
    if as_json:
        a, b = block.original, block.replay
        data = block.to_json()
        data["a"], data["b"] = a.to_json(), b.to_json()
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render_diff(block))


@cli.command()
@db_option
def sync(db: str | None) -> None:
    """Write runs spooled while the registry was unavailable (see SEEDREG_SPOOL)."""
    registry = Registry(db)
    count = registry.sync()
    click.echo(f"synced {count} spooled run(s) into {registry.display_url}")


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


# The commands over many runs (list, experiments, sql, delete, export, import) live in their own module.
from . import cli_query  # noqa: E402,F401


def main() -> None:
    """Entry point of the ``seedreg`` console script."""
    cli(prog_name="seedreg")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
