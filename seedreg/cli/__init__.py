"""The ``seedreg`` command: each subcommand parses, calls :class:`seedreg.Registry`, and prints."""

from __future__ import annotations

from importlib import import_module

import click

from seedreg.cli.options import Group, db_option

#: Help text may use up to this many columns where the terminal is that wide.
HELP_WIDTH = 100

#: Each command, as ``module:function`` in :mod:`seedreg.cli`: imported when it runs or ``--help``
#: lists it, so that ``seedreg list`` pays for no other command's modules.
COMMANDS = {
    "list": "runs:list_runs", "show": "runs:show", "diff": "runs:diff", "experiments": "runs:experiments",
    "replay": "checks:replay", "audit": "checks:audit",
    "sql": "data:sql", "delete": "data:delete", "export": "data:export", "import": "data:import_runs",
    "sync": "data:sync", "db": "schema:db",
    "ui": "ui:ui", "report": "ui:report",  # issue 15: the web app and the HTML report
    "seeds": "seeds:seeds", "sweep": "seeds:sweep",  # issue 13: seeds as a dimension
}


class Commands(Group):
    """The ``seedreg`` group: its commands of :data:`COMMANDS`, each imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, function = COMMANDS[cmd_name].split(":")
            self.add_command(getattr(import_module(f"seedreg.cli.{module}"), function), cmd_name)
        return self.commands.get(cmd_name)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": HELP_WIDTH})
@click.version_option(package_name="seedreg")
@db_option
def cli(db: str | None) -> None:
    """seedreg: record seeds, environments and data fingerprints of experiment runs.

    --db works before the subcommand (seedreg --db X list) or after it; after it wins.
    """


def main() -> None:
    """Entry point of the ``seedreg`` console script."""
    cli(prog_name="seedreg")
