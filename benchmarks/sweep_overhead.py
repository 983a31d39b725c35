"""What ``seedreg sweep`` costs over running the same commands one after another in a shell loop.

Run: ``python benchmarks/sweep_overhead.py [--seeds N] [--seconds S] [--repeat R]``. A single-threaded
script of about S seconds (default 2; its work is calibrated once) opens a seedreg block and logs a
result. Both sides run with ``OMP_NUM_THREADS=1`` and ``OPENBLAS_NUM_THREADS=1`` set by this benchmark
(the sweep itself never sets thread variables): N seeds (default 8) as
``for s in ...; do python script.py $s; done`` in ``sh``, against ``seedreg sweep --seeds N --jobs 1``
and ``--jobs 2``, alternately, R times (default 3), medians compared. Targets (issue 13): ``--jobs 1``
within 5 % of the loop; ``--jobs 2`` at most 0.6x the loop on 2 CPUs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

from _common import PYTHON, verdict

SCRIPT = """
    import sys
    import numpy as np
    import seedreg

    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    with seedreg.run("sweep-overhead", seed=seed, params={{"rounds": {rounds}}}) as run:
        a = run.rng.normal(size=(96, 96))
        total = 0.0
        for _ in range({rounds}):  # single-threaded work: small products and a Python loop around them
            a = np.tanh(a @ a.T / 96.0)
            total += float(a[0, 0])
        run.log("total", total)
"""
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def seconds_of(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    begin = time.perf_counter()
    subprocess.run(argv, check=True, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - begin


def calibrate(folder: Path, env: dict[str, str], target: float) -> Path:
    """The script with as many rounds as take about ``target`` seconds here (a whole process)."""
    script = folder / "work.py"
    rounds = 2000
    for _ in range(3):
        script.write_text(textwrap.dedent(SCRIPT.format(rounds=rounds)))
        took = seconds_of([PYTHON, str(script)], env, folder)
        rounds = max(1, int(rounds * target / took))
    script.write_text(textwrap.dedent(SCRIPT.format(rounds=rounds)))
    print(f"script: {rounds} rounds, {seconds_of([PYTHON, str(script)], env, folder):.2f} s as one process")
    return script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, **THREADS, "SEEDREG_DB": str(folder / "bench.db")}
        for name in ("SEEDREG_SWEEP", "SEEDREG_SWEEP_SEED", "SEEDREG_SWEEP_DB"):
            env.pop(name, None)
        script = calibrate(folder, env, args.seconds)
        seeds = " ".join(str(s) for s in range(args.seeds))
        loop = ["sh", "-c", f'for s in {seeds}; do "{PYTHON}" "{script}" "$s" || exit 1; done']
        sweep = [PYTHON, "-m", "seedreg", "sweep", "--seeds", str(args.seeds)]
        command = ["--", PYTHON, str(script)]
        times: dict[str, list[float]] = {"loop": [], "jobs 1": [], "jobs 2": []}
        for _ in range(args.repeat):
            times["loop"].append(seconds_of(loop, env, folder))
            times["jobs 1"].append(seconds_of([*sweep, "--jobs", "1", *command], env, folder))
            times["jobs 2"].append(seconds_of([*sweep, "--jobs", "2", *command], env, folder))
        loop_s, one, two = (statistics.median(times[k]) for k in ("loop", "jobs 1", "jobs 2"))
        print(f"{args.seeds} seeds, medians of {args.repeat}: shell loop {loop_s:.2f} s, sweep --jobs 1 {one:.2f} s, "
              f"--jobs 2 {two:.2f} s ({os.cpu_count()} CPUs)")
        print(f"sweep --jobs 1 / loop: {one / loop_s:.3f} (target <= 1.05) {verdict(one / loop_s <= 1.05)}")
        print(f"sweep --jobs 2 / loop: {two / loop_s:.3f} (target <= 0.60) {verdict(two / loop_s <= 0.60)}")


if __name__ == "__main__":
    main()
