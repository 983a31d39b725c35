"""Is the process that opened a run still alive? Tells a running run from a crashed one."""

from __future__ import annotations

import functools
import socket


@functools.lru_cache(maxsize=1)
def this_host() -> str:
    return socket.gethostname()


def process_alive(pid: int, started: float | None) -> bool:
    """Whether ``pid`` is alive and is the same process (pids are reused: compare start times)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if started is not None and abs(process.create_time() - started) > 1.0:
            return False
        return process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def crashed(hostname: str, pid: int, started: float | None) -> bool:
    """A running run on this host whose process is gone has crashed (other hosts: see heartbeat)."""
    return hostname == this_host() and not process_alive(pid, started)
