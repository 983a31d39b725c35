"""The process-wide RNG states a block seeds: legacy ``np.random``, the run's Generator, ``random``.

How each is seeded (DESIGN §1):

- legacy ``np.random``: ``np.random.seed(seed)`` when it accepts the seed unchanged (an int
  or a sequence of ints below ``2**32``), so classic streams are reproduced exactly; otherwise
  ``MT19937(SeedSequence(...))``, and always so for a SeedSequence;
- ``run.rng``: ``np.random.default_rng(seed)``;
- ``random``: ``random.seed(seed)`` for an int seed; for a sequence or SeedSequence seed, the
  128-bit int ``SeedSequence(...).generate_state(4, uint32)`` read as little-endian words.

Deep-learning libraries are seeded by :mod:`seedreg.seed.library_seeders`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from seedreg.seed.codec import LEGACY_MAX, Seed


@dataclass
class GlobalState:
    """The process-wide RNG states a block changes, saved to be put back (like ``np.errstate``)."""

    legacy: dict[str, Any]
    python: tuple[Any, ...]

    @classmethod
    def save(cls) -> GlobalState:
        return cls(np.random.get_state(legacy=False), random.getstate())

    def restore(self) -> None:
        np.random.set_state(self.legacy)
        random.setstate(self.python)


def seed_globals(seed: Seed) -> np.random.Generator:
    """Seed legacy ``np.random`` and ``random`` from ``seed``; return the run's Generator."""
    entropy = seed.entropy
    fits_legacy = seed.kind != "seedsequence" and (
        entropy < LEGACY_MAX if isinstance(entropy, int) else all(p < LEGACY_MAX for p in entropy)
    )
    if fits_legacy:
        np.random.seed(entropy if isinstance(entropy, int) else list(entropy))
    else:
        mt = np.random.MT19937(seed.seed_sequence())
        np.random.set_state(np.random.RandomState(mt).get_state(legacy=False))
    random.seed(seed.python_seed())
    if seed.kind == "sequence":
        return np.random.default_rng(list(entropy))  # type: ignore[arg-type]
    return np.random.default_rng(seed.seed_sequence() if seed.kind == "seedsequence" else entropy)


def state_digest(rng: np.random.Generator, libraries: Mapping[str, Any] | None = None) -> str:
    """Digest of the final states of legacy ``np.random``, ``rng``, ``random`` and seeded libraries.

    Equal digests prove the same amount and kind of randomness was drawn, even for data
    that was never logged. ``libraries`` maps each applied seeder to its ``digest_state()``;
    without any, the digest is exactly what it was before library seeders existed.
    """
    from seedreg.fingerprints.encoding import fingerprint

    version, internal, gauss = random.getstate()
    states: dict[str, Any] = {
        "legacy": np.random.get_state(legacy=False),
        "generator": rng.bit_generator.state,
        "random": [version, np.array(internal, dtype=np.uint64), gauss],
    }
    if libraries:
        states["libraries"] = dict(libraries)
    return str(fingerprint(states))
