"""Querying a 1,000,000-run registry: bulk import, filtered ``list``, ``experiments``, file size.

Run: ``python benchmarks/query_scale.py [--runs N] [--keep DIR]``. It writes a JSON-lines export
of N synthetic runs (10 experiments, ``lr`` from 10 values, seeds from 1,000 values, 2 tags,
2 fingerprints each, valid record digests), builds the registry through ``seedreg import``,
then times what issue 4 names and prints PASS/MISS against its targets:

- import >= 10,000 runs/s (MLflow's API records about 44 runs/s here and has no bulk import),
  also printed as a ratio to a read pass of the same file (one process parsing every line);
- ``list --experiment E --param lr=0.1 --limit 20``: the query inside the process < 50 ms both
  for a value matching about 1% of runs and one matching none; the whole process at most
  0.2 s more than ``python -c "import sqlalchemy.orm, click"`` (MLflow's ``search_runs`` with
  one param filter: 0.4-0.8 s at only 10,000 runs);
- ``seedreg experiments`` < 2 s; and the registry's size per run.
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
import statistics
import subprocess
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import blake3
from _common import PYTHON, alternating, process_seconds, scale_folder, verdict

from seedreg import Registry, fingerprint
from seedreg.cli.runs import COUNT_CAP
from seedreg.integrity import chain
from seedreg.recording.environment import installed_packages
from seedreg.records import EnvironmentRecord

LRS = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
EXPERIMENTS = tuple(f"exp{i}" for i in range(10))


def environment() -> dict:
    """A realistic environment: this interpreter's installed packages."""
    return EnvironmentRecord(python_version="3.11.9", python_implementation="CPython",
                             platform="Linux-6.1.0-x86_64-with-glibc2.36", machine="x86_64",
                             numpy_version="1.26.4", blas="openblas 0.3.23", packages=installed_packages()).as_row()


def line(rng: random.Random, env: dict, started: datetime, results: bool = False) -> str:
    """One export line of a synthetic completed run, with its true record digest.

    With ``results`` (benchmarks/seeds_scale.py): record version 2 with the result ``score``, and
    outputs that depend on what the run was (experiment, lr, seed), as a deterministic program's
    do, except in one run in a thousand (nondeterministic).
    """
    run_id = uuid.UUID(int=rng.getrandbits(128)).hex
    experiment = rng.choice(EXPERIMENTS)
    lr = rng.choice(LRS)
    seed = rng.randrange(1000)
    ended = started + timedelta(seconds=rng.uniform(1, 600))
    run = {
        "id": run_id, "experiment": experiment, "status": "completed", "seed": str(seed), "seed_kind": "int",
        "seed_source": "given", "spawn_key": "[]", "parent_id": None, "replay_of": None, "block_index": 0,
        "started_at": started, "ended_at": ended, "duration": (ended - started).total_seconds(),
        "heartbeat_at": started, "error": None, "rng_digest": "blake3:" + blake3.blake3(run_id.encode()).hexdigest(),
        "numpy_version": env["numpy_version"], "python_version": env["python_version"],
        "libraries": '{"scipy": "1.13.0"}', "hostname": f"node{rng.randrange(64):02d}", "username": "researcher",
        "pid": rng.randrange(1, 2**22), "process_started": started.timestamp() - 1.5,
        "executable": "/opt/conda/envs/lab/bin/python3.11", "argv": json.dumps(["train.py", "--lr", str(lr)]),
        "command": json.dumps(["/opt/conda/envs/lab/bin/python3.11", "train.py", "--lr", str(lr)]),
        "cwd": "/home/researcher/project", "launch": "script", "script_path": "/home/researcher/project/train.py",
        "script_digest": "blake3:" + "ab" * 32, "pythonhashseed": None, "git_commit": "9f" * 20, "git_dirty": False,
        "replay_session": None, "generator_used": True, "seeders": None,
    }
    params = [["lr", "float", repr(lr)]]
    tags = [["host_group", "str", "gpu" if seed % 2 else "cpu"], ["stage", "str", rng.choice(("prep", "train"))]]
    chunks = blake3.blake3(run_id.encode() + b"order").digest()
    fps = [
        {"name": "order", "seq": 0, "algorithm": "blake3", "digest": blake3.blake3(chunks).hexdigest(),
         "kind": "ndarray", "dtype": "<i8", "shape": "[1000]", "chunk_elems": 8192, "chunks": chunks, "kept": False},
        {"name": "score", "seq": 1, "algorithm": "blake3", "digest": blake3.blake3(run_id.encode()).hexdigest(),
         "kind": "value", "dtype": None, "shape": None, "chunk_elems": None, "chunks": None, "kept": False},
    ]
    scores, version = [], 1  # no record_version: 1
    if results:
        same = f"{experiment}/{lr}/{seed}".encode() + (run_id.encode() if rng.random() < 0.001 else b"")
        value = 0.9 - 0.02 * abs(math.log10(lr) + 2) + random.Random(same).gauss(0, 0.01)
        chunks = fps[0]["chunks"] = blake3.blake3(same + b"order").digest()
        fps[0]["digest"], fps[1]["digest"] = blake3.blake3(chunks).hexdigest(), fingerprint(value).hexdigest
        run.update(notebook=None, invocation=None)
        scores, version = [["score", "float", repr(value)]], 2
    digest = chain.digest_of(chain.Parts(run, env["digest"], params, tags, fps, scores), version)
    for fp in fps:
        fp["logged_at"] = (ended - timedelta(seconds=1)).isoformat(timespec="microseconds") + "Z"
        if fp["chunks"] is not None:
            fp["chunks"] = base64.b64encode(fp["chunks"]).decode()
    for name in ("started_at", "ended_at", "heartbeat_at"):
        run[name] = run[name].isoformat(timespec="microseconds") + "Z"
    return json.dumps({"format": "seedreg-run/1", "run": run, "environment": env, "params": params, "tags": tags,
                       "fingerprints": fps, "record_digest": digest, "deleted": None, "replays": [],
                       **({"record_version": 2, "results": scores} if results else {})},
                      separators=(",", ":"))


def generate(path: Path, runs: int, results: bool = False) -> None:
    """Write ``runs`` lines (see :func:`line`), oldest first, spread over the last year."""
    rng = random.Random(4)
    env = environment()
    start = datetime(2025, 1, 1)
    step = timedelta(days=365) / runs
    with path.open("w") as out:
        for i in range(runs):
            out.write(line(rng, env, start + step * i, results) + "\n")


def query_ms(registry: Registry, **filters) -> float:
    """Median time of what ``list`` queries inside its process: the runs, and the (capped) count it prints."""
    times = []
    for _ in range(15):
        begin = time.perf_counter()
        found = registry.runs(limit=20, **filters)
        if len(found) == 20:
            registry.count(cap=COUNT_CAP, **filters)
        times.append(time.perf_counter() - begin)
    return statistics.median(times) * 1000


def main() -> None:
    args, folder, tmp = scale_folder(__doc__, "build in DIR and keep the files")
    export, db = folder / "runs.jsonl", folder / "bench.db"
    for stale in folder.glob("bench.db*"):
        stale.unlink()

    begin = time.perf_counter()
    generate(export, args.runs)
    print(f"generated {args.runs:,} export lines ({export.stat().st_size / 2**20:,.0f} MiB) "
          f"in {time.perf_counter() - begin:.1f} s")
    os.sync()  # the import should not pay for writing back the export file

    env = {**os.environ, "SEEDREG_DB": str(db)}
    # The same run's baseline, for the machine's speed today: one process parsing every line.
    begin = time.perf_counter()
    subprocess.run([PYTHON, "-c", "import json, sys\nfor line in open(sys.argv[1], 'rb'): json.loads(line)",
                    str(export)], check=True)
    reading = time.perf_counter() - begin
    begin = time.perf_counter()
    subprocess.run([PYTHON, "-m", "seedreg", "import", str(export)], check=True, env=env)
    seconds = time.perf_counter() - begin
    rate = args.runs / seconds
    print(f"import: {seconds:.1f} s, {rate:,.0f} runs/s (target >= 10,000; MLflow's API ~44 runs/s: "
          f"{rate / 44:,.0f}x) {verdict(rate >= 10_000)}; {seconds / reading:.1f}x a read pass "
          f"(json.loads of every line in one process: {reading:.1f} s)")
    size = sum(p.stat().st_size for p in folder.glob("bench.db*"))
    print(f"registry size: {size / 2**20:,.0f} MiB, {size / args.runs:,.0f} bytes per run (2 fingerprints each)")

    registry = Registry(str(db))
    hit = query_ms(registry, experiment="exp3", params=["lr=0.1"])
    miss = query_ms(registry, experiment="exp3", params=["lr=0.123"])
    share = registry.count(experiment="exp3", params=["lr=0.1"]) / args.runs
    print(f"list query -e exp3 --param lr=0.1 ({share:.1%} of runs): {hit:.1f} ms; no match (lr=0.123): "
          f"{miss:.1f} ms (target < 50 ms) {verdict(hit < 50 and miss < 50)}")

    listing, baseline = alternating(
        [PYTHON, "-m", "seedreg", "list", "--experiment", "exp3", "--param", "lr=0.1", "--limit", "20"],
        [PYTHON, "-c", "import sqlalchemy.orm, click"], env=env, repeat=9)
    extra = listing - baseline
    print(f"`seedreg list -e exp3 --param lr=0.1 --limit 20`: {listing:.3f} s, baseline {baseline:.3f} s, "
          f"extra {extra:.3f} s (target <= 0.2 s; MLflow search_runs 0.4-0.8 s at 10,000 runs) {verdict(extra <= 0.2)}")
    experiments = process_seconds([PYTHON, "-m", "seedreg", "experiments"], repeat=3, env=env)
    print(f"`seedreg experiments`: {experiments:.2f} s (target < 2 s) {verdict(experiments < 2)}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
