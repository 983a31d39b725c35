"""Commands that check runs: ``replay`` (re-run and compare) and ``audit`` (records intact, data matches)."""

from __future__ import annotations

import sys

import click

from seedreg.cli.options import CliError, db_option, open_registry, run_argument


@click.command(short_help="Re-run a run and compare its outputs block by block.")
@run_argument
@db_option
@click.option("--yes", "-y", is_flag=True, help="Run the recorded command without asking.")
@click.option("--dry-run", is_flag=True, help="Only print what would run; record nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--output", type=click.Path(dir_okay=False), metavar="PATH",
              help="A notebook run: write the executed notebook to PATH.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="A notebook run: stop at a cell that runs longer (default: no limit).")
def replay(run_ref: str | None, db: str | None, yes: bool, dry_run: bool, as_json: bool, output: str | None,
           timeout: float | None) -> None:
    """Re-run a run's command with its recorded seeds and compare outputs block by block.

    A notebook run is replayed by executing its notebook top to bottom in a fresh kernel.
    Exit 0: every block's data is identical; 1: something differs; 2: could not replay.
    """
    import json

    from seedreg.cli.render import describe_plan, render_replay

    registry = open_registry(db)
    plan = registry.replay_plan(run_ref, timeout=timeout, output=output)
    shown = describe_plan(plan)
    if dry_run:
        notebook = {"notebook": plan.notebook.to_json()} if plan.notebook else {}
        click.echo(json.dumps({"command": plan.argv, "cwd": plan.cwd, "notes": plan.notes, **notebook}) if as_json
                   else f"would run: {shown}")
        return
    for note in plan.notes:
        click.echo(f"note: {note}", err=True)
    if not yes:
        click.echo(f"replay will run: {shown}", err=True)
        try:
            agreed = click.confirm("Run it?", default=False, err=True)
            ended = not sys.stdin.isatty()  # a piped answer is not echoed: nothing ended the prompt's line
        except click.Abort:  # end of input
            agreed, ended = False, True
        if ended:  # end the prompt's line, so what follows (the error, the child's output) has its own
            click.echo(err=True)
        if not agreed:
            raise CliError("replay declined: nothing was run (pass --yes to run without asking)")
    result = registry.replay(plan)
    click.echo(json.dumps(result.to_json(), indent=2) if as_json else render_replay(result))
    click.get_current_context().exit(result.exit_code)


@click.command(short_help="Check that records are intact and the chain verifies.")
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

    from seedreg.cli.render import describe_where, render_audit

    registry = open_registry(db, readonly=True)
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


