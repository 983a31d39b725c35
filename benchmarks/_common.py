"""Shared helpers of the benchmarks: timing whole processes and printing verdicts."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def process_seconds(argv: Sequence[str], *, repeat: int = 7, env: dict | None = None, cwd: str | None = None) -> float:
    """Median wall time of a whole process (its exit code must be 0)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(list(argv), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}, cwd=cwd)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def alternating(a: Sequence[str], b: Sequence[str], *, repeat: int = 9, env: dict | None = None,
                cwd: str | None = None) -> tuple[float, float]:
    """Median wall times of two commands run alternately, so drift hits both alike."""
    ta, tb = _alternate(a, b, repeat, env, cwd)
    return statistics.median(ta), statistics.median(tb)


def paired_difference(a: Sequence[str], b: Sequence[str], *, repeat: int = 21, env: dict | None = None,
                      cwd: str | None = None) -> tuple[float, float, float]:
    """Median wall times of two commands run alternately, and the median of what ``a`` took more than
    ``b`` pair by pair: the figure for an "at most ``b`` + X ms" target on a machine whose speed drifts."""
    ta, tb = _alternate(a, b, repeat, env, cwd)
    return statistics.median(ta), statistics.median(tb), statistics.median(x - y for x, y in zip(ta, tb))


def _alternate(a: Sequence[str], b: Sequence[str], repeat: int, env: dict | None,
               cwd: str | None) -> tuple[list[float], list[float]]:
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(process_seconds(a, repeat=1, env=env, cwd=cwd))
        tb.append(process_seconds(b, repeat=1, env=env, cwd=cwd))
    return ta, tb


def call_seconds(call: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of a call inside this process."""
    return statistics.median(_timed(call) for _ in range(repeat))


def paired_calls(call: Callable[[], object], floor: Callable[[], object], repeat: int = 9) -> tuple[float, float, float]:
    """Median times of ``call`` and of its ``floor``, run in turn in this process, and the median of
    their pair-by-pair ratios: a pair shares the machine's speed of the moment, so the ratio holds
    when that speed drifts (this machine class has bursts of CPU steal)."""
    took, floors, ratios = [], [], []
    for _ in range(repeat):
        a, b = _timed(call), _timed(floor)
        took.append(a)
        floors.append(b)
        ratios.append(a / b)
    return statistics.median(took), statistics.median(floors), statistics.median(ratios)


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def scale_folder(doc: str, keep: str) -> tuple[argparse.Namespace, Path, tempfile.TemporaryDirectory | None]:
    """``--runs N`` and ``--keep DIR`` of the benchmarks at scale: their arguments, their folder, and
    the temporary directory to clean up (None with ``--keep``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DIR", help=keep)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory() if not args.keep else None
    folder = Path(args.keep or tmp.name)  # type: ignore[union-attr]
    folder.mkdir(parents=True, exist_ok=True)
    return args, folder, tmp


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


PYTHON = sys.executable
