"""The plugin at work for one pytest session: a recorded run per test, and the replay of one when asked.

Seed scheme 2 (tag ``pytest.seed_scheme``): a test's block opens before its setup and closes
after its own teardown; wider-scope setup and teardown run inside it isolated
(:mod:`seedreg.testing.isolation`), so the record is a function of the test alone. Scheme 1
(runs without the tag) opened the block around everything the test's setup and teardown ran,
and is kept only to replay such runs as they were recorded.
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from seedreg.testing import invocation, isolation
from seedreg.testing.identity import Identity, node_seed

if TYPE_CHECKING:
    from seedreg.recording.block import Run
    from seedreg.testing.replaying import Replay

SCHEME = 2
ROOT_SEED_BITS = 32
#: The session's command a pytest-xdist worker's runs record instead of the worker's own (``-c``).
SESSION_FACTS = ("argv", "command", "launch", "script_path", "script_digest")


class SeedregSession:
    """The plugin object of one session (controller, worker or single process)."""

    def __init__(self, config: pytest.Config, replay: Replay | None) -> None:
        from seedreg.db import engines

        opt = config.option
        self.config = config
        self.url: str = engines.resolve_url(opt.seedreg_db)
        self.db_shown = engines.mask_url(self.url) if opt.seedreg_db else None
        self.replay = replay
        self.identity = Identity(config)
        shared = getattr(config, "workerinput", {}).get("seedreg")  # set by the controller of an xdist session
        self.worker = config.workerinput["workerid"] if shared else None  # type: ignore[attr-defined]
        #: Run columns every test's run takes from the session: the git state of the root directory (the
        #: project under test, not pytest's own files), and in a worker the controller's command.
        self.session_facts: dict[str, Any]
        if shared:
            self.root, self.session = int(shared["root"]), shared["session"]
            self.invocation, self.session_facts = shared["invocation"], shared["facts"]
        else:
            from seedreg.recording.environment import git_state

            self.root = opt.seedreg_seed if opt.seedreg_seed is not None else secrets.randbits(ROOT_SEED_BITS)
            self.session = uuid.uuid4().hex
            self.invocation = invocation.invocation(config)
            commit, dirty = git_state(str(config.rootpath))
            self.session_facts = {"git_commit": commit, "git_dirty": dirty}
        self.root_drawn = opt.seedreg_seed is None and not shared
        self.scheme = SCHEME
        if replay is not None:
            self.root, self.session, self.scheme = replay.root, replay.session, replay.scheme
        if self.scheme >= 2:
            config.pluginmanager.register(isolation.FixtureIsolation(self._fixture_seed), "seedreg-isolation")
        self.runs: dict[str, Run] = {}  # by pytest's node id: open blocks
        self.closed: dict[str, Run] = {}  # closed, until the test's teardown report names them
        self.blocks = 0  # tests' runs opened in this process
        self.errors: dict[str, tuple[Any, Any, Any]] = {}
        self.recorded: list[dict[str, str]] = []  # every run of the session (all workers'): nodeid, run, status
        self._prepare_runs()

    def _prepare_runs(self) -> None:
        """What every test's run takes from the session, computed once rather than per test."""
        self.reproducer = invocation.Reproducer(self.invocation, self.db_shown)
        self._recorded = {key: value for key, value in self.invocation.items() if key != "options"}
        self._columns = {name: json.dumps(value) if name in ("argv", "command") else value
                         for name, value in self.session_facts.items()}
        self._tags = {"session": self.session, "root_seed": str(self.root)}
        self._scheme_tag: dict[str, Any] = {"seed_scheme": self.scheme} if self.scheme >= 2 else {}

    # -- seeds of what is not the test's own ---------------------------------------------------

    def _setup_seed(self, node: Any) -> list[int]:
        return node_seed(self.root, self.identity.setup_key(node))

    def _fixture_seed(self, request: pytest.FixtureRequest, argname: str) -> list[int]:
        return node_seed(self.root, self.identity.fixture_key(request, argname))

    # -- hooks: session ------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        where = f"registry {self.db_shown or _masked(self.url)}"
        if self.replay is not None:
            return [self.replay.header(where)]
        how = f" (drawn: --seedreg-seed {self.root} repeats it)" if self.root_drawn else ""
        return [f"seedreg: root seed {self.root}{how}; {where}"]

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: every worker takes this session's root seed, id and command."""
        from seedreg.recording.environment import process_facts

        facts = process_facts()
        node.workerinput["seedreg"] = {"root": str(self.root), "session": self.session, "invocation": self.invocation,
                                       "facts": {**{name: getattr(facts, name) for name in SESSION_FACTS},
                                                 **self.session_facts}}

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Any:
        try:
            return (yield)
        except pytest.UsageError as error:  # e.g. the replayed test's file is gone
            if self.replay is None:
                raise
            self.replay.cannot(f"was not collected: {' '.join(str(error).split())}")

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if self.replay is not None:
            self.replay.select(config, items, self.identity)

    # -- hooks: one test -----------------------------------------------------------------------

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Open the test's block (skip marks were evaluated first); scheme 2 then sets up wider scopes isolated."""
        self._open(item)
        if self.scheme >= 2:
            isolation.setup_collectors(item, self._setup_seed)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        if self.scheme < 2:
            return (yield)
        error = isolation.teardown_item(item)
        errors = [error] if error is not None else []
        if item.nodeid in self.runs:
            if error is not None:
                self.errors.setdefault(item.nodeid, (type(error), error, error.__traceback__))
            try:
                self._close(item.nodeid)
            except Exception as closing:  # e.g. a seeder could not restore: an error of this test
                errors.append(RuntimeError(f"seedreg could not close run {self.closed[item.nodeid].id}: {closing}"))
        errors += isolation.teardown_collectors(item, nextitem, self._setup_seed)
        result = yield
        isolation.raise_all(errors)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        key = item.nodeid
        excinfo = call.excinfo
        if key in self.runs and excinfo is not None and not excinfo.errisinstance(pytest.skip.Exception):
            self.errors.setdefault(key, (excinfo.type, excinfo.value, excinfo.tb))
        if call.when == "teardown" and key in self.runs:  # scheme 1, or a block scheme 2 could not close
            try:
                self._close(key)
            except Exception as error:
                report.outcome = "failed"
                report.longrepr = f"seedreg could not close run {self.closed[key].id}: {error}"
        run = self.runs.get(key) or self.closed.get(key)
        if run is None:
            return report
        if report.failed:
            report.sections.append(("seedreg", self._describe(run)))
        if call.when == "teardown":
            del self.closed[key]
            report.seedreg = self._summary_entry(run)  # travels with the report to an xdist controller
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = getattr(report, "seedreg", None)
        if report.when == "teardown" and entry:
            self.recorded.append(entry)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for key in list(self.runs):  # interrupted mid-test: close what is still open
            self._close(key, interrupted=True)
            self.recorded.append(self._summary_entry(self.closed.pop(key)))
        if self.blocks:  # closes of tests that logged nothing wait for the writer's batch: commit them now
            from seedreg.recording.writer import flush_all

            flush_all()
        replay = self.replay
        if replay is None or replay.problem is not None:
            return
        if replay.comparison is None and session.exitstatus != pytest.ExitCode.INTERRUPTED:
            replay.compare(None)  # collected, but it did not run (skipped now): its block is missing
        if not replay.identical and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        write = terminalreporter.write_line
        terminalreporter.write_sep("-", "seedreg")
        if self.replay is not None:
            self.replay.summary(write)
            return
        write(f"{len(self.recorded)} run(s) recorded in {_masked(self.url)}, root seed {self.root}")
        for entry in self.recorded:
            if entry["status"] == "failed":
                write(f"failed {entry['nodeid']}: run {entry['run']}")
                write(f"  reproduce: {entry['reproduce']}")

    # -- the block -----------------------------------------------------------------------------

    def _open(self, item: pytest.Item) -> None:
        from seedreg.recording.block import Run  # NumPy, SQLAlchemy: once a test runs (not in an xdist controller)

        full = self.identity.full_id(item) if self.scheme >= 2 else item.nodeid
        replay = self.replay
        if replay is not None:
            replay.import_seeded_libraries()
        run = Run(full if len(full) <= 255 else full[:254] + "…",
                  node_seed(self.root, full) if replay is None else None, db=self.url)
        original = run.id if replay is None else replay.original.id
        selection = self.identity.selection(item)
        reproduce = self.reproducer.command(original, selection)
        run._own_tags({"pytest": {"nodeid": full, **self._tags, "reproduce": reproduce, **self._scheme_tag}})
        run._columns["invocation"] = json.dumps({**self._recorded, "replay": self.reproducer.args(original, selection),
                                                 "worker": self.worker})
        run._columns.update(self._columns)
        if replay is not None:
            run._replaying = (replay.seed(), replay.original.id, self.session)
        run._close_later = replay is None  # one transaction per batch of tests, not per test
        run.__enter__()
        self.blocks += 1
        self.runs[item.nodeid] = run

    def _close(self, key: str, interrupted: bool = False) -> None:
        run = self.runs.pop(key)
        exc_info = self.errors.pop(key, None)
        self.closed[key] = run
        if interrupted:
            run.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)
        elif exc_info is None:
            run.__exit__(None, None, None)
        else:
            run.__exit__(*exc_info)
        if self.replay is not None and self.replay.comparison is None:
            self.replay.compare(run.id)

    def _summary_entry(self, run: Run) -> dict[str, str]:
        return {"nodeid": str(run.tags["pytest.nodeid"]), "run": run.id, "status": run.status,
                "reproduce": str(run.tags["pytest.reproduce"])}

    def _describe(self, run: Run) -> str:
        seed = run.seed if isinstance(run.seed, int) else "[" + ", ".join(map(str, run.seed)) + "]"
        original = self.replay.original.id if self.replay is not None else run.id
        replaying = f", replay of {original}" if original != run.id else ""
        return (f"run {run.id} (seed {seed}{replaying}) in {_masked(self.url)}\n"
                f"reproduce: {run.tags['pytest.reproduce']}")


def _masked(url: str) -> str:
    from seedreg.db.engines import mask_url

    return mask_url(url)

