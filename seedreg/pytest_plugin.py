"""pytest plugin: ``pytest --seedreg`` runs each test inside a recorded ``seedreg.run`` block.

Installed with seedreg (entry point ``pytest11``) and inert unless ``--seedreg``,
``--seedreg-seed`` or ``--seedreg-replay`` is given: then, and only then, it opens the registry
(``--seedreg-db``, else ``$SEEDREG_DB``, else ``./seedreg.db``).

A test's run is named by its full node id (module path included, under ``--pyargs`` too) and
seeded by :func:`node_seed`: ``[root, w0, w1, w2, w3]``, ``root`` the session's root seed
(``--seedreg-seed N``, else 32 random bits printed in the header) and ``w0..w3`` the first 16
bytes of BLAKE3 of the full node id (UTF-8) as four little-endian uint32 — stable, and
independent of test order and selection. Its record covers the test alone: its block spans the
test's setup, call and teardown, while package/module/class setup and wider-scope fixtures run
isolated inside it (:mod:`seedreg.testing.isolation`). Every test's run records the command that
replays it (tag ``pytest.reproduce``): ``pytest --seedreg-replay RUN NODEID`` runs that one test
with the recorded seed, compares and stores the verdict; the session exits 1 when it differs.
The parts live in :mod:`seedreg.testing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from seedreg.testing.identity import node_seed
from seedreg.testing.session import ROOT_SEED_BITS, SeedregSession

if TYPE_CHECKING:
    from seedreg.recording.block import Run

__all__ = ["PLUGIN_NAME", "ROOT_SEED_BITS", "node_seed", "pytest_addoption", "pytest_configure", "seedreg_run"]

PLUGIN_NAME = "seedreg-session"


def _root_seed(text: str) -> int:
    import argparse

    from seedreg.seed.codec import MAX_SEED

    try:
        value = int(text, 10)
    except ValueError:
        value = -1
    if not 0 <= value < MAX_SEED:
        raise argparse.ArgumentTypeError(f"the root seed must be an int in [0, 2**128), not {text!r}")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("seedreg", "seedreg: record every test's seed, environment and data fingerprints")
    group.addoption("--seedreg", action="store_true", default=False,
                    help="Run each test inside a recorded seedreg.run block (experiment = its node id).")
    group.addoption("--seedreg-seed", type=_root_seed, default=None, metavar="N",
                    help="Root seed of the session, an int in [0, 2**128) (default: drawn and printed); "
                         "implies --seedreg.")
    group.addoption("--seedreg-replay", default=None, metavar="RUN",
                    help="Run the test a recorded run belongs to with its seed and compare with it.")
    group.addoption("--seedreg-db", default=None, metavar="PATH|URL",
                    help="Registry (default: $SEEDREG_DB, then ./seedreg.db).")


def pytest_configure(config: pytest.Config) -> None:
    opt = config.option
    if not (opt.seedreg or opt.seedreg_seed is not None or opt.seedreg_replay):
        return
    from seedreg.db import engines
    from seedreg.errors import SeedregError

    replay = None
    if opt.seedreg_replay:
        if opt.seedreg_seed is not None:
            raise pytest.UsageError("--seedreg-replay uses the recorded seed: drop --seedreg-seed")
        if getattr(opt, "numprocesses", None) and not hasattr(config, "workerinput"):
            raise pytest.UsageError("--seedreg-replay runs one test in one process: drop -n (pytest-xdist)")
        from seedreg.testing.replaying import Replay

        try:
            url = engines.resolve_url(opt.seedreg_db)
        except SeedregError as error:
            raise pytest.UsageError(f"--seedreg-db: {error}") from None
        replay = Replay(url, opt.seedreg_replay)
    try:
        plugin = SeedregSession(config, replay)
    except SeedregError as error:
        raise pytest.UsageError(f"--seedreg-db: {error}") from None
    config.pluginmanager.register(plugin, PLUGIN_NAME)


@pytest.fixture
def seedreg_run(request: pytest.FixtureRequest) -> Run:
    """The test's seedreg run (with ``pytest --seedreg``): ``run.log(...)``, ``run.rng``, ``run.spawn``."""
    session = request.config.pluginmanager.get_plugin(PLUGIN_NAME)
    if session is None:
        pytest.fail("the seedreg_run fixture needs `pytest --seedreg`", pytrace=False)
    run = session.runs.get(request.node.nodeid)
    if run is None:
        pytest.fail("no seedreg run is open for this test", pytrace=False)
    return run
