"""The commands over many runs: ``list`` with its filters, ``experiments``, ``sql``, ``delete``,
``export`` and ``import``. Each parses, calls one :class:`seedreg.Registry` method, and prints."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from .cli import CliError, cli, db_option, output_options
from .models import STATUSES
from .registry import Registry

#: ``list`` counts the runs that match up to this many, to say how many more exist.
COUNT_CAP = 1000


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


@cli.command("list")
@filter_options
@click.option("--limit", "-n", type=click.IntRange(min=0), default=20, show_default=True, help="At most N runs; 0 for all.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip the first N matching runs.")
@click.option("--sort", default="-started", show_default=True, metavar="KEY",
              help="started, ended, duration, experiment or status; a leading - sorts descending.")
@db_option
@output_options
def list_runs(filters: dict[str, Any], limit: int, offset: int, sort: str, db: str | None, fmt: str) -> None:
    """List runs, newest first; every filter combines with the others."""
    from .render import render_runs

    registry = Registry(db)
    built = registry.filters(**filters)
    runs = registry.runs(limit=limit or None, offset=offset, sort=sort, filters=built)
    if runs or fmt != "table":
        click.echo(render_runs(runs, fmt))
    else:
        click.echo("no runs match", err=True)
    if limit and len(runs) == limit:
        total = registry.count(filters=built, cap=COUNT_CAP)  # an exact total of a huge match costs a scan
        if total > offset + limit:
            shown = f"the newest {limit}" if sort == "-started" and not offset else (
                f"runs {offset + 1}-{offset + limit}" if offset else f"{limit}")
            of = f"more than {COUNT_CAP:,}" if total > COUNT_CAP else f"{total}"
            click.echo(f"showing {shown} of {of} runs; --limit 0 shows all", err=True)


@cli.command()
@db_option
@output_options
def experiments(db: str | None, fmt: str) -> None:
    """One row per experiment: runs, completed/failed, last run, seeds, NumPy versions, replay verdicts.

    Counts original runs that are not deleted; replays are the stored verdicts of their replays.
    """
    from .render import render_experiments

    summaries = Registry(db).experiments()
    if summaries or fmt != "table":
        click.echo(render_experiments(summaries, fmt))
    else:
        click.echo("no runs yet", err=True)


@cli.command()
@click.argument("statement", metavar='"SELECT ..."')
@db_option
@output_options
def sql(statement: str, db: str | None, fmt: str) -> None:
    """Run one read-only SQL statement over the registry (the database refuses any write).

    The README lists the tables and columns. Values print as stored: times are naive UTC.
    """
    from .render import render

    result = Registry(db).sql(statement)
    if result.columns or fmt != "table":
        click.echo(render(result.rows, result.columns, fmt))


@cli.command()
@click.argument("run", metavar="RUN")
@click.option("--reason", required=True, help="Why the run is deleted (kept and chained with the deletion).")
@db_option
def delete(run: str, reason: str, db: str | None) -> None:
    """Hide a run from `list` for good; its row stays and the deletion is chained for `audit`."""
    record = Registry(db).delete(run, reason)
    click.echo(f"deleted run {record.id} ({record.experiment}): hidden from `seedreg list` "
               "(shown with --deleted); `seedreg audit` checks the deletion")


@cli.command()
@filter_options
@click.option("--output", "-o", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write to FILE (replaced only when the export is complete) instead of stdout.")
@db_option
def export(filters: dict[str, Any], output: str | None, db: str | None) -> None:
    """Write runs as JSON lines, oldest first (the same filters as `list`; --deleted carries deletions)."""
    registry = Registry(db)
    lines = registry.export(**filters)
    count = 0
    if output is None:
        for line in lines:
            click.echo(line)
            count += 1
    else:
        partial = f"{output}.partial"
        try:
            with open(partial, "w", encoding="utf-8") as out:
                for line in lines:
                    out.write(line + "\n")
                    count += 1
            os.replace(partial, output)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    click.echo(f"exported {count} run(s)", err=True)


def _count_lines(path: str) -> int:
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))


@cli.command("import")
@click.argument("source", metavar="FILE", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def import_runs(source: str, db: str | None, as_json: bool) -> None:
    """Merge runs exported with `seedreg export` (FILE, or - for stdin); runs already here are skipped.

    Every line is checked (its record digest must follow from its content); a bad line is
    reported with its number and nothing of it is written. Exit 2 when any line was refused.
    """
    import json

    registry = Registry(db)
    stream = sys.stdin.buffer if source == "-" else open(source, "rb")
    try:
        if source != "-" and sys.stderr.isatty() and not as_json:
            with click.progressbar(length=_count_lines(source), label="importing", file=sys.stderr) as bar:
                report = registry.import_(stream, progress=bar.update)
        else:
            report = registry.import_(stream)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    for number, error in report.rejected:
        click.echo(f"line {number}: {error}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        verdicts = f", {report.verdicts} replay verdict(s)" if report.verdicts else ""
        click.echo(f"imported {report.imported} run(s){verdicts}, skipped {report.skipped} already in "
                   f"{registry.display_url}" + (f"; refused {len(report.rejected)} line(s)" if report.rejected else ""))
    if report.rejected:
        raise CliError(f"{len(report.rejected)} line(s) refused (see above); the other runs were imported")
