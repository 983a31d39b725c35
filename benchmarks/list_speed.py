"""``seedreg list --limit 20`` as a whole process on a 10,000-run registry.

Run: ``python benchmarks/list_speed.py``. Target (issue 2): at most 0.15 s more than
``python -c "import sqlalchemy.orm, click"`` measured in the same run, without importing
NumPy or Alembic.
"""

from __future__ import annotations

import subprocess
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from _common import PYTHON, alternating, verdict
from sqlalchemy import insert, select

import seedreg
from seedreg.db import engines
from seedreg.db.models import FingerprintRow, Param, RunRow, Tag

RUNS = 10_000


def build(db: str) -> None:
    """One real run, then its rows cloned under new ids: a registry of RUNS runs."""
    with seedreg.run("template", seed=1, params={"lr": 0.1, "model": {"depth": 3}}, tags={"stage": "x"}, db=db) as run:
        run.log("a", run.rng.normal(size=100))
        run.log("b", run.rng.integers(0, 10, size=50))
    engine = engines.engine_for(engines.resolve_url(db))
    with engine.begin() as conn:
        row = dict(conn.execute(select(RunRow.__table__).where(RunRow.id == run.id)).one()._mapping)
        fps = [dict(r._mapping) for r in conn.execute(select(FingerprintRow.__table__).where(FingerprintRow.run_id == run.id))]
        params = [dict(r._mapping) for r in conn.execute(select(Param.__table__).where(Param.run_id == run.id))]
        tags = [dict(r._mapping) for r in conn.execute(select(Tag.__table__).where(Tag.run_id == run.id))]
        runs, fp_rows, param_rows, tag_rows = [], [], [], []
        for i in range(RUNS - 1):
            new_id = uuid.uuid4().hex
            runs.append({**row, "id": new_id, "experiment": f"exp{i % 10}", "seed": str(i % 1000),
                         "started_at": row["started_at"] - timedelta(seconds=i + 1)})
            fp_rows += [{**fp, "run_id": new_id} for fp in fps]
            param_rows += [{**p, "run_id": new_id} for p in params]
            tag_rows += [{**t, "run_id": new_id} for t in tags]
        for table, rows in ((RunRow, runs), (FingerprintRow, fp_rows), (Param, param_rows), (Tag, tag_rows)):
            conn.execute(insert(table), rows)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        build(db)
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
