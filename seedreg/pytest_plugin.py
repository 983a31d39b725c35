"""pytest plugin: ``pytest --seedreg`` runs each test inside a recorded ``seedreg.run`` block.

Installed with seedreg (entry point ``pytest11``) and inert unless ``--seedreg``,
``--seedreg-seed`` or ``--seedreg-replay`` is given: then, and only then, it opens the registry
(``--seedreg-db``, else ``$SEEDREG_DB``, else ``./seedreg.db``).

Each test's block opens before its fixtures are set up (after skip marks are evaluated) and
closes after its teardown; its experiment is the node id. Its seed is :func:`node_seed`:
``[root, w0, w1, w2, w3]``, with ``root`` the session's root seed (``--seedreg-seed N``, else
32 random bits printed in the header) and ``w0..w3`` the first 16 bytes of BLAKE3 of the node
id (UTF-8) read as four little-endian uint32 — stable, and independent of test order and
selection. A failing test's report names its run and the command that replays it:
``pytest --seedreg-replay RUN NODEID`` runs that one test with the recorded seed, records a run
with ``replay_of`` set, compares fingerprints, RNG-state digest and status with the original,
stores the verdict (``seedreg show`` lists it) and prints it; the session exits 1 when they
differ, even if the test passed.
"""

from __future__ import annotations

import secrets
import shlex
import struct
import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from seedreg.recording.block import Run
    from seedreg.records import RunRecord
    from seedreg.replay.compare import BlockComparison
    from seedreg.seed.codec import Seed

PLUGIN_NAME = "seedreg-session"
ROOT_SEED_BITS = 32


def node_seed(root: int, nodeid: str) -> list[int]:
    """The seed of test ``nodeid`` under root seed ``root``: ``[root, *4 LE uint32 of BLAKE3(nodeid)[:16]]``."""
    import blake3

    return [root, *struct.unpack("<4I", blake3.blake3(nodeid.encode("utf-8")).digest()[:16])]


def _root_seed(text: str) -> int:
    import argparse

    try:
        value = int(text, 10)
    except ValueError:
        value = -1
    if not 0 <= value < 2**128:
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
    if opt.seedreg_replay and opt.seedreg_seed is not None:
        raise pytest.UsageError("--seedreg-replay uses the recorded seed: drop --seedreg-seed")
    config.pluginmanager.register(SeedregSession(config), PLUGIN_NAME)


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


class SeedregSession:
    """The plugin at work for one pytest session: a run per test, and the replay when asked."""

    def __init__(self, config: pytest.Config) -> None:
        from seedreg.db import engines
        from seedreg.errors import SeedregError

        opt = config.option
        self.config = config
        self.db_option: str | None = opt.seedreg_db
        try:
            self.url = engines.resolve_url(opt.seedreg_db)
        except SeedregError as error:
            raise pytest.UsageError(f"--seedreg-db: {error}") from None
        self.session = uuid.uuid4().hex
        self.root_drawn = opt.seedreg_seed is None
        self.root: int = secrets.randbits(ROOT_SEED_BITS) if self.root_drawn else opt.seedreg_seed
        self.runs: dict[str, Run] = {}
        self.errors: dict[str, Any] = {}
        self.recorded: list[tuple[str, str, str]] = []  # (nodeid, run id, status)
        self.original: RunRecord | None = None
        self.comparison: BlockComparison | None = None
        if opt.seedreg_replay:
            self.original = self._original(opt.seedreg_replay)

    # -- replay ------------------------------------------------------------------------------

    def _original(self, ref: str) -> RunRecord:
        from seedreg.errors import SeedregError
        from seedreg.registry.facade import Registry

        try:
            registry = Registry(self.url)
            record = registry.get(ref)
            if record.replay_of:  # a replay stands for its original, as in `seedreg replay`
                record = registry.get(record.replay_of)
        except SeedregError as error:
            raise pytest.UsageError(f"--seedreg-replay: {error}") from None
        if "pytest.nodeid" not in record.tags:
            raise pytest.UsageError(
                f"--seedreg-replay: run {record.id[:12]} was not recorded by `pytest --seedreg`; "
                "use `seedreg replay` for it"
            )
        return record

    @property
    def replay_nodeid(self) -> str | None:
        return None if self.original is None else str(self.original.tags["pytest.nodeid"])

    def _replay_seed(self) -> Seed:
        from seedreg.seed.codec import Seed

        assert self.original is not None
        return Seed(self.original.seed, self.original.seed_kind, "replay", tuple(self.original.spawn_key))

    # -- hooks -------------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        from seedreg.db.engines import mask_url

        where = f"registry {mask_url(self.url)}"
        if self.original is not None:
            return [f"seedreg: replaying run {self.original.id} ({self.replay_nodeid}) with its recorded seed; {where}"]
        how = f" (drawn: --seedreg-seed {self.root} repeats it)" if self.root_drawn else ""
        return [f"seedreg: root seed {self.root}{how}; {where}"]

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if self.original is None:
            return
        keep = [item for item in items if item.nodeid == self.replay_nodeid]
        if not keep:
            raise pytest.UsageError(
                f"--seedreg-replay: run {self.original.id[:12]} recorded test {self.replay_nodeid!r}, "
                "which was not collected (run pytest from the same root directory and pass that node id)"
            )
        dropped = [item for item in items if item.nodeid != self.replay_nodeid]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Open the test's block (skip marks were evaluated first; fixtures are set up after)."""
        import seedreg

        nodeid = item.nodeid
        tags: dict[str, Any] = {"pytest": {"nodeid": nodeid, "session": self.session}}
        if self.original is None:
            seed: Any = node_seed(self.root, nodeid)
            tags["pytest"]["root_seed"] = str(self.root)
        else:
            seed = None
        run = seedreg.run(nodeid if len(nodeid) <= 255 else nodeid[:254] + "…", seed, tags=tags,
                          db=self.db_option)
        if self.original is not None:
            run._replaying = (self._replay_seed(), self.original.id, self.session)
        run.__enter__()
        self.runs[nodeid] = run

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        run = self.runs.get(item.nodeid)
        if run is None:
            return report
        excinfo = call.excinfo
        if excinfo is not None and not excinfo.errisinstance(pytest.skip.Exception):
            self.errors.setdefault(item.nodeid, excinfo)
        if call.when == "teardown":
            try:
                self._close(item.nodeid, run)
            except Exception as error:  # closing failed (e.g. a seeder could not restore): an error of this test
                report.outcome = "failed"
                report.longrepr = f"seedreg could not close run {run.id}: {error}"
        if report.failed:
            report.sections.append(("seedreg", self._reproduce(item.nodeid, run)))
        return report

    def _close(self, nodeid: str, run: Run, interrupted: bool = False) -> None:
        del self.runs[nodeid]
        excinfo = self.errors.pop(nodeid, None)
        try:
            if interrupted:
                run.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)
            elif excinfo is None:
                run.__exit__(None, None, None)
            else:
                run.__exit__(excinfo.type, excinfo.value, excinfo.tb)
        finally:
            self.recorded.append((nodeid, run.id, run.status))
        if self.original is not None and nodeid == self.replay_nodeid:
            self.comparison = self._compare(run.id)

    def _compare(self, replay_id: str) -> BlockComparison:
        from seedreg.fingerprints import kept_arrays
        from seedreg.registry.facade import Registry
        from seedreg.replay.compare import compare_block
        from seedreg.replay.runner import store_verdicts

        assert self.original is not None
        registry = Registry(self.url)
        original, replayed = registry.get(self.original.id), registry.get(replay_id)

        def kept(a: Any, b: Any) -> tuple[Any, Any]:
            return kept_arrays.load(registry.url, a.hexdigest), kept_arrays.load(registry.url, b.hexdigest)

        comparison = compare_block(original, replayed, kept)
        store_verdicts(registry.engine(), self.session, [comparison])
        return comparison

    def _reproduce(self, nodeid: str, run: Run) -> str:
        from seedreg.db.engines import mask_url

        original = self.original.id if self.original is not None else run.id
        command = ["pytest", "--seedreg-replay", original]
        if self.db_option:
            command += ["--seedreg-db", mask_url(self.url)]
        seed = run.seed if isinstance(run.seed, int) else "[" + ", ".join(map(str, run.seed)) + "]"
        replaying = f", replay of {original}" if original != run.id else ""
        return (f"run {run.id} (seed {seed}{replaying}) in {mask_url(self.url)}\n"
                f"reproduce: {shlex.join([*command, nodeid])}")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for nodeid, run in list(self.runs.items()):  # interrupted mid-test: close what is still open
            self._close(nodeid, run, interrupted=True)
        if self.original is not None and (self.comparison is None or self.comparison.verdict != "identical"):
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from seedreg.db.engines import mask_url

        write = terminalreporter.write_line
        terminalreporter.write_sep("-", "seedreg")
        if self.original is not None:
            self._summary_replay(write)
            return
        failed = [(nodeid, run_id) for nodeid, run_id, status in self.recorded if status == "failed"]
        write(f"{len(self.recorded)} run(s) recorded in {mask_url(self.url)}, root seed {self.root}")
        db = ["--seedreg-db", mask_url(self.url)] if self.db_option else []
        for nodeid, run_id in failed:
            write(f"failed {nodeid}: run {run_id}")
            write(f"  reproduce: {shlex.join(['pytest', '--seedreg-replay', run_id, *db, nodeid])}")

    def _summary_replay(self, write: Any) -> None:
        from seedreg.cli.render import render_comparison

        assert self.original is not None
        if self.comparison is None:
            write(f"replay of {self.original.id}: the recorded test {self.replay_nodeid} did not run: DIFFERENT")
            return
        for line in render_comparison(self.comparison):
            write(line)
        identical = self.comparison.verdict == "identical"
        outcome = f"the original {self.original.status} run is reproduced" if identical else "it does not reproduce"
        write(f"seedreg replay verdict: {self.comparison.verdict} ({outcome})")
