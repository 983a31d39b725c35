"""What the MLflow integration costs per block while an MLflow run is active (issue 12).

Run: ``python benchmarks/tracker_overhead.py`` (needs mlflow or mlflow-skinny). Blocks logging a
1000 x 100 array (and, separately, five outputs) alternate with and without the integration
(``SEEDREG_NO_INTEGRATIONS=mlflow``) inside one active run on a SQLite tracking store; each block
makes two ``log_batch`` calls (the open's tags, the outputs' at close) whatever it logs.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np

import seedreg

BLOCKS = 100


def block(i: int, data: np.ndarray, outputs: int, integrated: bool) -> float:
    if integrated:
        os.environ.pop("SEEDREG_NO_INTEGRATIONS", None)
    else:
        os.environ["SEEDREG_NO_INTEGRATIONS"] = "mlflow"
    start = time.perf_counter()
    with seedreg.run("tracked", seed=i) as run:
        for k in range(outputs):
            run.log(f"data_{k}", data)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEEDREG_DB"] = str(Path(tmp) / "seedreg.db")
        mlflow.set_tracking_uri(f"sqlite:///{Path(tmp) / 'mlflow.db'}")
        data = np.random.default_rng(0).normal(size=(1000, 100))
        with mlflow.start_run():
            for outputs in (1, 5):
                block(0, data, outputs, True)  # warm: the store, the entry points, the caches
                on, off = [], []
                for i in range(1, BLOCKS + 1):
                    on.append(block(i, data, outputs, True))
                    off.append(block(i, data, outputs, False))
                with_ms, without_ms = statistics.median(on) * 1e3, statistics.median(off) * 1e3
                print(f"{BLOCKS} blocks logging {outputs} array(s) of 1000x100 in an active MLflow run (SQLite store): "
                      f"{with_ms:.2f} ms with the integration, {without_ms:.2f} ms without: "
                      f"+{with_ms - without_ms:.2f} ms per block (2 log_batch calls)")


if __name__ == "__main__":
    main()
