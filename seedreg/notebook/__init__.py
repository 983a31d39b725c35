"""Jupyter notebooks (DESIGN §8): which notebook and cell a block opened in, and replaying a notebook.

:mod:`~seedreg.notebook.cells` digests a notebook's code cells, :mod:`~seedreg.notebook.kernel`
finds the notebook, cell and execution order from inside a kernel (importing nothing of Jupyter),
and :mod:`~seedreg.notebook.execute` runs a notebook top to bottom in a fresh kernel (nbclient,
the extra ``seedreg[notebook]``).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seedreg.notebook.kernel import BlockCell


def block_cell(explicit: str | os.PathLike[str] | None = None, *, root: bool = True) -> BlockCell | None:
    """The notebook facts of a block opening now (:func:`seedreg.notebook.kernel.block_cell`), or None
    outside a Jupyter kernel, where the notebook modules are never imported (a script's first block)."""
    if "ipykernel" not in sys.modules:  # no kernel in this process (what kernel.shell() checks first)
        return None
    from seedreg.notebook import kernel

    return kernel.block_cell(explicit, root=root)
