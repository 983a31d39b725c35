"""Jupyter notebooks (DESIGN §8): which notebook and cell a block opened in, and replaying a notebook.

:mod:`~seedreg.notebook.cells` digests a notebook's code cells, :mod:`~seedreg.notebook.kernel`
finds the notebook, cell and execution order from inside a kernel (importing nothing of Jupyter),
and :mod:`~seedreg.notebook.execute` runs a notebook top to bottom in a fresh kernel (nbclient,
the extra ``seedreg[notebook]``).
"""
