"""Pausing the cyclic garbage collector over a burst of allocations that leaves no cycles behind.

Two bursts of seedreg's are such: thousands of records read back, and the modules a first block
or a first engine imports. The collector's passes over the growing heap find nothing there; one
full pass over a process that has imported NumPy and SQLAlchemy cost a new process's first
block about 25 ms. It runs again after the burst, on its usual schedule.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block (unless the collector was off already, when it stays off)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
