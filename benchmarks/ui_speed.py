"""``seedreg ui`` on benchmarks/query_scale.py's registry: pages against the bare in-process query.

Run: ``python benchmarks/ui_speed.py [--runs N] [--keep DIR | --db PATH]``. It builds the
registry of query_scale.py (N synthetic runs, default 1,000,000; ``--db`` reuses one built with
``query_scale.py --keep DIR``), starts a real ``seedreg ui`` process on it, and times over one
kept-alive HTTP connection, each against what it stands on, measured in the same run (issue 15):

- the runs page with a filter (``/?experiment=exp3&param=lr=0.1``) and the first page (``/``):
  within 2x the in-process ``Registry.runs`` query of the same 20 runs, plus 20 ms;
- a run page (``/runs/<id>``): within 50 ms.

Medians of alternated rounds (page, then bare query), so drift hits both alike. A page's total
(matches counted up to 10,000) that is not counted yet is not waited for: the page answers with
its runs and its script asks the JSON twin for the total, which counts once per filter while the
registry's files stay the same (paging and sorting reuse it). So the first view of each filter is
measured apart (a new filter every round), and the twin's first count is printed beside it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PYTHON, verdict
from query_scale import EXPERIMENTS, LRS, generate

from seedreg import Registry

ROUNDS = 31
FILTERED = {"experiment": "exp3", "params": ["lr=0.1"]}


def build(folder: Path, runs: int) -> Path:
    """query_scale.py's registry of ``runs`` runs in ``folder`` (generated export, ``seedreg import``)."""
    export, db = folder / "runs.jsonl", folder / "bench.db"
    for stale in folder.glob("bench.db*"):
        stale.unlink()
    begin = time.perf_counter()
    generate(export, runs)
    subprocess.run([PYTHON, "-m", "seedreg", "import", str(export)], check=True,
                   env={**os.environ, "SEEDREG_DB": str(db)}, stdout=subprocess.DEVNULL)
    export.unlink()
    print(f"built a registry of {runs:,} runs in {time.perf_counter() - begin:.0f} s")
    return db


class Server:
    """A real ``seedreg ui`` process and one kept-alive connection to it."""

    def __init__(self, db: Path) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDREG_")}
        self.process = subprocess.Popen([PYTHON, "-m", "seedreg", "ui", "--db", str(db), "--port", str(self.port)],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self.get("/static/icon.svg")
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.2)

    def get(self, path: str) -> float:
        """Seconds until the whole page has arrived (status 200 required)."""
        begin = time.perf_counter()
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - begin
        if response.status != 200:
            raise AssertionError(f"{path}: HTTP {response.status}")
        return elapsed

    def close(self) -> None:
        self.connection.close()
        self.process.terminate()
        self.process.wait(timeout=30)


def alternated(page: callable, bare: callable, rounds: int = ROUNDS) -> tuple[float, float]:
    """Median milliseconds of ``page()`` and ``bare()`` run alternately (after one warm-up each)."""
    page(), bare()
    pages, bares = [], []
    for _ in range(rounds):
        pages.append(page())
        begin = time.perf_counter()
        bare()
        bares.append(time.perf_counter() - begin)
    return statistics.median(pages) * 1000, statistics.median(bares) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs in the registry (default 1,000,000)")
    parser.add_argument("--keep", metavar="DIR", help="build in DIR and keep the registry")
    parser.add_argument("--db", help="use this registry (built by query_scale.py --keep) instead of building one")
    args = parser.parse_args()
    tmp = None
    if args.db:
        db = Path(args.db)
    else:
        tmp = tempfile.TemporaryDirectory() if not args.keep else None
        folder = Path(args.keep or tmp.name)  # type: ignore[union-attr]
        folder.mkdir(parents=True, exist_ok=True)
        db = build(folder, args.runs)
    registry = Registry(db, readonly=True)
    total = registry.count(cap=None)
    print(f"registry: {total:,} runs ({db.stat().st_size / 2**20:,.0f} MiB); {sys.platform}, {os.cpu_count()} CPUs")
    server = Server(db)
    try:
        run_id = registry.runs(limit=1, **FILTERED)[0].id
        cases = [("runs page with a filter", "/?experiment=exp3&param=lr=0.1", lambda: registry.runs(limit=20, **FILTERED)),
                 ("first page of runs", "/", lambda: registry.runs(limit=20))]
        for title, path, bare in cases:
            page_ms, bare_ms = alternated(lambda path=path: server.get(path), bare)
            target = 2 * bare_ms + 20
            print(f"{title} {path}: {page_ms:.1f} ms; bare Registry.runs(limit=20) {bare_ms:.1f} ms in the same run "
                  f"({page_ms / bare_ms:.1f}x; target <= 2x + 20 ms = {target:.1f} ms) {verdict(page_ms <= target)}")
        filters = iter([(e, lr) for lr in LRS for e in EXPERIMENTS])
        current: dict[str, object] = {}

        def first_view() -> float:
            experiment, lr = next(filters)
            current.update(experiment=experiment, params=[f"lr={lr}"])
            return server.get(f"/?experiment={experiment}&param=lr={lr}")

        page_ms, bare_ms = alternated(first_view, lambda: registry.runs(limit=20, **current), rounds=min(ROUNDS, 90))
        target = 2 * bare_ms + 20
        print(f"first view of a filter (a new one each round, its count not cached): {page_ms:.1f} ms; bare "
              f"{bare_ms:.1f} ms ({page_ms / bare_ms:.1f}x; target <= {target:.1f} ms) {verdict(page_ms <= target)}")
        page_ms, get_ms = alternated(lambda: server.get(f"/runs/{run_id}"), lambda: registry.get(run_id))
        print(f"run page /runs/{run_id[:12]}…: {page_ms:.1f} ms; bare Registry.get {get_ms:.1f} ms "
              f"(target <= 50 ms) {verdict(page_ms <= 50)}")
        def first_total() -> float:
            experiment, lr = next(filters)
            return server.get(f"/api/?experiment={experiment}&param=lr={lr}&limit=1")

        twin_ms, _ = alternated(first_total, lambda: None, rounds=21)
        cached_ms, _ = alternated(lambda: server.get("/api/?experiment=exp3&param=lr=0.1&limit=1"), lambda: None, rounds=21)
        print(f"the total the page then asks for (its twin, counting a new filter's matches): {twin_ms:.1f} ms; "
              f"counted before: {cached_ms:.1f} ms (not targets)")
    finally:
        server.close()
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
