"""Commands that read runs: ``list``, ``show``, ``diff`` and ``experiments``."""

from __future__ import annotations

from typing import Any

import click

from seedreg.cli.options import db_option, filter_options, output_options, record_of, run_argument
from seedreg.registry.facade import Registry

#: ``list`` counts the runs that match up to this many, to say how many more exist.
COUNT_CAP = 1000

@click.command("list")
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


@click.command()
@db_option
@output_options
def experiments(db: str | None, fmt: str) -> None:
    """One row per experiment: runs, completed/failed, last run, seeds, NumPy versions, replay verdicts.

    Counts original runs that are not deleted; replays are the stored verdicts of their replays.
    """
    from seedreg.cli.render import render_experiments

    summaries = Registry(db).experiments()
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

    from seedreg.cli.render import render_run

    registry = Registry(db)
    record = record_of(registry, run_ref)
    replays = registry.replays_of(record.id)
    if as_json:
        click.echo(json.dumps({**record.to_json(), "replays": [r.to_json() for r in replays]}, indent=2))
        return
    click.echo(render_run(record))
    if replays:
        click.echo("replays:")
        for r in replays:
            click.echo(f"  {r.created_at.astimezone():%Y-%m-%d %H:%M:%S}  {(r.replay or '-')[:12]}  {r.verdict}")


@click.command()
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def diff(run_a: str, run_b: str, db: str | None, as_json: bool) -> None:
    """Two runs side by side: seed, params, environment, fingerprints (✗ marks differences)."""
    import json

    from seedreg.cli.render import render_diff

    block = Registry(db).diff(run_a, run_b)
    if as_json:
        a, b = block.original, block.replay
        data = block.to_json()
        data["a"], data["b"] = a.to_json(), b.to_json()
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render_diff(block))


