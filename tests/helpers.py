"""Helpers for tests that drive real subprocesses: scripts and the ``seedreg`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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
