"""Seeds on a running Dask scheduler (``--dask ADDRESS``): one task per seed runs COMMAND on a worker.

A SQLite registry is refused unless every worker runs on this machine (a ``LocalCluster``). The
registry URL a task carries has no password: a worker finds it in its own environment (the same
URL in its ``SEEDREG_DB``, or the driver's own variables, such as libpq's ``PGPASSWORD``). Ctrl-C
signals the seeds' process groups on every worker (SIGINT, then SIGTERM after the grace).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from seedreg.db import engines
from seedreg.errors import UsageError
from seedreg.sweep.local import GRACE_SECONDS, Interrupted

#: A failing seed's output sent back from its worker: its last this many bytes.
TAIL_BYTES = 64 * 1024
#: Process groups of the seeds each worker process runs now, by sweep id (read by :func:`signal_sweep`).
_RUNNING: dict[str, set[int]] = {}
#: Sweeps stopped (Ctrl-C): their seeds not started yet on this worker process do not start.
_STOPPED: set[str] = set()


def client_for(address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address`` (UsageError without distributed or a scheduler)."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--dask needs the `distributed` package: pip install 'seedreg[dask]'") from None
    try:
        return Client(address, timeout=30, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise UsageError(f"--dask: cannot reach a Dask scheduler at {address}: {error}") from None


def check_registry(client: Any, url: str) -> None:
    """A SQLite registry only when every worker runs on this machine."""
    if engines.sqlite_path(url) is None:
        return
    hosts = set(client.run(socket.gethostname).values())
    if not hosts:
        raise UsageError("--dask: the scheduler has no workers")
    elsewhere = sorted(hosts - {socket.gethostname()})
    if elsewhere:
        raise UsageError(f"--dask with a SQLite registry needs every worker on this machine (a LocalCluster); "
                         f"workers run on {', '.join(elsewhere)}: use a server registry (PostgreSQL) with --db")


def without_password(url: str) -> str:
    """The URL as tasks carry it: its password removed (a worker's environment supplies it)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed._replace(password=None).render_as_string(hide_password=False) if parsed.password else url


def run_dask(client: Any, command: Sequence[str], cwd: str, environments: Mapping[int, Mapping[str, str]],
             sweep_id: str, done: Callable[[int, int, bytes], None]) -> None:
    """Submit one task per seed (``environments``: the SEEDREG_SWEEP* variables of each), ``done`` as each ends."""
    from distributed import as_completed

    futures = {client.submit(run_seed, list(command), cwd, dict(env), sweep_id, key=f"seedreg-sweep-{sweep_id}-{seed}",
                             pure=False): seed for seed, env in environments.items()}
    pending = set(futures)
    try:
        for future in as_completed(futures, loop=client.loop):
            pending.discard(future)
            try:
                returncode, tail = future.result()
            except Exception as error:  # the worker died, or the task could not run there
                returncode, tail = -1, f"seedreg sweep: the task failed on its worker: {error}\n".encode()
            if returncode is not None:
                done(futures[future], returncode, tail)
    except KeyboardInterrupt:
        for number, seconds in ((signal.SIGINT, GRACE_SECONDS), (signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, 5.0)):
            client.run(signal_sweep, sweep_id, int(number))
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not all(future.done() for future in pending):
                time.sleep(0.05)
            if all(future.done() for future in pending):
                break
        returncodes = {futures[f]: f.result()[0] for f in pending
                       if f.status == "finished" and f.result()[0] is not None}
        client.cancel(list(pending))
        raise Interrupted(returncodes) from None


def run_seed(command: list[str], cwd: str, env: dict[str, str], sweep_id: str) -> tuple[int | None, bytes]:
    """On a worker: run one seed's command in its own process group; (exit code, the output's tail), or
    (None, b"") when the sweep was stopped before this seed started."""
    from seedreg.db.engines import SWEEP_DB_ENV

    if sweep_id in _STOPPED:
        return None, b""
    full = {**os.environ, **env}
    full[SWEEP_DB_ENV] = _with_password(env[SWEEP_DB_ENV])
    if not Path(cwd).is_dir():
        return 127, f"seedreg sweep: {cwd} does not exist on worker {socket.gethostname()}\n".encode()
    with tempfile.TemporaryFile() as log:
        try:
            process = subprocess.Popen(command, cwd=cwd, env=full, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as error:
            return 127, f"seedreg sweep: cannot start {command[0]} on {socket.gethostname()}: {error}\n".encode()
        _RUNNING.setdefault(sweep_id, set()).add(process.pid)
        try:
            returncode = process.wait()
        finally:
            _RUNNING[sweep_id].discard(process.pid)
        log.seek(max(0, log.tell() - TAIL_BYTES))
        return returncode, log.read()


def signal_sweep(sweep_id: str, number: int) -> int:
    """On each worker (``client.run``): stop this sweep's seeds from starting and signal the process groups
    of those running; how many."""
    _STOPPED.add(sweep_id)
    groups = list(_RUNNING.get(sweep_id, ()))
    for group in groups:
        try:
            os.killpg(group, number)
        except (ProcessLookupError, PermissionError):
            pass
    return len(groups)


def _with_password(url: str) -> str:
    """A password-less URL completed from this worker's ``SEEDREG_DB`` when that names the same database."""
    from sqlalchemy.engine import make_url

    mine = os.environ.get("SEEDREG_DB", "")
    if "://" not in url or "://" not in mine:
        return url
    try:
        theirs, ours = make_url(url), make_url(mine)
    except Exception:
        return url
    if ours.password and theirs.password is None and ours._replace(password=None) == theirs:
        return mine
    return url
