"""Helpers of the pytest plugin's tests: how pytester loads it, the runs it recorded, the printed commands."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import seedreg

#: The plugin loads from its pytest11 entry point (named explicitly in an install without one);
#: Hypothesis's plugin is left out only because re-importing it costs half a second per run.
PLUGIN = [*([] if any(ep.value == "seedreg.pytest_plugin" for ep in metadata.entry_points(group="pytest11"))
            else ["-p", "seedreg.pytest_plugin"]), "-p", "no:hypothesispytest", "-p", "no:cacheprovider"]


def runs(path: Path) -> list[seedreg.RunRecord]:
    return seedreg.Registry(path).runs(limit=None)


def originals(path: Path) -> list[seedreg.RunRecord]:
    return seedreg.Registry(path).runs(limit=None, replays=False)


def printed_reproduce(output: str, selection: str) -> str:
    """The one ``reproduce:`` command a session printed that ends with ``selection`` (the test's node id
    when its file is under the session's directory)."""
    (line,) = {line.strip() for line in output.splitlines() if line.strip().startswith("reproduce: ")
               and line.strip().endswith(selection)}
    return line.removeprefix("reproduce: ")


def reproduce_command(output: str, nodeid: str) -> list[str]:
    """The printed command (``cd DIR && pytest …``) as argv from ``pytest`` on, without the ``cd`` and
    without the options this harness gave every session (:data:`PLUGIN`, which the command repeats)."""
    words = shlex.split(printed_reproduce(output, nodeid))
    assert words[0] == "cd" and words[2] == "&&", words
    command = words[3:]
    assert command[1:1 + len(PLUGIN)] == PLUGIN, command
    return [command[0], *command[1 + len(PLUGIN):]]


def run_printed(command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a printed command as printed, in a shell (``pytest`` is this interpreter's)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": path, **(env or {})})
