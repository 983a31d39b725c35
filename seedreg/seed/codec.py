"""Seeds as values: validating what a user passes, and the stored text form (no NumPy at import).

A seed is an int in ``[0, 2**128)``, a sequence of such ints, a ``numpy.random.SeedSequence``
or None (fresh OS entropy, recorded). How a seed is applied is :mod:`seedreg.seed.global_state`'s.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from seedreg.errors import InvalidSeedError

if TYPE_CHECKING:
    import numpy as np

MAX_SEED = 2**128
LEGACY_MAX = 2**32


@dataclass(frozen=True)
class Seed:
    """A validated seed: SeedSequence entropy, spawn key, how it was given and where it came from."""

    entropy: int | tuple[int, ...]
    kind: str  # "int" | "sequence" | "seedsequence"
    source: str = "given"  # "given" | "generated" | "replay"
    spawn_key: tuple[int, ...] = ()

    @property
    def value(self) -> int | tuple[int, ...]:
        """What ``run.seed`` shows: the int, or a tuple of ints for a sequence seed."""
        return self.entropy

    @property
    def text(self) -> str:
        """Stored form: a decimal string, or a JSON array of decimal strings."""
        return entropy_text(self.entropy)

    def seed_sequence(self) -> np.random.SeedSequence:
        import numpy as np

        return np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key)

    def python_seed(self) -> int:
        """The int given to ``random.seed``."""
        import numpy as np

        if self.kind == "int":
            assert isinstance(self.entropy, int)
            return self.entropy
        words = self.seed_sequence().generate_state(4, np.uint32).astype("<u4")
        return int.from_bytes(words.tobytes(), "little")

    def replayed(self) -> Seed:
        """The same seed, marked as taken from the run a replay re-executes."""
        return Seed(self.entropy, self.kind, "replay", self.spawn_key)


def _as_int(value: Any, what: str) -> int:
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        raise InvalidSeedError(f"{what} must be an int, not a bool ({value!r})")
    if isinstance(value, (float, np.floating, complex, str, bytes)):
        raise InvalidSeedError(f"{what} must be an int, not {type(value).__name__} ({value!r})")
    try:
        number = operator.index(value)
    except TypeError:
        raise InvalidSeedError(f"{what} must be an int, not {type(value).__name__}") from None
    if not 0 <= number < MAX_SEED:
        raise InvalidSeedError(f"{what} must be in [0, 2**128), got {number}")
    return number


def entropy_text(entropy: int | tuple[int, ...]) -> str:
    """A seed's stored form: a decimal string, or a JSON array of decimal strings for a sequence seed."""
    if isinstance(entropy, int):
        return str(entropy)
    return json.dumps([str(part) for part in entropy])


def named(seed: int | str | Sequence[int]) -> int | tuple[int, ...]:
    """The entropy of a seed as a person names one to find its runs, without NumPy: an int, a
    sequence of ints, or text typed on a command line (``101``; ``1,2`` or ``[1, 2]`` for a sequence)."""
    if isinstance(seed, str):
        parts = [p.strip() for p in seed.strip().strip("[]").split(",")]
        if not all(p.isdigit() for p in parts):
            raise InvalidSeedError(f"--seed takes a non-negative integer or comma-separated integers, not {seed!r}")
        numbers = [int(p) for p in parts]
        many = "," in seed or seed.strip().startswith("[")
    elif isinstance(seed, int) and not isinstance(seed, bool):
        numbers, many = [seed], False
    elif isinstance(seed, Sequence) and all(isinstance(p, int) and not isinstance(p, bool) for p in seed):
        numbers, many = [int(p) for p in seed], True
    else:
        raise InvalidSeedError(f"a seed filter is an int or a sequence of ints, not {seed!r}")
    if any(not 0 <= n < MAX_SEED for n in numbers):
        raise InvalidSeedError(f"seeds are in [0, 2**128): {seed!r} is not")
    return tuple(numbers) if many else numbers[0]


def normalise(seed: Any) -> Seed:
    """Validate ``seed`` before anything runs or is written; None draws 128 bits of OS entropy."""
    import numpy as np

    if seed is None:
        # A SeedSequence made without entropy draws an int (NumPy types it as possibly a sequence).
        return Seed(int(cast(int, np.random.SeedSequence().entropy)), "int", "generated")
    if isinstance(seed, np.ndarray) and seed.ndim == 0:
        seed = seed[()]  # a 0-d array is its scalar (iterating it would raise a bare TypeError)
    if isinstance(seed, np.random.SeedSequence):
        if seed.pool_size != 4:
            raise InvalidSeedError("only SeedSequences with the default pool_size=4 can be recorded")
        entropy = seed.entropy
        if entropy is None or isinstance(entropy, (int, np.integer)):
            value: int | tuple[int, ...] = _as_int(entropy, "SeedSequence entropy")
        else:
            value = tuple(_as_int(part, "SeedSequence entropy") for part in entropy)
        return Seed(value, "seedsequence", "given", tuple(int(k) for k in seed.spawn_key))
    if isinstance(seed, (str, bytes)) or not isinstance(seed, (Sequence, np.ndarray)):
        return Seed(_as_int(seed, "seed"), "int")
    parts = tuple(_as_int(part, "each seed in a sequence") for part in seed)
    if not parts:
        raise InvalidSeedError("a sequence seed needs at least one int")
    return Seed(parts, "sequence")


def parse_entropy(text: str) -> int | tuple[int, ...]:
    """A stored seed's entropy (inverse of :attr:`Seed.text`): an int, or a tuple for a sequence seed."""
    return tuple(int(p) for p in json.loads(text)) if text.startswith("[") else int(text)


def parse(text: str, kind: str, spawn_key: Sequence[int] = ()) -> Seed:
    """Rebuild a stored seed (inverse of :attr:`Seed.text`)."""
    return Seed(parse_entropy(text), kind, "given", tuple(spawn_key))
