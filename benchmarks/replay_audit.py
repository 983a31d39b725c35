"""Replay overhead and audit speed.

Run: ``python benchmarks/replay_audit.py``. Targets (issue 3): replay wall time minus running
the same script directly at most one bare ``seedreg list`` process plus 0.2 s, all measured in
this run; ``audit`` of 100,000 runs under 10 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from _common import PYTHON, verdict
from sqlalchemy import select

import seedreg
from seedreg.db import engines
from seedreg.db.tables import chain_head_table, chain_table, fingerprint_table, param_table, run_table, tag_table
from seedreg.integrity import chain

AUDIT_RUNS = 100_000
SCRIPT = """\
import numpy as np, seedreg
with seedreg.run("replay-bench", seed=7) as run:
    run.log("x", run.rng.normal(size=(1000, 100)))
"""


def timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=False, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def replay_overhead(tmp: Path) -> None:
    import os

    db = tmp / "replay.db"
    script = tmp / "exp.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "SEEDREG_DB": str(db)}
    subprocess.run([PYTHON, str(script)], check=True, env=env, cwd=tmp)
    direct, replay, listing = [], [], []
    for _ in range(7):
        direct.append(timed([PYTHON, str(script)], env, str(tmp)))
        replay.append(timed([PYTHON, "-m", "seedreg", "replay", "--last", "--yes"], env, str(tmp)))
        listing.append(timed([PYTHON, "-m", "seedreg", "list", "--limit", "1"], env, str(tmp)))
    d, r, ls = (statistics.median(x) for x in (direct, replay, listing))
    overhead = r - d
    budget = ls + 0.2
    print(f"replay {r:.3f} s, the script directly {d:.3f} s: overhead {overhead:.3f} s; "
          f"budget = one `seedreg list` {ls:.3f} s + 0.2 s = {budget:.3f} s {verdict(overhead <= budget)}")


def build_audit_registry(db: str) -> None:
    """One real run cloned to AUDIT_RUNS runs, with digests and chain links computed in bulk."""
    with seedreg.run("template", seed=1, params={"lr": 0.1}, tags={"stage": "x"}, db=db) as run:
        run.log("a", run.rng.normal(size=100))
        run.log("b", run.rng.integers(0, 10, size=50))
    engine = engines.engine_for(engines.resolve_url(db))
    with engine.begin() as conn:
        row = dict(conn.execute(select(run_table).where(run_table.c.id == run.id)).one()._mapping)
        children = {
            table: [dict(r._mapping) for r in conn.execute(select(table).where(table.c.run_id == run.id))]
            for table in (fingerprint_table, param_table, tag_table)
        }
        conn.execute(chain_table.delete())
        batch: dict = {run_table: [], fingerprint_table: [], param_table: [], tag_table: []}
        for i in range(AUDIT_RUNS - 1):
            new_id = uuid.uuid4().hex
            batch[run_table].append({**row, "id": new_id, "seed": str(i), "ended_at": row["ended_at"] + timedelta(seconds=i + 1)})
            for table, rows in children.items():
                batch[table] += [{**r, "run_id": new_id} for r in rows]
        for table in (run_table, fingerprint_table, param_table, tag_table):
            conn.execute(table.insert(), batch[table])
        records = chain.load_records(conn)
        ids = [r.id for r in conn.execute(select(run_table.c.id).order_by(run_table.c.ended_at, run_table.c.id))]
        links, previous = [], ""
        for seq, run_id in enumerate(ids, start=1):
            digest = chain.digest_of(records[run_id])
            previous = chain.link_digest(previous, digest)
            links.append({"seq": seq, "run_id": run_id, "record_digest": digest, "link_digest": previous,
                          "record_version": chain.RECORD_VERSION, "imported": False, "linked_at": engines.utcnow()})
        conn.execute(chain_table.insert(), links)
        conn.execute(chain_head_table.update(), {"count": len(links), "head": previous})


def audit_speed(tmp: Path) -> None:
    db = str(tmp / "audit.db")
    start = time.perf_counter()
    build_audit_registry(db)
    print(f"built {AUDIT_RUNS} chained runs in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    done = subprocess.run([PYTHON, "-m", "seedreg", "audit", "--db", db], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"`seedreg audit` of {AUDIT_RUNS} runs: {seconds:.2f} s (target < 10 s) {verdict(seconds < 10)}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        replay_overhead(Path(tmp))
        if "--no-audit" not in sys.argv:
            audit_speed(Path(tmp))


if __name__ == "__main__":
    main()
