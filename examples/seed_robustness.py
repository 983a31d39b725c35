"""Does the score hold across seeds? Ridge regression (NumPy only) on a seeded train/test split.

The data set is fixed; the seed chooses which rows are held out. Run it once, or once per seed:

    seedreg sweep --seeds 10 -- python examples/seed_robustness.py
    seedreg sweep --seeds 10 -- python examples/seed_robustness.py --alpha 10

Every root block of each process takes the sweep's seed (the `seed=0` below is only the default
for a plain `python examples/seed_robustness.py`), and `seedreg seeds seed-robustness` shows the
test score's mean ± std per alpha; `seedreg seeds --vs alpha=1 --vs alpha=10` pairs them by seed.
"""

from __future__ import annotations

import argparse

import numpy as np

import seedreg

N_ROWS, N_FEATURES, TEST_SIZE = 240, 30, 0.25


def data() -> tuple[np.ndarray, np.ndarray]:
    """A fixed regression problem: few rows for many features, so the split matters."""
    fixed = np.random.default_rng(20260101)
    x = fixed.normal(size=(N_ROWS, N_FEATURES))
    weights = fixed.normal(size=N_FEATURES) * (fixed.random(N_FEATURES) < 0.4)
    return x, x @ weights + fixed.normal(scale=2.0, size=N_ROWS)


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Closed-form ridge regression: (XᵀX + αI)⁻¹ Xᵀy."""
    return np.linalg.solve(x.T @ x + alpha * np.eye(x.shape[1]), x.T @ y)


def r2(y: np.ndarray, predicted: np.ndarray) -> float:
    return float(1 - np.sum((y - predicted) ** 2) / np.sum((y - y.mean()) ** 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=1.0)
    args = parser.parse_args()
    x, y = data()
    with seedreg.run("seed-robustness", seed=0, params={"alpha": args.alpha, "test_size": TEST_SIZE}) as run:
        order = run.rng.permutation(N_ROWS)
        n_test = int(N_ROWS * TEST_SIZE)
        test, train = order[:n_test], order[n_test:]
        weights = ridge(x[train], y[train], args.alpha)
        run.log("test_rows", np.sort(test))
        run.log("weights", weights)
        run.log("train_r2", r2(y[train], x[train] @ weights))
        run.log("test_r2", r2(y[test], x[test] @ weights))  # a real number: also stored as a result
    print(f"seed {run.seed}: test R² {r2(y[test], x[test] @ weights):.4f} (run {run.id[:12]})")


if __name__ == "__main__":
    main()
