"""The ``seedreg`` command: each subcommand parses, calls :class:`seedreg.Registry`, and prints."""

from __future__ import annotations

import click

from seedreg.cli import checks, data, runs, schema
from seedreg.cli.options import Group


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="seedreg")
def cli() -> None:
    """seedreg: record seeds, environments and data fingerprints of experiment runs."""


for _command in (runs.list_runs, runs.show, runs.diff, runs.experiments, checks.replay, checks.audit,
                 data.sql, data.delete, data.export, data.import_runs, data.sync, schema.db):
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``seedreg`` console script."""
    cli(prog_name="seedreg")
