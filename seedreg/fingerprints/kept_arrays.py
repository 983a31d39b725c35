"""The data store: arrays logged with ``keep=True``, saved as ``.npy`` files named by digest.

``SEEDREG_STORE`` names the folder; by default it is ``seedreg-store`` beside a SQLite
registry. A server registry has no "beside", so there it must be set.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from seedreg.db import engines
from seedreg.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

STORE_ENV = "SEEDREG_STORE"


def location(url: str) -> Path:
    """The store folder for a registry URL."""
    chosen = os.environ.get(STORE_ENV)
    if chosen:
        return Path(chosen).expanduser().resolve()
    path = engines.sqlite_path(url)
    if path is None:
        raise UsageError(
            f"keep=True needs a data store: set {STORE_ENV} to a shared folder for the registry "
            f"{engines.mask_url(url)}"
        )
    return path.parent / "seedreg-store"


def path_for(url: str, hexdigest: str) -> Path:
    return location(url) / hexdigest[:2] / f"{hexdigest}.npy"


def save(url: str, hexdigest: str, array: np.ndarray) -> Path:
    """Save ``array`` under its digest (once: the same content is stored once), atomically."""
    import numpy as np

    target = path_for(url, hexdigest)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load(url: str, hexdigest: str) -> np.ndarray | None:
    """The kept array with this digest, memory-mapped; None when it is not in the store."""
    import numpy as np

    try:
        target = path_for(url, hexdigest)
    except UsageError:
        return None
    if not target.exists():
        return None
    return np.load(target, mmap_mode="r", allow_pickle=False)
