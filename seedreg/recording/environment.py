"""What a run records about where it ran: interpreter, platform, packages, command, git.

Facts that cannot change inside a process are collected once, and cheaply: the package list and
the platform string come from the per-user cache of :mod:`seedreg.installed` (rebuilt when a
site-packages folder's mtime changes); the process start time is read from ``/proc``; git runs
once per process and only where a ``.git`` is found walking up from the script's folder: one
``git status`` bounded by :data:`GIT_TIMEOUT`, which :func:`prefetch_git` starts while the rest of
seedreg imports.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

from seedreg import forks, installed
from seedreg.environment_record import EnvironmentRecord

#: Libraries with their own random state whose versions a run records when imported.
SEEDABLE_LIBRARIES = ("scipy", "sklearn", "pandas", "torch", "tensorflow", "jax", "numba", "cupy")
#: Seconds git may take to tell the commit and whether tracked files changed (after that: unknown).
GIT_TIMEOUT = 2.0


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


def installed_packages() -> dict[str, str]:
    """Map each distribution found on ``sys.path`` to its version (first one wins, as for imports)."""
    return installed.packages()


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
        platform=installed.platform_text(),
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


def _directory(script: str | None) -> str:
    """The folder whose git state a run records: its script's, else the working directory."""
    return os.path.dirname(script) if script else os.getcwd()


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


# -- git: one `git status` per process, started early, bounded ---------------------------------

_STATUS = ("status", "--porcelain=v2", "--branch", "--untracked-files=no")
_Started = tuple[subprocess.Popen[bytes], float]  # the process and when it started (monotonic)
_prefetched: dict[str, _Started] = {}  # directory -> the git status prefetch_git started for it
_git_lock = threading.Lock()


def _in_git_checkout(directory: str) -> bool:
    """Whether git could find a repository for ``directory``: a ``.git`` in it or a parent, or ``GIT_DIR`` set."""
    if os.environ.get("GIT_DIR"):
        return True
    folder = os.path.abspath(directory)
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return True
        parent = os.path.dirname(folder)
        if parent == folder:
            return False
        folder = parent


def _start_git(directory: str, *args: str, one_core: bool = False) -> _Started | None:
    """Start ``git -C directory args``; ``one_core``: it checks the tracked files' stat() on one thread."""
    # --no-optional-locks: never hold the index lock a git command of the user's may want.
    options = ("-c", "core.preloadIndex=false") if one_core else ()
    try:
        process = subprocess.Popen(["git", *options, "--no-optional-locks", "-C", directory, *args],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except (OSError, ValueError):  # no git executable, or a directory name that cannot be passed
        return None
    return process, time.monotonic()


def _output(started: _Started | None) -> str | None:
    """What a git process printed when it succeeded within :data:`GIT_TIMEOUT` of its start (else it is killed)."""
    if started is None:
        return None
    process, at = started
    try:  # a git that finished long ago (a prefetch) still gets a moment to hand over its output
        out, _ = process.communicate(timeout=max(at + GIT_TIMEOUT - time.monotonic(), 0.25))
    except subprocess.TimeoutExpired:
        _end(process)
        return None
    return out.decode("utf-8", "replace") if process.returncode == 0 else None


def _end(process: subprocess.Popen[bytes]) -> None:
    """Kill a git still running and reap it, without waiting for a child of its that holds the pipe open."""
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(1.0)
    if process.stdout is not None:
        process.stdout.close()


@functools.lru_cache(maxsize=16)
def git_state(directory: str) -> tuple[str | None, bool | None]:
    """The git commit of ``directory`` and whether tracked files differ from it; (None, None) without git.

    One ``git status`` (the one :func:`prefetch_git` started, if it was for this directory); none at
    all when no ``.git`` is found. When it fails or times out, ``rev-parse`` tells the commit alone.
    """
    with _git_lock:
        started = _prefetched.pop(directory, None)
    if started is None:
        if not _in_git_checkout(directory):
            return None, None
        started = _start_git(directory, *_STATUS)
    status = _output(started)
    if status is None:
        commit = _output(_start_git(directory, "rev-parse", "--verify", "-q", "HEAD")) if started else None
        return (commit.strip(), None) if commit and commit.strip() else (None, None)
    lines = status.splitlines()
    head = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), None)
    if head is None or head == "(initial)":  # a repository without a commit yet
        return None, None
    return head, any(not line.startswith("#") for line in lines)


def prefetch_git() -> None:
    """Start this process's ``git status`` now, to run while the rest of seedreg (and SQLAlchemy) imports.

    :func:`git_state` takes its output. Nothing is started outside a git checkout, or a second time.
    """
    directory = _directory(_launch()[1])
    with _git_lock:
        if directory in _prefetched or git_state.cache_info().currsize or not _in_git_checkout(directory):
            return
        # In a large checkout `git status` is mostly stat() calls (60,000 files: ~120 ms), which git spreads
        # over every core. While SQLAlchemy is still to be imported here (a script's first block) there
        # is that long to overlap: git on one core leaves the other to this process, and a block in such
        # a checkout took ~50 ms less on 2 cores. With nothing left to overlap, every core is faster.
        started = _start_git(directory, *_STATUS, one_core="sqlalchemy" not in sys.modules)
        if started is not None:
            if not _prefetched:
                atexit.register(_reap)
            _prefetched[directory] = started


def _reap() -> None:
    """At exit: end a prefetched git no block took."""
    with _git_lock:
        pending = list(_prefetched.values())
        _prefetched.clear()
    for process, _ in pending:
        _end(process)


@forks.after_fork
def _forget_parents_git() -> None:
    """In a forked child: the parent's prefetched git is the parent's to read."""
    global _git_lock
    for process, _ in _prefetched.values():
        if process.stdout is not None:
            process.stdout.close()
    _prefetched.clear()
    _git_lock = threading.Lock()


# -- the process ---------------------------------------------------------------------------------

def _process_started() -> float | None:
    """When this process started, in epoch seconds, computed as ``psutil.Process().create_time()`` does."""
    try:  # Linux: clock ticks from boot to the start (field 22 of /proc/self/stat), plus the boot time
        with open("/proc/self/stat", "rb") as handle:
            stat = handle.read()
        ticks = int(stat[stat.rindex(b")") + 2:].split()[19])
        with open("/proc/stat", "rb") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith(b"btime"))
        return float(ticks) / os.sysconf("SC_CLK_TCK") + boot
    except (OSError, ValueError, IndexError, StopIteration, AttributeError):
        pass
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # psutil unavailable or restricted /proc
        return None


def _username() -> str | None:
    """The login name, looked up as ``getpass.getuser()`` does (without importing getpass)."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        user = os.environ.get(name)
        if user:
            return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except Exception:  # no pwd module (Windows), or no entry for this uid (some containers)
        return None


@forks.after_fork
def _forget_parents_facts() -> None:
    _static_process_facts.cache_clear()


@functools.lru_cache(maxsize=1)
def _static_process_facts() -> tuple:
    launch, script, command = _launch()
    commit, dirty = git_state(_directory(script))
    return (
        socket.gethostname(), _username(), os.getpid(), _process_started(), launch, script,
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
