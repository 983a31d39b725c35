"""seedreg: a seed registry for experiment code.

``with seedreg.run("split", seed=101) as run:`` seeds ``np.random``, ``run.rng`` and
``random``, records the seed and environment, and fingerprints what ``run.log`` is given.
``seedreg.Registry`` reads runs back; the ``seedreg`` command lists, shows and audits them.

Importing seedreg does not import NumPy (so ``seedreg list`` starts fast); NumPy is
imported when a run starts or an array is fingerprinted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import (
    DuplicateNameError,
    InvalidSeedError,
    RegistryError,
    RegistryNotFoundError,
    SchemaError,
    SeedregError,
    UnknownRunError,
    UnsupportedTypeError,
    UsageError,
)
from .fingerprints import Fingerprint
from .records import EnvironmentRecord, RunRecord
from .registry import Registry

if TYPE_CHECKING:
    from .context import Run, run
    from .hashing import fingerprint

__version__ = "0.1.0"


def __getattr__(name: str):
    # The with-block needs NumPy; load it on first use so the CLI's reading commands stay fast.
    if name in ("run", "Run"):
        from . import context

        return getattr(context, name)
    if name == "fingerprint":
        from .hashing import fingerprint

        return fingerprint
    raise AttributeError(f"module 'seedreg' has no attribute {name!r}")


__all__ = [
    "DuplicateNameError",
    "EnvironmentRecord",
    "Fingerprint",
    "InvalidSeedError",
    "Registry",
    "RegistryError",
    "RegistryNotFoundError",
    "Run",
    "RunRecord",
    "SchemaError",
    "SeedregError",
    "UnknownRunError",
    "UnsupportedTypeError",
    "UsageError",
    "__version__",
    "fingerprint",
    "run",
]
