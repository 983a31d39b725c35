"""Commands that read runs: ``list``, ``show``, ``diff`` and ``experiments``."""

from __future__ import annotations

from typing import Any

import click

from seedreg.cli.options import db_option, filter_options, open_registry, output_options, record_of, run_argument

#: ``list`` counts the runs that match up to this many, to say how many more exist.
COUNT_CAP = 1000

@click.command("list", short_help="List runs, newest first, filtered.")
@filter_options
@click.option("--limit", "-n", type=click.IntRange(min=0), default=20, show_default=True, help="At most N runs; 0 for all.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip the first N matching runs.")
@click.option("--sort", default="-started", show_default=True, metavar="KEY",
              help="started, ended, duration, experiment or status; a leading - sorts descending.")
@db_option
@output_options
def list_runs(filters: dict[str, Any], limit: int, offset: int, sort: str, db: str | None, fmt: str) -> None:
    """List runs, newest first; every filter combines with the others."""
    from seedreg.cli.render import render_runs

    registry = open_registry(db, readonly=True)
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


@click.command(short_help="One row per experiment: runs, statuses, replay verdicts.")
@db_option
@output_options
def experiments(db: str | None, fmt: str) -> None:
    """One row per experiment: runs; completed, failed, interrupted, crashed; last run, seeds, NumPy, replays.

    Counts original runs that are not deleted (crashed as `list` shows them: a run whose process
    died); replays are the stored verdicts of their replays.
    """
    from seedreg.cli.render import render_experiments

    summaries = open_registry(db, readonly=True).experiments()
    if summaries or fmt != "table":
        click.echo(render_experiments(summaries, fmt))
    else:
        click.echo("no runs yet", err=True)


@click.command()
@run_argument
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the run object as JSON.")
def show(run_ref: str | None, db: str | None, as_json: bool) -> None:
    """Show everything a run recorded."""
    import json

    from seedreg.cli.render import local_time, render_run

    registry = open_registry(db, readonly=True)
    record = record_of(registry, run_ref)
    replays = registry.replays_of(record.id)
    if as_json:
        click.echo(json.dumps({**record.to_json(), "replays": [r.to_json() for r in replays]}, indent=2))
        return
    click.echo(render_run(record))
    if replays:
        click.echo("replays:")
        for r in replays:
            click.echo(f"  {local_time(r.created_at)}  {(r.replay or '-')[:12]}  {r.verdict}")


@click.command(short_help="Compare two or more runs: seed, params, environment, outputs.")
@click.argument("runs", nargs=-1, metavar="RUN_A RUN_B [RUN]...")
@db_option
@click.option("--all", "show_all", is_flag=True, help="Show every row, not only the rows that differ.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when the runs differ in any row (like git diff --exit-code).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def diff(runs: tuple[str, ...], db: str | None, show_all: bool, exit_code: bool, as_json: bool) -> None:
    """Two or more runs side by side: seed, params, tags, results, environment, outputs; ✗ marks the
    rows that differ.

    Shows only the rows that differ unless --all. Digests and long seeds are shortened in the
    table (--json prints them whole; each run after the first is compared output by output with
    its original when that is given too, else with the first run, and a differing array says
    where). Exit 0 whether or not they differ; with --exit-code, 1 when any row differs; 2 for an
    unknown run.
    """
    import json

    from seedreg.cli.render import render_diff

    compared = open_registry(db, readonly=True).compare(runs)
    rows = compared.rows
    differing = [row for row in rows if row.differs]
    if as_json:
        click.echo(json.dumps(compared.to_json(), indent=2))
    elif show_all:
        click.echo(render_diff(compared, rows))
    elif differing:
        click.echo(render_diff(compared, differing))
        click.echo(f"{len(rows) - len(differing)} identical row(s) not shown; --all shows every row", err=True)
    else:
        click.echo(f"no differences in {len(rows)} rows (seed, params, tags, environment, outputs); --all shows them")
    if exit_code and differing:
        click.get_current_context().exit(1)
