"""The ``seedreg`` command: each subcommand parses, calls :class:`seedreg.Registry`, and prints."""

from __future__ import annotations

import click

from seedreg.cli import checks, data, runs, schema, seeds, ui
from seedreg.cli.options import Group, db_option

#: Help text may use up to this many columns where the terminal is that wide.
HELP_WIDTH = 100


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": HELP_WIDTH})
@click.version_option(package_name="seedreg")
@db_option
def cli(db: str | None) -> None:
    """seedreg: record seeds, environments and data fingerprints of experiment runs.

    --db works before the subcommand (seedreg --db X list) or after it; after it wins.
    """


for _command in (runs.list_runs, runs.show, runs.diff, runs.experiments, checks.replay, checks.audit,
                 data.sql, data.delete, data.export, data.import_runs, data.sync, schema.db):
    cli.add_command(_command)
for _command in (ui.ui, ui.report):  # issue 15: the web app and the HTML report
    cli.add_command(_command)
for _command in (seeds.seeds, seeds.sweep):  # issue 13: seeds as a dimension
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``seedreg`` console script."""
    cli(prog_name="seedreg")
