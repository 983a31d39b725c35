"""What a run records about where it ran: interpreter, platform, packages, command, git.

Facts that cannot change inside a process are collected once and cached; the package
snapshot is read from the ``*.dist-info`` folder names on ``sys.path`` (no metadata
parsing), so recording it costs a few milliseconds once per process.
"""

from __future__ import annotations

import functools
import getpass
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

from seedreg import forks
from seedreg.records import EnvironmentRecord

#: Libraries with their own random state whose versions a run records when imported.
SEEDABLE_LIBRARIES = ("scipy", "sklearn", "pandas", "torch", "tensorflow", "jax", "numba", "cupy")

_DIST_RE = re.compile(r"^(?P<name>.+?)-(?P<version>[^-]+?)\.(?:dist-info|egg-info)$")


@dataclass(frozen=True)
class ProcessFacts:
    """The process a run lives in and how to re-execute it."""

    hostname: str
    username: str | None
    pid: int
    process_started: float | None
    executable: str
    argv: list[str]
    command: list[str]
    launch: str  # "script" | "module" | "interactive" (a block in a notebook's kernel: see launch_of)
    script_path: str | None
    script_digest: str | None
    pythonhashseed: str | None
    git_commit: str | None
    git_dirty: bool | None


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_packages() -> dict[str, str]:
    """Map each distribution found on ``sys.path`` to its version (first one wins, as for imports)."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            match = _DIST_RE.match(name)
            if match:
                found.setdefault(_normalise(match["name"]), match["version"])
    return dict(sorted(found.items()))


def _numpy_facts() -> tuple[str | None, str | None]:
    """NumPy's version and BLAS, read the same way whatever else the process imported (a block
    always has NumPy: it seeds ``np.random``)."""
    import numpy

    try:
        from numpy import __config__ as config

        deps = config.CONFIG["Build Dependencies"]["blas"]
        blas = f"{deps.get('name')} {deps.get('version')}".strip()
    except Exception:  # older NumPy: no cheap structured config
        blas = None
    return numpy.__version__, blas


@functools.lru_cache(maxsize=1)
def environment() -> EnvironmentRecord:
    """This process's environment (computed once)."""
    numpy_version, blas = _numpy_facts()
    return EnvironmentRecord(
        python_version=platform.python_version(),
        python_implementation=platform.python_implementation(),
        platform=platform.platform(),
        machine=platform.machine(),
        numpy_version=numpy_version,
        blas=blas,
        packages=installed_packages(),
    )


def imported_libraries() -> dict[str, str]:
    """Versions of seedable libraries imported in this process right now."""
    versions = {}
    for name in SEEDABLE_LIBRARIES:
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "unknown"))
    return versions


def _launch() -> tuple[str, str | None, list[str]]:
    """How this process was started: (kind, script file, command to re-execute it)."""
    main = sys.modules.get("__main__")
    orig = list(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    command = [sys.executable, *orig[1:]]
    spec = getattr(main, "__spec__", None)
    main_file = getattr(main, "__file__", None)
    # ``python -`` (code piped on stdin, ``__file__`` "<stdin>") has no command to re-execute, like ``-c``.
    piped = sys.argv[:1] == ["-"] or main_file == "<stdin>"
    if sys.argv and sys.argv[0] in ("-c", "") or piped or main_file is None or "ipykernel" in sys.modules:
        return "interactive", None, command
    if spec is not None and spec.name:
        return "module", os.path.abspath(main_file), command
    return "script", os.path.abspath(main_file), command


def launch_of(facts: ProcessFacts, notebook: Mapping[str, Any] | None) -> str:
    """A block's launch: ``notebook`` when it opened in a Jupyter kernel whose notebook was found
    (DESIGN §8); else the process's (a kernel without one is ``interactive``)."""
    return "notebook" if notebook and notebook.get("path") else facts.launch


def file_digest(path: str | os.PathLike[str]) -> str | None:
    """``blake3:<hex>`` of a file's bytes, or None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return "blake3:" + blake3.blake3(handle.read()).hexdigest()
    except OSError:
        return None


@functools.lru_cache(maxsize=16)
def git_state(directory: str) -> tuple[str | None, bool | None]:
    """The git commit of ``directory`` and whether tracked files differ from it; (None, None) without git."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", directory, *args],
                capture_output=True, text=True, timeout=10, check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit.strip(), (bool(status.strip()) if status is not None else None)


def _process_started() -> float | None:
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # psutil unavailable or restricted /proc
        return None


@forks.after_fork
def _forget_parents_facts() -> None:
    _static_process_facts.cache_clear()


@functools.lru_cache(maxsize=1)
def _static_process_facts() -> tuple:
    launch, script, command = _launch()
    directory = os.path.dirname(script) if script else os.getcwd()
    commit, dirty = git_state(directory)
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = None
    return (
        socket.gethostname(), user, os.getpid(), _process_started(), launch, script,
        file_digest(script) if script else None, command, commit, dirty,
    )


def process_facts() -> ProcessFacts:
    """Facts about this process; cached, and recomputed in a forked child (new pid)."""
    host, user, pid, started, launch, script, digest, command, commit, dirty = _static_process_facts()
    return ProcessFacts(
        hostname=host, username=user, pid=pid, process_started=started,
        executable=sys.executable, argv=list(sys.argv), command=command, launch=launch,
        script_path=script, script_digest=digest,
        pythonhashseed=os.environ.get("PYTHONHASHSEED"),
        git_commit=commit, git_dirty=dirty,
    )


def script_changed(path: str | None, digest: str | None) -> bool:
    """Whether a recorded script's file no longer has the recorded digest."""
    if not path:
        return False
    return file_digest(Path(path)) != digest
