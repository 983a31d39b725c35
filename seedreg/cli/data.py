"""Commands that move or query many runs: ``sql``, ``delete``, ``export``, ``import`` and ``sync``."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from seedreg.cli.options import CliError, db_option, filter_options, open_registry, output_options


@click.command(short_help="Run one read-only SQL statement over the registry.")
@click.argument("statement", metavar='"SELECT ..."')
@db_option
@output_options
def sql(statement: str, db: str | None, fmt: str) -> None:
    """Run one read-only SQL statement over the registry (the database refuses any write).

    The README lists the tables and columns. Values print as stored: times are naive UTC.
    """
    from seedreg.cli.render import render

    result = open_registry(db).sql(statement)
    if result.columns or fmt != "table":
        click.echo(render(result.rows, result.columns, fmt))


@click.command(short_help="Hide a run from `list` for good (the deletion is chained).")
@click.argument("run", metavar="RUN")
@click.option("--reason", required=True, help="Why the run is deleted (kept and chained with the deletion).")
@db_option
def delete(run: str, reason: str, db: str | None) -> None:
    """Hide a run from `list` for good; its row stays and the deletion is chained for `audit`."""
    record = open_registry(db).delete(run, reason)
    click.echo(f"deleted run {record.id} ({record.experiment}): hidden from `seedreg list` "
               "(shown with --deleted); `seedreg audit` checks the deletion")


@click.command(short_help="Write runs as JSON lines (the filters of `list`).")
@filter_options
@click.option("--output", "-o", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write to FILE (replaced only when the export is complete) instead of stdout.")
@db_option
def export(filters: dict[str, Any], output: str | None, db: str | None) -> None:
    """Write runs as JSON lines, oldest first (the same filters as `list`; --deleted carries deletions)."""
    registry = open_registry(db, readonly=True)
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


@click.command("import", short_help="Merge runs exported with `seedreg export`.")
@click.argument("source", metavar="FILE", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def import_runs(source: str, db: str | None, as_json: bool) -> None:
    """Merge runs exported with `seedreg export` (FILE, or - for stdin); runs already here are skipped.

    Every line is checked (its record digest must follow from its content); a bad line is
    reported with its number and nothing of it is written. Exit 2 when any line was refused.
    """
    import json

    registry = open_registry(db)
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


@click.command(short_help="Write runs spooled while the registry was unavailable.")
@db_option
def sync(db: str | None) -> None:
    """Write runs spooled while the registry was unavailable (see SEEDREG_SPOOL)."""
    registry = open_registry(db)
    count = registry.sync()
    click.echo(f"synced {count} spooled run(s) into {registry.display_url}")


