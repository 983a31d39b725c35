"""Shared helpers of the benchmarks: timing whole processes and printing verdicts."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence


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
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(process_seconds(a, repeat=1, env=env, cwd=cwd))
        tb.append(process_seconds(b, repeat=1, env=env, cwd=cwd))
    return statistics.median(ta), statistics.median(tb)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


PYTHON = sys.executable
