"""``seedreg seeds`` (results across seeds, nondeterminism found without replaying) and ``seedreg sweep``."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from seedreg.cli.options import CliError, db_option, open_registry, output_options

#: Tables show a group's params in at most this many characters.
PARAMS_CHARS = 40
_BARS = "▁▂▃▄▅▆▇█"


def _number(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def _params_text(params: dict[str, Any]) -> str:
    text = " ".join(f"{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in params.items())
    return text if len(text) <= PARAMS_CHARS else text[: PARAMS_CHARS - 1] + "…"


def _seeds_text(seeds: Sequence[str]) -> str:
    """A group's seeds in a few characters: ``0..9``, ``1,5,7`` or ``12 seeds``."""
    if all(s.isdigit() for s in seeds) and len(seeds) > 2:
        numbers = [int(s) for s in seeds]
        if numbers[-1] - numbers[0] == len(numbers) - 1:
            return f"{numbers[0]}..{numbers[-1]}"
    return ",".join(seeds) if len(seeds) <= 4 and sum(map(len, seeds)) <= 20 else f"{len(seeds)} seeds"


def spread(stats: Any) -> str:
    """min, a histogram of the finite values between, max: ``0.789 ▁▃█▅·▂ 0.840``."""
    if not stats.n_valid:
        return "no finite value"
    note = f" ({stats.n - stats.n_valid} not finite)" if stats.n_valid < stats.n else ""
    if stats.n_valid == 1 or stats.min == stats.max:
        return f"{_number(stats.min)} (all {stats.n_valid} equal){note}" if stats.n_valid > 1 else _number(stats.min) + note
    top = max(stats.histogram) or 1
    bars = "".join(_BARS[max(0, -(-count * len(_BARS) // top) - 1)] if count else "·" for count in stats.histogram)
    return f"{_number(stats.min)} {bars} {_number(stats.max)}{note}"


def _mean_std(mean: float | None, std: float | None) -> str:
    if mean is None:
        return ""
    return f"{_number(mean)} ± {_number(std, 2)}" if std is not None else _number(mean)


GROUP_HEADERS = ("experiment", "params", "n", "n_failed", "code", "seeds", "result", "result_n", "n_valid", "mean",
                 "std", "min", "max", "min_seeds", "max_seeds", "nondeterministic")
_STATS = ("n", "n_valid", "mean", "std", "min", "max", "min_seeds", "max_seeds")


def render_groups(groups: Sequence[Any], fmt: str) -> str:
    """``seeds`` groups: JSON as DESIGN §9 lays it out, CSV one row per group and result, a table for people."""
    from seedreg.cli.render import render

    if fmt == "json":
        return json.dumps([group.to_json() for group in groups], indent=2)
    rows = []
    for group in groups:
        data = group.to_json()
        for name, stats in (data["results"] or {"": None}).items():
            if fmt == "csv":
                values = [stats[field] for field in _STATS] if stats else [None] * len(_STATS)
                values[-2:] = [json.dumps(v) if v is not None else None for v in values[-2:]]
                rows.append([group.experiment, json.dumps(data["params"]), group.n, group.n_failed,
                             json.dumps(data["code"]), json.dumps(data["seeds"]), name or None, *values,
                             json.dumps(data["nondeterministic"])])
            else:
                shown = group.results.get(name)
                rows.append([group.experiment, _params_text(group.params), str(group.n), str(group.n_failed),
                             _seeds_text([s if isinstance(s, str) else ",".join(s) for s in data["seeds"]]),
                             name or "-", _mean_std(shown.mean, shown.std) if shown else "",
                             spread(shown) if shown else ""])
    if fmt == "csv":
        return render(rows, GROUP_HEADERS, "csv")
    table = render(rows, ["experiment", "params", "n", "failed", "seeds", "result", "mean ± std", "spread (min … max)"])
    odd = [f"✗ {group.experiment} {_params_text(group.params)}: output {item.output!r} differs between runs "
           f"{', '.join(run[:12] for run in item.runs)} of seed {item.to_json()['seed']} (same params, seed, code "
           "and environment: nondeterministic)"
           for group in groups for item in group.nondeterministic]
    return "\n".join([table, *odd])


PAIRED_HEADERS = ("experiment", "params", "key", "a", "b", "result", "n", "mean", "std", "a_higher", "b_higher", "ties")


def render_paired(groups: Sequence[Any], fmt: str, a: str, b: str) -> str:
    """``seeds --vs``: per group and result, B - A over the seeds both ran."""
    from seedreg.cli.render import render

    if fmt == "json":
        return json.dumps([group.to_json() for group in groups], indent=2)
    rows = []
    for group in groups:
        data = group.to_json()
        for name, stats in data["results"].items():
            if fmt == "csv":
                rows.append([group.experiment, json.dumps(data["params"]), group.key, json.dumps(data["a"]),
                             json.dumps(data["b"]), name, *(stats[field] for field in PAIRED_HEADERS[6:])])
            else:
                rows.append([group.experiment, _params_text(group.params), name, str(stats["n"]),
                             _mean_std(stats["mean"], stats["std"]), str(stats["a_higher"]), str(stats["b_higher"]),
                             str(stats["ties"])])
    if fmt == "csv":
        return render(rows, PAIRED_HEADERS, "csv")
    table = render(rows, ["experiment", "params", "result", "pairs", "B - A: mean ± std", "A higher", "B higher", "ties"])
    return f"A: {a}   B: {b}   (per seed both ran)\n{table}"


@click.command(short_help="Results across seeds: mean ± std per group, failed runs, nondeterminism.")
@click.argument("experiments", nargs=-1, metavar="[EXPERIMENT]...")
@click.option("--experiment", "-e", "named", multiple=True, metavar="EXPERIMENT",
              help="Only this experiment (repeatable; the same as naming it as an argument).")
@click.option("--by", multiple=True, metavar="KEY",
              help="Group only by this param (repeatable; a run without it groups under null). Default: all params.")
@click.option("--result", "results", multiple=True, metavar="NAME", help="Only this result (repeatable).")
@click.option("--sweep", metavar="ID", help="Only the runs of this sweep (an id or unique prefix).")
@click.option("--split-code", is_flag=True, help="Also split groups by script digest (changed code: another group).")
@click.option("--vs", multiple=True, metavar="KEY=V",
              help="Twice, --vs KEY=A --vs KEY=B: B against A seed by seed (pairs, mean and std of B - A, "
                   "how many seeds favour each).")
@db_option
@output_options
def seeds(experiments: tuple[str, ...], named: tuple[str, ...], by: tuple[str, ...], results: tuple[str, ...],
          sweep: str | None, split_code: bool, vs: tuple[str, ...], db: str | None, fmt: str) -> None:
    """Completed original runs grouped by experiment and params, differing only in their seed.

    Per group: completed runs (n), failed, interrupted and crashed ones (failed: left out of the
    statistics, shown so a spread is never survivorship), seeds, and per result mean ± sample std,
    min and max over its finite values. Outputs that differ between runs with the same params, seed,
    spawn key, script and environment are listed as nondeterministic.
    """
    registry = open_registry(db, readonly=True)
    experiments += named
    options: dict[str, Any] = {"by": by or None, "results": results, "sweep": sweep, "split_code": split_code}
    if vs:
        if len(vs) != 2:
            raise CliError("--vs takes two configurations: --vs KEY=A --vs KEY=B")
        found: list[Any] = registry.paired(vs[0], vs[1], experiments, **options)
        text = render_paired(found, fmt, vs[0], vs[1])
    else:
        found = registry.seeds(experiments, **options)
        text = render_groups(found, fmt)
    if found or fmt != "table":
        click.echo(text)
    else:
        click.echo("no completed or failed original runs match", err=True)


class _Progress:
    """A one-line progress bar on stderr when it is a terminal."""

    def __init__(self) -> None:
        self.shown = sys.stderr.isatty()
        self.failed = 0

    def __call__(self, ended: int, total: int, outcome: Any) -> None:
        if outcome is not None and not outcome.ok:
            self.failed += 1
        if self.shown:
            filled = ended * 30 // max(total, 1)
            failed = f", {self.failed} failed" if self.failed else ""
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {ended}/{total} seeds{failed}")
            sys.stderr.write("\n" if ended == total else "")
            sys.stderr.flush()


@click.command(short_help="Run a command once per seed; every root block takes that seed.",
               context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--seeds", "spec", metavar="SPEC",
              help="K (seeds 0..K-1), A..B (inclusive), 1,5,7, or random:K (K fresh 32-bit seeds, printed first).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Seeds run at once here (default: the number of CPUs).")
@click.option("--dask", metavar="ADDRESS",
              help="Submit each seed to the running Dask scheduler at ADDRESS instead (needs distributed).")
@click.option("--retry", metavar="ID", help="Run again the seeds of sweep ID that failed or recorded no block.")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the sweep's seeds and groups as JSON.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="-- COMMAND [ARG]...")
def sweep(spec: str | None, jobs: int | None, dask: str | None, retry: str | None, db: str | None, as_json: bool,
          command: tuple[str, ...]) -> None:
    """Run COMMAND once per seed (never through a shell); every root block in it takes that seed.

    Each run gets the tags seedreg.sweep and seedreg.sweep_seed and records into this registry
    (it wins over db= in the code). A failing seed does not stop the others. At the end: the
    sweep id and the `seeds` table of its runs. Exit 0 when every seed's process exited 0 and
    recorded a block, else 1; Ctrl-C stops every seed (SIGINT, SIGTERM after 10 s) and exits 130.
    """
    from seedreg.sweep.runner import Plan, log_tail
    from seedreg.sweep.spec import parse

    if retry is not None and (spec is not None or command):
        raise CliError("--retry runs the sweep's own command and seeds: give no --seeds and no COMMAND")
    if retry is None and (spec is None or not command):
        raise CliError("give --seeds SPEC and a COMMAND after --, or --retry ID")
    if dask is not None and jobs is not None:
        raise CliError("--jobs is for local processes; with --dask the scheduler's workers run the seeds")
    chosen = parse(spec) if spec is not None else []
    if spec is not None and spec.strip().startswith("random:"):
        click.echo("seeds: " + " ".join(map(str, chosen)), err=True)
    result = open_registry(db).sweep(Plan(command, chosen, spec or "", jobs, dask, retry), _Progress())
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(f"sweep {result.sweep}")
        click.echo(render_groups(result.groups, "table") if result.groups else "no seed recorded a block")
    for outcome in result.seeds:
        if outcome.returncode is not None and not outcome.ok:
            why = ([f"exit code {outcome.returncode}"] if outcome.returncode else []) + (
                [] if outcome.runs else ["no seedreg block ran"])
            click.echo(f"seed {outcome.seed}: {'; '.join(why)}", err=True)
            for line in log_tail(result, outcome.seed):
                click.echo(f"  | {line}", err=True)
    if result.exit_code:
        click.echo(f"logs of every seed: {result.logs}", err=True)
    if result.interrupted:
        click.echo(f"interrupted: `seedreg sweep --retry {result.sweep[:12]}` runs the seeds that did not finish",
                   err=True)
    click.get_current_context().exit(result.exit_code)
