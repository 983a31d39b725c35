"""A seeded sweep on Dask, every task recorded as a child run of one root run.

Locally (a LocalCluster of worker processes, registry from SEEDREG_DB or ./seedreg.db):

    python examples/dask_sweep.py

Against a shared PostgreSQL registry, and a Dask scheduler that runs on many machines:

    export SEEDREG_DB=postgresql+psycopg://user:password@db-host/seedreg
    python examples/dask_sweep.py tcp://scheduler-host:8786

Every worker opens `seedreg.run(..., seed=child, parent=root.id)`; the registry records each
child's entropy and spawn key, so any task can be replayed with `seedreg replay TASK_RUN_ID`
(which re-runs this script and compares every block).
"""

from __future__ import annotations

import sys

import numpy as np
from dask.distributed import Client, LocalCluster

import seedreg

LEARNING_RATES = (0.3, 0.1, 0.03, 0.01)


def train(parent: str, child: np.random.SeedSequence, lr: float) -> tuple[str, float]:
    """One task of the sweep: a toy gradient descent on noisy data from the child's Generator."""
    with seedreg.run("dask-sweep-task", seed=child, parent=parent, params={"lr": lr}) as run:
        x = run.rng.normal(size=(500, 3))
        y = x @ np.array([1.0, -2.0, 0.5]) + run.rng.normal(scale=0.1, size=500)
        w = np.zeros(3)
        for _ in range(200):
            w -= lr * 2 * x.T @ (x @ w - y) / len(y)
        loss = float(np.mean((x @ w - y) ** 2))
        run.log("weights", w)
        run.log("loss", loss)
        return run.id, loss


def main() -> None:
    address = sys.argv[1] if len(sys.argv) > 1 else None
    cluster = None if address else LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
    with Client(address or cluster) as client:
        with seedreg.run("dask-sweep", seed=20260101, params={"tasks": len(LEARNING_RATES)}) as root:
            futures = [client.submit(train, root.id, child, lr, pure=False)
                       for child, lr in zip(root.spawn(len(LEARNING_RATES)), LEARNING_RATES)]
            results = client.gather(futures)
            root.log("losses", [loss for _, loss in results])
    if cluster is not None:
        cluster.close()
    print(f"root run {root.id}")
    for (run_id, loss), lr in zip(results, LEARNING_RATES):
        print(f"  lr={lr:<5} loss={loss:.5f} run {run_id}")


if __name__ == "__main__":
    main()
