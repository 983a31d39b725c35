"""The data store: logged arrays saved as ``.npy`` files named by digest, so a replay can name the element.

``SEEDREG_STORE`` names the folder; by default it is ``seedreg-store`` beside a SQLite
registry. A server registry has no "beside": there ``keep=True`` needs it set, and the default
(numeric and boolean arrays of at most 64 KiB, DESIGN §2) keeps nothing without it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedreg.db import engines
from seedreg.errors import SeedregError, UsageError

if TYPE_CHECKING:
    import numpy as np

STORE_ENV = "SEEDREG_STORE"
#: ``SEEDREG_KEEP_SMALL=0`` turns off keeping small arrays by default.
KEEP_SMALL_ENV = "SEEDREG_KEEP_SMALL"
#: Arrays of at most this many bytes are kept by default: their single chunk says nothing about where they differ.
SMALL_BYTES = 64 * 1024
#: NumPy dtype kinds that are kept: booleans, integers and floating point (real and complex); never objects or strings.
KEPT_KINDS = "biufc"


class KeptArrayError(SeedregError):
    """A file in the store whose content does not match the digest it is named by: refused, never compared."""


def configured(url: str) -> bool:
    """Whether the registry ``url`` has a data store: ``SEEDREG_STORE`` set, or a SQLite file to sit beside."""
    return bool(os.environ.get(STORE_ENV)) or engines.sqlite_path(url) is not None


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


def storable(array: Any) -> bool:
    """Whether ``array`` (an ndarray or NumPy scalar) may be kept: numeric or boolean, no pickle needed."""
    return array.dtype.kind in KEPT_KINDS


def keeps_by_default(url: str, array: Any) -> bool:
    """Whether ``run.log`` without ``keep=`` keeps ``array``: numeric or boolean, at most 64 KiB, a store
    configured, and ``SEEDREG_KEEP_SMALL`` not 0."""
    return (array.nbytes <= SMALL_BYTES and storable(array)
            and os.environ.get(KEEP_SMALL_ENV, "1").strip().lower() not in ("0", "false", "no", "off")
            and configured(url))


def path_for(url: str, hexdigest: str) -> Path:
    return location(url) / hexdigest[:2] / f"{hexdigest}.npy"


def save(url: str, hexdigest: str, array: np.ndarray) -> Path:
    """Save ``array`` under its digest (once: the same content is stored once), atomically."""
    import numpy as np

    target = path_for(url, hexdigest)
    if target.exists():
        return target
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    except FileNotFoundError:  # the first array in this folder: make it only then (a log stays cheap)
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
    """The kept array with this digest, memory-mapped; None when it is not in the store.

    Raises KeptArrayError when the file's content does not match ``hexdigest`` (edited, or
    not an array): such a file is never compared.
    """
    import numpy as np

    from seedreg.fingerprints.encoding import fingerprint

    try:
        target = path_for(url, hexdigest)
    except UsageError:
        return None
    if not target.exists():
        return None
    try:
        array = np.load(target, mmap_mode="r", allow_pickle=False)
        matches = fingerprint(array).hexdigest == hexdigest
    except (OSError, ValueError, TypeError, SeedregError) as error:
        raise KeptArrayError(f"the kept array {target} is not a readable array ({error}): refused") from None
    if not matches:
        raise KeptArrayError(f"the kept array {target} does not match its digest: refused, not compared")
    return array
