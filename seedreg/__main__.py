"""``python -m seedreg``: the same as the ``seedreg`` command."""

from seedreg.cli import main

main()
