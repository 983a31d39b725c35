"""Helpers shared by the tests: the ``seedreg`` command in-process and as a subprocess, and scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from seedreg.cli import cli
from seedreg.db import engines

REPO = Path(__file__).resolve().parent.parent


def invoke(*args: str, input: str | None = None) -> Result:
    """The ``seedreg`` command in-process; an exception that is not an exit propagates with its traceback."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def backend_url(backend: str) -> str:
    """The URL of the test's registry, checked to be on ``backend``: a PostgreSQL variant never runs SQLite."""
    url = engines.resolve_url()
    assert url.startswith("postgresql" if backend == "postgres" else "sqlite:///"), (backend, engines.mask_url(url))
    return url


def run_python(script: Path | str, *args: str, cwd: Path | None = None, env: dict | None = None,
               check: bool = True) -> subprocess.CompletedProcess:
    """Run a Python script in a real subprocess with the test's environment."""
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run([sys.executable, str(script), *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done


def seedreg_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real ``seedreg`` command as a subprocess (``python -m seedreg``)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "seedreg", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)


#: The columns of `seedreg list`'s table and CSV, in order.
LIST_COLUMNS = ["id", "experiment", "status", "seed", "numpy", "started", "duration", "outputs", "replay_of",
                "replayed", "params"]
