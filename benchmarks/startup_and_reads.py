"""Reads at the speed of the database (issue 14): each figure against its floor, measured in this run.

Run: ``python benchmarks/startup_and_reads.py [--runs 10000] [--export-runs 0]``. Targets:
- ``seedreg --help`` and ``seedreg list --help``: <= 2x ``python -c 'import seedreg'``;
- ``seedreg list`` (20 rows): <= ``python -c "import sqlalchemy; import click"`` + 60 ms;
- ``Registry.runs(limit=None)`` and ``export`` of every run: <= 3x a raw ``sqlite3`` fetch of the
  same rows (runs + params + tags + fingerprints) in the same process;
- a new process recording one run on an existing registry: <= ``python -c "import numpy, sqlalchemy"``
  + 80 ms, outside a git checkout, inside this one, and inside a large one (60,000 tracked files,
  made here);
- ``export`` of ``--export-runs`` runs (e.g. 1,000,000): peak RSS under 200 MiB.

"+ N ms" targets are judged by the median of the differences of alternate runs, ratios by the
median of the ratios of alternate calls: this machine class drifts in speed.
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from _common import PYTHON, alternating, paired_calls, paired_difference, verdict
from sqlalchemy import insert, select

import seedreg
from seedreg.db import engines
from seedreg.db.tables import fingerprint_table, param_table, run_table, tag_table

REPO = Path(__file__).resolve().parents[1]


def build(db: str, runs: int) -> None:
    """One real run, then its rows cloned under new ids (in batches): a registry of ``runs`` runs."""
    with seedreg.run("template", seed=1, params={"lr": 0.1, "model": {"depth": 3}}, tags={"stage": "x"}, db=db) as run:
        run.log("a", run.rng.normal(size=100))
        run.log("b", run.rng.integers(0, 10, size=50))
    engine = engines.engine_for(engines.resolve_url(db))
    with engine.begin() as conn:
        row = dict(conn.execute(select(run_table).where(run_table.c.id == run.id)).one()._mapping)
        children = {table: [dict(r._mapping) for r in conn.execute(select(table).where(table.c.run_id == run.id))]
                    for table in (fingerprint_table, param_table, tag_table)}
    for start in range(0, runs - 1, 50_000):
        batch: dict = {run_table: [], fingerprint_table: [], param_table: [], tag_table: []}
        for i in range(start, min(runs - 1, start + 50_000)):
            new_id = uuid.uuid4().hex
            batch[run_table].append({**row, "id": new_id, "experiment": f"exp{i % 10}", "seed": str(100 + i % 10),
                                  "started_at": row["started_at"] - timedelta(seconds=i + 1)})
            for table, rows in children.items():
                batch[table] += [{**r, "run_id": new_id} for r in rows]
        with engine.begin() as conn:
            for table, rows in batch.items():
                conn.execute(insert(table), rows)


def large_checkout(folder: Path, files: int = 60_000) -> Path:
    """A committed git checkout of ``files`` small tracked files, 300 to a folder."""
    folder.mkdir()
    for i in range(files):
        package = folder / f"pkg{i // 300}"
        package.mkdir(exist_ok=True)
        (package / f"m{i % 300}.py").write_text(f"x = {i}\n")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=bench", "-c", "user.email=bench@localhost",
                                                "commit", "-q", "-m", "files"]):
        subprocess.run(["git", "-C", str(folder), *args], check=True)
    return folder


def raw_fetch(path: str, where: str = "", args: tuple = ()) -> int:
    """The floor: every row of runs, params, tags and fingerprints the records need, with sqlite3."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(f"SELECT * FROM runs {where}", args).fetchall()
        joined = f"JOIN runs ON runs.id = t.run_id {where}" if where else ""
        for table in ("params", "tags", "fingerprints"):
            rows += conn.execute(f"SELECT t.* FROM {table} AS t {joined}", args).fetchall()
        return len(rows)
    finally:
        conn.close()


def line(name: str, value: float, floor: float, target: float, unit: str = "s") -> None:
    print(f"  {name}: {value:.3f} {unit}; floor {floor:.3f} {unit}; target {target:.3f} {unit} {verdict(value <= target)}")


def plus(name: str, value: float, floor: float, more: float, allowed: float) -> None:
    """A "floor + allowed" target, judged by the median of the pair-by-pair differences."""
    print(f"  {name}: {value:.3f} s; floor {floor:.3f} s; {1000 * more:+.0f} ms over it (median of pairs); "
          f"target +{1000 * allowed:.0f} ms {verdict(more <= allowed)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--export-runs", type=int, default=0, help="also measure export's peak RSS at this size")
    options = parser.parse_args()
    # Bytecode as an installed wheel has it (pip compiles at install; an editable checkout under
    # PYTHONDONTWRITEBYTECODE would otherwise compile every module of seedreg in every process).
    compileall.compile_dir(str(Path(seedreg.__file__).parent), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        build(db, options.runs)
        env = {"SEEDREG_DB": db}
        print(f"registry of {options.runs:,} runs")

        imported, _ = alternating([PYTHON, "-c", "import seedreg"], [PYTHON, "-c", "pass"], env=env)
        for argv in (["--help"], ["list", "--help"]):
            took, floor = alternating([PYTHON, "-m", "seedreg", *argv], [PYTHON, "-c", "import seedreg"], env=env)
            line(f"seedreg {' '.join(argv)}", took, floor, 2 * floor)

        took, floor, more = paired_difference([PYTHON, "-m", "seedreg", "list"],
                                              [PYTHON, "-c", "import sqlalchemy; import click"], env=env)
        plus("seedreg list (20 rows)", took, floor, more, 0.060)

        registry = seedreg.Registry(db)
        registry.runs(limit=1)  # open the engine outside the timing
        for name, call, floor in (
            (f"Registry.runs(limit=None), {options.runs:,} runs", lambda: registry.runs(limit=None), lambda: raw_fetch(db)),
            (f"Registry.runs(seed=101, limit=None), {options.runs // 10:,} of them", lambda: registry.runs(seed=101, limit=None),
             lambda: raw_fetch(db, "WHERE runs.seed = ?", ("101",))),
            ("export of every run", lambda: sum(1 for _ in registry.export()), lambda: raw_fetch(db)),
        ):
            took, floor_took, ratio = paired_calls(call, floor)
            print(f"  {name}: {took:.3f} s; floor {floor_took:.3f} s; ratio {ratio:.2f}x (median of pairs); "
                  f"target 3x {verdict(ratio <= 3)}")

        # Run as `python -c` from the folder: git state is taken where the code is (cwd for -c).
        one_block = ("import numpy as np, seedreg\n"
                     f"with seedreg.run('process', seed=1, db={db!r}) as run:\n"
                     "    run.log('x', np.arange(10))\n")
        places = [("outside a git checkout", tmp), ("inside this git checkout", str(REPO))]
        if shutil.which("git"):
            places.append(("inside a git checkout of 60,000 files", str(large_checkout(Path(tmp) / "large"))))
        for where, cwd in places:
            took, floor, more = paired_difference([PYTHON, "-c", one_block], [PYTHON, "-c", "import numpy, sqlalchemy"],
                                                  cwd=cwd)
            plus(f"new process recording one run, {where}", took, floor, more, 0.080)

        if options.export_runs:
            big = str(Path(tmp) / "big.db")
            build(big, options.export_runs)
            # VmHWM is the peak of this process's own memory: ru_maxrss would also count this (large)
            # parent's, which Linux carries into a child across fork and exec.
            probe = subprocess.run(
                [PYTHON, "-c", "import re, sys, seedreg\n"
                 "n = sum(1 for _ in seedreg.Registry(sys.argv[1]).export())\n"
                 "status = open('/proc/self/status').read()\n"
                 "print(n, re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))", big],
                capture_output=True, text=True, check=True)
            count, peak_kib = map(int, probe.stdout.split())
            print(f"  export of {count:,} runs: peak RSS {peak_kib / 1024:.0f} MiB (target < 200 MiB) "
                  f"{verdict(peak_kib < 200 * 1024)}")


if __name__ == "__main__":
    main()
