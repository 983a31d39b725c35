"""A small real experiment: a seeded train/test split, recorded by seedreg.

Run it, then `seedreg list` and `seedreg show --last`. Change the seed or the code and run
it again to see a new fingerprint.
"""

import numpy as np

import seedreg

N_SAMPLES = 1_000
TEST_SIZE = 0.2

with seedreg.run("train-test-split", seed=101, params={"n_samples": N_SAMPLES, "test_size": TEST_SIZE},
                 tags={"stage": "prep"}) as run:
    # Legacy global state: exactly as after np.random.seed(101).
    order = np.random.permutation(N_SAMPLES)
    n_test = int(N_SAMPLES * TEST_SIZE)
    test_idx, train_idx = np.sort(order[:n_test]), np.sort(order[n_test:])
    # A Generator: exactly np.random.default_rng(101).
    features = run.rng.normal(size=(N_SAMPLES, 8))
    run.log("train_idx", train_idx)
    run.log("test_idx", test_idx)
    run.log("features", features)

print(f"run {run.id} ({run.status}): {len(train_idx)} train / {len(test_idx)} test rows")
for name, fp in run.fingerprints.items():
    print(f"  {name:<10} {fp}")
