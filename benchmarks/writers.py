"""Many writer processes on one registry: runs/s, retries, and how fast a crash is seen.

Run: ``python benchmarks/writers.py`` (SQLite) — with ``SEEDREG_TEST_POSTGRES_URL`` set (e.g.
``eval "$(bash .ci/postgres.sh)"``) it measures PostgreSQL too. Prints runs/s for 1, 4 and 16
writer processes each recording BLOCKS with-blocks, the retries they needed, and how long a
reader takes to show a SIGKILLed run as crashed on its own host.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from _common import PYTHON

import seedreg

BLOCKS = 200
WRITER = textwrap.dedent("""
    import sys, time
    import seedreg
    n = int(sys.argv[1])
    with seedreg.run("warm", seed=0):  # imports and schema check outside the timing
        pass
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(n):
        with seedreg.run("load", seed=i) as run:
            run.log("x", run.rng.normal(size=100))
    print(seedreg.db.engines.retries, flush=True)
""")


def writers(db: str, count: int, tmp: Path) -> tuple[float, int]:
    script = tmp / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "SEEDREG_DB": db}
    procs = [subprocess.Popen([PYTHON, str(script), str(BLOCKS)], env=env, cwd=tmp, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(count)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    start = time.perf_counter()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    retries = 0
    for proc in procs:
        out, _ = proc.communicate()
        assert proc.returncode == 0
        retries += int(out.strip().splitlines()[-1])
    return count * BLOCKS / (time.perf_counter() - start), retries


def crash_detection(db: str, tmp: Path) -> float:
    script = tmp / "victim.py"
    script.write_text("import sys, time, seedreg\nwith seedreg.run('victim', seed=1) as run:\n"
                      "    print(run.id, flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([PYTHON, str(script)], env={**os.environ, "SEEDREG_DB": db}, stdout=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    registry = seedreg.Registry(db)
    assert registry.get(run_id).status == "running"
    os.kill(proc.pid, signal.SIGKILL)
    killed = time.perf_counter()
    proc.wait()
    while registry.get(run_id).status != "crashed":
        time.sleep(0.001)
    return time.perf_counter() - killed


def postgres_database() -> str | None:
    url = os.environ.get("SEEDREG_TEST_POSTGRES_URL")
    if not url:
        return None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"seedreg_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        backends = [("sqlite", str(tmp / "bench.db"))]
        pg = postgres_database()
        if pg:
            backends.append(("postgresql", pg))
        counts = [int(c) for c in sys.argv[1:]] or [1, 4, 16]
        for name, db in backends:
            for count in counts:
                rate, retries = writers(db, count, tmp)
                print(f"{name:<10} {count:>2} writers x {BLOCKS} blocks: {rate:8.0f} runs/s, {retries} retries")
            report = seedreg.Registry(db).audit()
            print(f"{name:<10} audit after the load: {'clean' if report.ok else 'FINDINGS'}, chain length {report.count}")
            print(f"{name:<10} a SIGKILLed run is shown crashed on its own host after {crash_detection(db, tmp) * 1e3:.1f} ms; "
                  f"other hosts see it once its heartbeat is older than SEEDREG_STALE_SECONDS (default 300 s, "
                  f"heartbeat every 30 s)")


if __name__ == "__main__":
    main()
