"""What ``pytest --seedreg`` costs per test: plain pytest and ``--seedreg`` alternated in one run.

Run: ``python benchmarks/pytest_overhead.py``. Prints figures and ratios measured in this run.
Targets (issue 11): extra wall time per test <= 1 ms (median of 3 alternations) for 1,000
trivial tests, and the same for 300 tests whose modules import scipy and scikit-learn-like
stacks (the cost of a test must not grow with what the process has imported). The registry
exists before the timing (the first session of a suite creates it; that cost is not per test).
It also times, in this process, a block shaped like a test's run and a bare reseed, so the
figures say how much of a test's extra is the block and how much the plugin around it.
"""

from __future__ import annotations

import importlib.util
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PYTHON, verdict

ALTERNATIONS = 3
TRIVIAL_FILES, TRIVIAL_PER_FILE = 10, 100
STACK_FILES, STACK_PER_FILE = 10, 30
#: What the heavy suite's modules import (those installed): scipy and a scikit-learn-like stack.
STACK = ("scipy.stats", "scipy.sparse", "scipy.optimize", "scipy.linalg", "pandas", "sklearn.linear_model",
         "sklearn.model_selection", "sklearn.cluster")
PYTEST = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:hypothesispytest"]


def trivial_suite(root: Path) -> int:
    for f in range(TRIVIAL_FILES):
        body = "".join(f"def test_{i}():\n    assert {i} >= 0\n\n" for i in range(TRIVIAL_PER_FILE))
        (root / f"test_trivial_{f}.py").write_text(body)
    return TRIVIAL_FILES * TRIVIAL_PER_FILE


def stack_suite(root: Path) -> tuple[int, list[str]]:
    imported = [name for name in STACK if importlib.util.find_spec(name.partition(".")[0]) is not None]
    header = "import numpy as np\n" + "".join(f"import {name}\n" for name in imported)
    for f in range(STACK_FILES):
        body = "".join(f"def test_{i}():\n    assert np.random.random(8).shape == (8,)\n\n"
                       for i in range(STACK_PER_FILE))
        (root / f"test_stack_{f}.py").write_text(header + "\n" + body)
    return STACK_FILES * STACK_PER_FILE, imported


def seconds(argv: list[str]) -> float:
    """Wall time of one pytest session, which must pass (its output is shown when it does not)."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return elapsed


def alternated(suite: Path, db: Path, blocks: bool = False) -> tuple[float, float, tuple[float, float]]:
    """Median wall times of plain pytest and ``--seedreg`` on ``suite``, alternated; with ``blocks``,
    :func:`block_ms` too, taken in each alternation (the machine's load drifts)."""
    plain = [*PYTEST, str(suite)]
    seeded = [*PYTEST, "--seedreg", "--seedreg-db", str(db), str(suite)]
    seconds(seeded)  # creates the registry, warms the file cache
    seconds(plain)
    plain_times, seeded_times, block_times, reseed_times = [], [], [], []
    for _ in range(ALTERNATIONS):
        plain_times.append(seconds(plain))
        seeded_times.append(seconds(seeded))
        if blocks:
            block, reseed = block_ms(db.with_suffix(".blocks.db"))
            block_times.append(block)
            reseed_times.append(reseed)
    in_process = (statistics.median(block_times), statistics.median(reseed_times)) if blocks else (0.0, 0.0)
    return statistics.median(plain_times), statistics.median(seeded_times), in_process


def block_ms(db: Path, blocks: int = 300) -> tuple[float, float]:
    """In this process, median ms of a block shaped like a test's run (a 5-int sequence seed, five
    tags of the plugin's sizes, nothing logged, closed with the next batch) and of a bare reseed
    (save, seed, restore)."""
    import numpy as np

    import seedreg

    tags = {"nodeid": "tests/test_trivial_0.py::test_0", "session": "0" * 32, "root_seed": "2718281828",
            "reproduce": f"cd {db.parent} && pytest -p no:cacheprovider --seedreg-replay {'0' * 32} "
                         "tests/test_trivial_0.py::test_0", "seed_scheme": 2}
    url = str(db)
    with seedreg.run("warm", seed=1, db=url):
        pass
    block, reseed = [], []
    for i in range(blocks):
        start = time.perf_counter()
        run = seedreg.run(f"tests/test_trivial_0.py::test_{i}", seed=[2718281828, 1, 2, 3, i], tags=tags, db=url)
        run._close_later = True  # as the plugin's: a test that logged nothing closes with the writer's next batch
        with run:
            pass
        block.append(time.perf_counter() - start)
        start = time.perf_counter()
        saved = np.random.get_state(legacy=False), random.getstate()
        np.random.seed([2718281828, 1, 2, 3, i])
        random.seed(i)
        np.random.default_rng([2718281828, 1, 2, 3, i])
        np.random.set_state(saved[0])
        random.setstate(saved[1])
        reseed.append(time.perf_counter() - start)
    return statistics.median(block) * 1e3, statistics.median(reseed) * 1e3


def measure(name: str, suite: Path, tests: int, db: Path, fixed: float) -> bool:
    p, s, (block, reseed) = alternated(suite, db, blocks=True)
    extra_ms = (s - p) / tests * 1e3
    beside = (s - p - fixed) / tests * 1e3
    print(f"{name}: {tests} tests, plain pytest {p:.2f} s, --seedreg {s:.2f} s, ratio {s / p:.2f}x")
    print(f"  extra per test {extra_ms:.3f} ms (target <= 1 ms) {verdict(extra_ms <= 1)}; "
          f"{beside:.3f} ms beside the session's fixed {fixed:.2f} s: a block like a test's {block:.3f} ms "
          f"(timed in this process), the rest {beside - block:.3f} ms (the plugin's hooks, and the machine's noise)")
    print(f"  in this process: a block shaped like a test's run {block:.3f} ms, a bare reseed {reseed:.3f} ms "
          f"(block/reseed {block / reseed:.1f}x)")
    return extra_ms <= 1


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        one, trivial, stack = root / "one", root / "trivial", root / "stack"
        for folder in (one, trivial, stack):
            folder.mkdir()
        started = time.perf_counter()
        (one / "test_one.py").write_text("def test_one():\n    pass\n")
        p, s, _ = alternated(one, root / "one.db")  # what a session costs once: imports, the registry, the first run
        print(f"one test: plain pytest {p:.2f} s, --seedreg {s:.2f} s: the session's fixed cost {s - p:.2f} s")
        ok = measure("trivial tests", trivial, trivial_suite(trivial), root / "trivial.db", s - p)
        tests, imported = stack_suite(stack)
        print(f"(the next suite's modules import numpy, {', '.join(imported) or 'nothing else installed'})")
        ok = measure("tests importing scipy and a scikit-learn-like stack", stack, tests, root / "stack.db", s - p) and ok
        print(f"({time.perf_counter() - started:.0f} s)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
