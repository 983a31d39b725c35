"""``seedreg list --limit 20`` as a whole process on a 10,000-run registry.

Run: ``python benchmarks/list_speed.py``. Target (issue 2): at most 0.15 s more than
``python -c "import sqlalchemy.orm, click"`` measured in the same run, without importing
NumPy or Alembic.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from _common import PYTHON, alternating, verdict
from startup_and_reads import build

RUNS = 10_000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        build(db, RUNS)
        env = {"SEEDREG_DB": db}
        listing, baseline = alternating(
            [PYTHON, "-m", "seedreg", "list", "--limit", "20"],
            [PYTHON, "-c", "import sqlalchemy.orm, click"], env=env, repeat=11,
        )
        extra = listing - baseline
        print(f"{RUNS} runs: `seedreg list --limit 20` {listing:.3f} s; baseline import sqlalchemy.orm, click "
              f"{baseline:.3f} s")
        print(f"  extra {extra:.3f} s (target <= 0.15 s), ratio {listing / baseline:.2f}x {verdict(extra <= 0.15)}")
        probe = subprocess.run(
            [PYTHON, "-c", "import sys; from seedreg.cli import cli; from click.testing import CliRunner; "
             "r = CliRunner().invoke(cli, ['list', '--db', sys.argv[1]]); assert r.exit_code == 0, r.output; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'alembic'}))", db],
            capture_output=True, text=True, check=True,
        )
        heavy = probe.stdout.strip()
        print(f"  modules imported of numpy/alembic: {heavy} {verdict(heavy == '[]')}")


if __name__ == "__main__":
    main()
