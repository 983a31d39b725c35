"""``python -m seedreg``: the same as the ``seedreg`` command."""

from .cli import main

main()
