"""What ``seeds`` returns: groups of runs that differ only in their seed, typed (JSON as DESIGN §9 lays it out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seedreg.records import json_safe

#: A seed as run objects show it: a decimal string, or a list of them for a sequence seed.
SeedText = str | list[str]


def seed_text(stored: str) -> SeedText:
    """A stored seed (a decimal string or a JSON array of them) as run objects show it."""
    from seedreg.seed.codec import parse_entropy

    entropy = parse_entropy(stored)
    return str(entropy) if isinstance(entropy, int) else [str(part) for part in entropy]


def seed_order(stored: str) -> tuple:
    """Seeds in numeric order (ints first, then sequence seeds)."""
    from seedreg.seed.codec import parse_entropy

    entropy = parse_entropy(stored)
    return (0, entropy) if isinstance(entropy, int) else (1, entropy)


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class ResultStats:
    """One result of a group over its completed runs: statistics of its finite values (``n_valid``).

    ``std`` is the sample standard deviation (``n_valid - 1``), None when ``n_valid < 2``;
    ``histogram`` counts the finite values in equal bins from ``min`` to ``max`` (tables show it).
    """

    n: int
    n_valid: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    min_seeds: tuple[str, ...] = ()  # stored seeds, in numeric order
    max_seeds: tuple[str, ...] = ()
    histogram: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "n_valid": self.n_valid, "mean": _number(self.mean), "std": _number(self.std),
                "min": _number(self.min), "max": _number(self.max),
                "min_seeds": [seed_text(s) for s in self.min_seeds], "max_seeds": [seed_text(s) for s in self.max_seeds]}


@dataclass(frozen=True)
class Nondeterministic:
    """Runs that should have given identical data (same experiment, params, seed and spawn key, script,
    environment) whose fingerprints under ``output`` differ."""

    output: str
    seed: str  # stored
    runs: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"output": self.output, "seed": seed_text(self.seed), "runs": list(self.runs)}


@dataclass(frozen=True)
class SeedGroup:
    """Completed original runs of one experiment that differ only in their seed (and the failed ones beside)."""

    experiment: str
    params: dict[str, Any]
    n: int  # completed runs: the statistics are over these
    n_failed: int  # failed, interrupted and crashed runs, left out of the statistics
    code: tuple[str, ...]  # script digests of its runs
    seeds: tuple[str, ...]  # distinct stored seeds of its runs (completed or failed), in numeric order
    results: dict[str, ResultStats] = field(default_factory=dict)
    nondeterministic: tuple[Nondeterministic, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "params": {k: json_safe(v) for k, v in self.params.items()},
                "n": self.n, "n_failed": self.n_failed, "code": list(self.code),
                "seeds": [seed_text(s) for s in self.seeds],
                "results": {name: stats.to_json() for name, stats in self.results.items()},
                "nondeterministic": [item.to_json() for item in self.nondeterministic]}


@dataclass(frozen=True)
class PairedStats:
    """One result over the seeds both configurations ran: the differences ``B - A``."""

    n: int  # pairs (seeds with a finite value on both sides)
    mean: float | None
    std: float | None  # sample standard deviation, None for fewer than 2 pairs
    a_higher: int  # seeds where A's value is higher
    b_higher: int
    ties: int

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "mean": _number(self.mean), "std": _number(self.std), "a_higher": self.a_higher,
                "b_higher": self.b_higher, "ties": self.ties}


@dataclass(frozen=True)
class PairedGroup:
    """``--vs KEY=A --vs KEY=B``: two configurations of one group (its other params), paired by seed."""

    experiment: str
    params: dict[str, Any]  # the group's other params
    key: str
    a: Any
    b: Any
    seeds: tuple[str, ...]  # stored seeds both ran, in numeric order
    results: dict[str, PairedStats] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "params": {k: json_safe(v) for k, v in self.params.items()},
                "key": self.key, "a": json_safe(self.a), "b": json_safe(self.b),
                "seeds": [seed_text(s) for s in self.seeds],
                "results": {name: stats.to_json() for name, stats in self.results.items()}}
