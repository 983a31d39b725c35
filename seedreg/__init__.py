"""seedreg: a seed registry for experiment code.

``with seedreg.run("split", seed=101) as run:`` seeds ``np.random``, ``run.rng`` and
``random``, records the seed and environment, and fingerprints what ``run.log`` is given.
``seedreg.Registry`` reads runs back; the ``seedreg`` command lists, shows and audits them.

Importing seedreg does not import NumPy (so ``seedreg list`` starts fast); NumPy is
imported when a run starts or an array is fingerprinted.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from seedreg.errors import (
    DuplicateNameError,
    InvalidSeedError,
    InvalidTagError,
    RegistryError,
    RegistryNotFoundError,
    SchemaError,
    SeederError,
    SeedregError,
    UnknownRunError,
    UnsupportedTypeError,
    UsageError,
)
from seedreg.fingerprints.digest import Fingerprint

if TYPE_CHECKING:
    from seedreg.environment_record import EnvironmentRecord
    from seedreg.fingerprints.encoding import fingerprint
    from seedreg.recording.block import Run, run
    from seedreg.records import RunRecord
    from seedreg.registry.facade import Registry

__version__ = "0.1.0"


#: Names loaded on first use: the with-block needs NumPy and the registry SQLAlchemy, so that
#: ``import seedreg`` (the pytest plugin, the CLI's start) stays cheap; building the record
#: dataclasses costs a few ms too.
_LAZY = {
    "RunRecord": "records",
    "EnvironmentRecord": "environment_record",
    "run": "recording.block",
    "Run": "recording.block",
    "Registry": "registry.facade",
    "fingerprint": "fingerprints.encoding",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seedreg' has no attribute {name!r}")
    loaded = sys.modules.get(f"{__name__}.{module}")
    if loaded is not None:  # every block looks `seedreg.run` up: no import machinery, no collector pause
        return getattr(loaded, name)
    from importlib import import_module

    from seedreg.gc_pause import paused

    with paused():  # a burst of imports
        if module == "recording.block":
            # The block's git state: its one `git status` runs while SQLAlchemy and the rest import.
            import_module(".recording.environment", __name__).prefetch_git()
        return getattr(import_module(f".{module}", __name__), name)


__all__ = [
    "DuplicateNameError",
    "EnvironmentRecord",
    "Fingerprint",
    "InvalidSeedError",
    "InvalidTagError",
    "Registry",
    "RegistryError",
    "RegistryNotFoundError",
    "Run",
    "RunRecord",
    "SchemaError",
    "SeederError",
    "SeedregError",
    "UnknownRunError",
    "UnsupportedTypeError",
    "UsageError",
    "__version__",
    "fingerprint",
    "run",
]
