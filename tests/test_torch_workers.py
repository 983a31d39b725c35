"""What the README says of PyTorch DataLoader workers inside a block: PyTorch 2.x seeds NumPy in each
worker from the base seed it draws from the block-seeded ``torch`` generator; Generators are copied."""

from __future__ import annotations

import numpy as np
import pytest

import seedreg

torch = pytest.importorskip("torch")


class Draws(torch.utils.data.Dataset):
    """Four samples: the worker's id, a legacy ``np.random`` draw, and a draw from a Generator passed in."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> list[int]:
        worker = torch.utils.data.get_worker_info()
        return [worker.id, int(np.random.randint(2**31)), int(self.rng.integers(2**31))]


def draws(seed: int) -> list[list[int]]:
    with seedreg.run("loader", seed=seed) as run:
        loader = torch.utils.data.DataLoader(Draws(run.rng), batch_size=None, num_workers=2,
                                             collate_fn=lambda sample: sample)
        return list(loader)


def test_numpy_in_dataloader_workers_is_seeded_from_the_blocks_torch_generator():
    from torch.utils.data._utils.worker import _generate_state

    first = draws(101)
    assert first == draws(101)  # np.random in the workers repeats with the block's seed
    assert [row[1] for row in first] != [row[1] for row in draws(102)]
    by_worker = {wid: [row for row in first if row[0] == wid] for wid in (0, 1)}
    assert by_worker[0][0][1] != by_worker[1][0][1]  # and differs between workers
    # the rule of torch/utils/data/_utils/worker.py: the base seed from torch's generator (seeded 101
    # by the block), NumPy's legacy state from a hash of (base seed, worker id)
    torch.manual_seed(101)
    base = torch.empty((), dtype=torch.int64).random_().item()
    for wid, rows in by_worker.items():
        assert [row[1] for row in rows] == list(np.random.RandomState(_generate_state(base, wid)).randint(2**31, size=2))
    # a Generator passed in is copied into each worker as it is: both workers draw the same numbers
    assert [row[2] for row in by_worker[0]] == [row[2] for row in by_worker[1]]
