"""Running a sweep: store it, start each seed's process with ``SEEDREG_SWEEP*``, record how each ended.

Each process gets the sweep id, its seed and this registry's URL in its environment (and nothing
else changed: no thread variables, which would change results); its root blocks take the seed
(:mod:`seedreg.recording.substitution`). A seed's runs are the runs tagged with the sweep and
the seed that its process recorded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from seedreg.db import engines
from seedreg.errors import UsageError
from seedreg.recording.substitution import SWEEP_ENV, SWEEP_SEED_ENV
from seedreg.sweep import store
from seedreg.sweep.local import Interrupted, run_local
from seedreg.sweep.store import SeedOutcome

if TYPE_CHECKING:
    from seedreg.seeds.records import SeedGroup

#: Called before the first seed starts (outcome None) and as each seed ends: (seeds ended so far,
#: seeds this run of the sweep starts, the outcome).
Progress = Callable[[int, int, "SeedOutcome | None"], None]


@dataclass
class SweepResult:
    """A sweep's seeds (each seed's last outcome), its ``seeds`` groups, whether it was interrupted, and
    where each seed's output is (kept only when the sweep did not succeed)."""

    sweep: str
    seeds: list[SeedOutcome]
    logs: Path
    interrupted: bool = False
    groups: list[SeedGroup] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every seed's process exited 0 and recorded a block; 130 when interrupted; else 1."""
        if self.interrupted:
            return 130
        return 0 if all(outcome.ok for outcome in self.seeds) else 1

    def to_json(self) -> dict[str, Any]:
        return {"sweep": self.sweep, "seeds": [outcome.to_json() for outcome in self.seeds],
                "groups": [group.to_json() for group in self.groups]}


@dataclass(frozen=True)
class Plan:
    """What to run: a new sweep (``seeds`` from SPEC) or the failed seeds of ``retry``; where; on what."""

    command: Sequence[str] = ()
    seeds: Sequence[int] = ()
    spec: str = ""
    jobs: int | None = None
    dask: str | None = None
    retry: str | None = None


def run_sweep(engine: Engine, url: str, plan: Plan, progress: Progress | None = None) -> SweepResult:
    """Run (or retry) a sweep to its end, or until Ctrl-C; returns each seed's outcome."""
    client = None
    if plan.dask is not None:
        from seedreg.sweep import dask

        client = dask.client_for(plan.dask)
        dask.check_registry(client, url)
    try:
        return _run(engine, url, plan, client, progress)
    finally:
        if client is not None:
            client.close()


def _run(engine: Engine, url: str, plan: Plan, client: Any, progress: Progress | None) -> SweepResult:
    executor = "local" if client is None else f"dask {plan.dask}"
    if plan.retry is not None:
        with engine.connect() as conn:
            sweep_id = store.resolve(conn, plan.retry, engines.mask_url(url))
            record = store.load(conn, sweep_id)
        command, cwd = record.command, record.cwd
        if not Path(cwd).is_dir():
            raise UsageError(f"sweep {sweep_id[:12]} ran in {cwd}, which no longer exists")
        outcomes = {outcome.seed: outcome for outcome in record.seeds}
        todo = [outcome.seed for outcome in record.seeds if not outcome.ok]
    else:
        command, cwd, sweep_id = list(plan.command), os.getcwd(), uuid.uuid4().hex
        outcomes = {seed: SeedOutcome(seed, None) for seed in plan.seeds}
        todo = list(plan.seeds)
    if client is None and not _startable(command[0], cwd):
        raise UsageError(f"cannot run {command[0]!r}: no such executable (nothing was run)")
    if plan.retry is None:
        store.create(engine, sweep_id, command, cwd, plan.spec, executor, todo)
    logs = Path(tempfile.gettempdir()) / f"seedreg-sweep-{sweep_id[:12]}"
    logs.mkdir(parents=True, exist_ok=True)
    sweep_url = url if client is None else _task_url(url)
    environments = {seed: {**(os.environ if client is None else {}), SWEEP_ENV: sweep_id, SWEEP_SEED_ENV: str(seed),
                           engines.SWEEP_DB_ENV: sweep_url} for seed in todo}
    with engine.connect() as conn:
        before = {seed: store.runs_of(conn, sweep_id, seed) for seed in todo} if plan.retry else {}
    ended = 0
    if progress is not None:
        progress(0, len(todo), None)

    def done(seed: int, returncode: int, _output: Any = None) -> None:
        nonlocal ended
        if isinstance(_output, bytes):  # a Dask worker sent the output back
            (logs / f"seed-{seed}.log").write_bytes(_output)
        with engine.connect() as conn:
            runs = store.runs_of(conn, sweep_id, seed) - before.get(seed, set())
        outcome = outcomes[seed] = SeedOutcome(seed, returncode, tuple(sorted(runs)))
        store.finish(engine, sweep_id, outcome)
        ended += 1
        if progress is not None:
            progress(ended, len(todo), outcome)

    interrupted = False
    try:
        if client is None:
            run_local(command, cwd, environments, plan.jobs or os.cpu_count() or 1, logs, done)
        else:
            from seedreg.sweep.dask import run_dask

            run_dask(client, command, cwd, environments, sweep_id, done)
    except Interrupted as stopped:
        interrupted = True
        for seed, returncode in stopped.returncodes.items():
            if returncode is not None:
                done(seed, returncode)
    result = SweepResult(sweep_id, [outcomes[seed] for seed in outcomes], logs, interrupted)
    if not result.exit_code:  # the logs are kept when a seed failed or the sweep was interrupted
        shutil.rmtree(logs, ignore_errors=True)
    return result


def _startable(program: str, cwd: str) -> bool:
    """Whether ``program`` names an executable: a path (from ``cwd``), or a name on PATH."""
    if os.sep in program:
        path = Path(cwd, program)
        return path.is_file() and os.access(path, os.X_OK)
    return shutil.which(program) is not None


def _task_url(url: str) -> str:
    from seedreg.sweep.dask import without_password

    return without_password(url)


def log_tail(result: SweepResult, seed: int, lines: int = 10) -> list[str]:
    """The last lines a seed's process printed (its log is kept in ``result.logs``)."""
    path = result.logs / f"seed-{seed}.log"
    if not path.is_file():
        return []
    return path.read_text(errors="replace").splitlines()[-lines:]
