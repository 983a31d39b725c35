"""``--seeds SPEC``: ``K`` (0..K-1), ``A..B`` (inclusive), ``1,5,7``, or ``random:K`` (fresh 32-bit seeds)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

from seedreg.errors import UsageError
from seedreg.seed.codec import MAX_SEED

#: A sweep runs at most this many seeds (a typo like ``0..10000000000`` is refused, not started).
MAX_SEEDS = 1_000_000
_NUMBER = r"(0|[1-9][0-9]*)"
_RANGE = re.compile(rf"^{_NUMBER}\.\.{_NUMBER}$")
_LIST = re.compile(rf"^{_NUMBER}(,{_NUMBER})+$")
_RANDOM = re.compile(rf"^random:{_NUMBER}$")
FORMS = "K (seeds 0..K-1), A..B (inclusive), 1,5,7, or random:K"


def parse(spec: str) -> list[int]:
    """The seeds ``spec`` names, in order; UsageError (one line) for anything else."""
    text = spec.strip()
    if re.fullmatch(_NUMBER, text):
        seeds = _counted(int(text), spec, lambda k: list(range(k)))
    elif match := _RANGE.match(text):
        first, last = int(match[1]), int(match[2])
        if first > last:
            raise UsageError(f"--seeds {spec!r}: A..B needs A <= B")
        seeds = _counted(last - first + 1, spec, lambda k: list(range(first, last + 1)))
    elif _LIST.match(text):
        seeds = [int(part) for part in text.split(",")]
        repeated = sorted({s for s in seeds if seeds.count(s) > 1})
        if repeated:
            raise UsageError(f"--seeds {spec!r} names seed {repeated[0]} twice")
    elif match := _RANDOM.match(text):
        seeds = _counted(int(match[1]), spec, _fresh)
    else:
        raise UsageError(f"--seeds takes {FORMS}; not {spec!r}")
    too_big = next((s for s in seeds if s >= MAX_SEED), None)
    if too_big is not None:
        raise UsageError(f"--seeds {spec!r}: seeds are below 2**128, {too_big} is not")
    return seeds


def _counted(count: int, spec: str, make: Callable[[int], list[int]]) -> list[int]:
    if count < 1:
        raise UsageError(f"--seeds {spec!r} names no seed: K must be at least 1")
    if count > MAX_SEEDS:
        raise UsageError(f"--seeds {spec!r} names {count:,} seeds; a sweep runs at most {MAX_SEEDS:,}")
    return make(count)


def _fresh(count: int) -> list[int]:
    """``count`` distinct fresh 32-bit seeds from the OS."""
    seeds: dict[int, None] = {}
    while len(seeds) < count:
        seeds[secrets.randbits(32)] = None
    return list(seeds)
