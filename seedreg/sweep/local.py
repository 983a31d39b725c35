"""Seeds as local processes: at most ``jobs`` at a time, each COMMAND in its own process group, no shell.

Ctrl-C (KeyboardInterrupt in the sweep) sends SIGINT to every running seed's process group, so its
blocks end ``interrupted``; groups still alive after :data:`GRACE_SECONDS` get SIGTERM, and SIGKILL
after as long again, so nothing the sweep started is left running.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

#: How long seeds have to end after SIGINT before SIGTERM (and after SIGTERM before SIGKILL).
GRACE_SECONDS = 10.0

#: Called as each seed's process ends: (seed, exit code, its log file).
Done = Callable[[int, int, Path], None]


class Interrupted(Exception):
    """The sweep was interrupted; ``returncodes`` has the seeds whose processes were running then."""

    def __init__(self, returncodes: dict[int, int]) -> None:
        super().__init__("interrupted")
        self.returncodes = returncodes


@dataclass
class _Job:
    seed: int
    process: subprocess.Popen
    log: IO[bytes]
    path: Path


def run_local(command: Sequence[str], cwd: str, environments: Mapping[int, Mapping[str, str]], jobs: int,
              logs: Path, done: Done) -> None:
    """Run ``command`` once per seed of ``environments`` (in order), calling ``done`` as each ends.

    Raises :class:`Interrupted` after stopping every running seed on KeyboardInterrupt.
    """
    pending = list(environments)
    pending.reverse()
    running: dict[int, _Job] = {}
    ended: queue.Queue[_Job] = queue.Queue()
    try:
        while pending or running:
            while pending and len(running) < jobs:
                seed = pending.pop()
                job = _start(command, cwd, environments[seed], seed, logs)
                running[seed] = job
                threading.Thread(target=_wait, args=(job, ended), daemon=True).start()
            job = _next(ended)
            del running[job.seed]
            job.log.close()
            done(job.seed, job.process.returncode, job.path)
    except KeyboardInterrupt:
        stop(running.values())
        raise Interrupted({job.seed: job.process.returncode for job in running.values()}) from None


def _start(command: Sequence[str], cwd: str, env: Mapping[str, str], seed: int, logs: Path) -> _Job:
    path = logs / f"seed-{seed}.log"
    log = open(path, "wb")
    try:
        process = subprocess.Popen(list(command), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as error:  # it started for the seeds before (checked up front): count it as failed
        log.write(f"seedreg sweep: cannot start {command[0]}: {error.strerror or error}\n".encode())
        return _Job(seed, _Failed(127), log, path)  # type: ignore[arg-type]
    return _Job(seed, process, log, path)


class _Failed:
    """A process that could not start: it has ended, with ``returncode``."""

    pid = -1

    def __init__(self, returncode: int) -> None:
        self.returncode = returncode

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode

    def poll(self) -> int:
        return self.returncode


def _wait(job: _Job, ended: queue.Queue) -> None:
    job.process.wait()
    ended.put(job)


def _next(ended: queue.Queue) -> _Job:
    while True:  # a timeout, so that Ctrl-C is seen at once on every platform
        try:
            return ended.get(timeout=0.5)
        except queue.Empty:
            continue


def stop(jobs: Iterable[_Job]) -> None:
    """SIGINT to each job's process group; SIGTERM to those alive after the grace, then SIGKILL."""
    jobs = [job for job in jobs if job.process.pid > 0]
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        alive = [job for job in jobs if _group_alive(job)]
        if not alive:
            break
        for job in alive:
            _signal(job, number)
        _wait_for(alive, GRACE_SECONDS if number != signal.SIGKILL else 5.0)
    for job in jobs:
        job.process.wait()
        job.log.close()


def _signal(job: _Job, number: int) -> None:
    try:
        os.killpg(job.process.pid, number)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(job: _Job) -> bool:
    """Whether anything of the job's process group still runs (its leader reaped once it exits)."""
    job.process.poll()
    try:
        os.killpg(job.process.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return job.process.returncode is None or _members(job.process.pid)


def _members(group: int) -> bool:
    """Whether a process group has a member that is not a zombie (grandchildren may outlive the leader)."""
    import psutil

    for process in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(process.pid) == group and process.status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return False


def _wait_for(jobs: Sequence[_Job], seconds: float) -> None:
    """Wait until every job's group is gone or ``seconds`` pass; a second Ctrl-C ends the wait."""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and any(_group_alive(job) for job in jobs):
            time.sleep(0.05)
    except KeyboardInterrupt:
        return
