"""The pytest plugin (seedreg/pytest_plugin.py), driven with pytester: inert by default; with
``--seedreg`` one recorded run per test, seeded from the root seed and the node id; a failing
randomized test names its run and the command that replays it; that replay reproduces it."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke
from plugin_helpers import PLUGIN, reproduce_command, run_printed, runs

import seedreg
from seedreg.pytest_plugin import node_seed

pytest_plugins = ["pytester"]

RANDOMIZED = """
    import random
    import numpy as np

    def test_ok(seedreg_run):
        seedreg_run.log("draws", np.random.randint(0, 1000, 8))

    def test_unlucky(seedreg_run):
        data = np.random.permutation(20)
        seedreg_run.log("data", data)
        noise = seedreg_run.rng.normal(size=3)
        seedreg_run.log("noise", noise)
        assert data[0] > 100, f"first={data[0]} pick={random.randrange(1000)}"
"""


@pytest.fixture(scope="module", autouse=True)
def imported_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Import what a recorded run needs before the in-process runs: pytester drops the modules first
    imported inside one, and NumPy (like the dialects Alembic registers) cannot be imported twice."""
    registry = tmp_path_factory.mktemp("warm") / "warm.db"
    with seedreg.run("warm-up", seed=1, db=registry) as run:
        run.log("x", np.zeros(2))
    seedreg.Registry(registry).diff(run.id, run.id)


def test_inert_without_the_option(pytester: pytest.Pytester, registry_path: Path):
    pytester.makepyfile("""
        import numpy as np

        def test_draws():
            np.random.random()

        def test_fixture(seedreg_run):
            pass
    """)
    result = pytester.runpytest_inprocess(*PLUGIN)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*the seedreg_run fixture needs `pytest --seedreg`*"])
    assert "seedreg: root seed" not in result.stdout.str()
    assert not registry_path.exists()  # no registry opened, none created


def test_each_test_runs_in_a_recorded_block_seeded_from_root_and_node_id(pytester: pytest.Pytester,
                                                                        registry_path: Path):
    pytester.makepyfile(test_a="""
        import random
        import numpy as np
        import pytest
        from seedreg.pytest_plugin import node_seed

        @pytest.fixture
        def data():
            return np.random.randint(0, 10**6, 3)   # fixtures run inside the test's block too

        @pytest.mark.parametrize("n", [1, 2])
        def test_streams(request, seedreg_run, data, n):
            seed = node_seed(5, request.node.nodeid)
            assert seedreg_run.seed == tuple(seed) and seedreg_run.experiment == request.node.nodeid
            legacy = np.random.RandomState(seed)
            assert list(data) == list(legacy.randint(0, 10**6, 3))
            assert np.random.random() == legacy.random_sample()
            assert seedreg_run.rng.random() == np.random.default_rng(seed).random()
            seedreg_run.log("data", data)

        @pytest.mark.skip(reason="not recorded")
        def test_skipped():
            pass
    """)
    result = pytester.runpytest_inprocess(*PLUGIN, "--seedreg", "--seedreg-seed", "5")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["seedreg: root seed 5; registry sqlite:///*registry.db",
                                 "2 run(s) recorded in *registry.db, root seed 5"])
    recorded = {r.experiment: r for r in runs(registry_path)}
    assert set(recorded) == {"test_a.py::test_streams[1]", "test_a.py::test_streams[2]"}
    for nodeid, record in recorded.items():
        assert record.status == "completed" and list(record.seed) == node_seed(5, nodeid)
        assert record.tags["pytest.nodeid"] == nodeid and record.tags["pytest.root_seed"] == "5"
        assert "data" in record.fingerprints
    assert len({r.tags["pytest.session"] for r in recorded.values()}) == 1


def test_a_tests_seed_does_not_depend_on_order_or_selection(pytester: pytest.Pytester, registry_path: Path):
    pytester.makepyfile(test_b="""
        import numpy as np

        def test_one(seedreg_run):
            seedreg_run.log("x", np.random.random(4))

        def test_two(seedreg_run):
            seedreg_run.log("x", np.random.random(4))
    """)
    pytester.runpytest_inprocess(*PLUGIN, "--seedreg-seed", "77").assert_outcomes(passed=2)
    pytester.runpytest_inprocess(*PLUGIN, "--seedreg-seed", "77", "test_b.py::test_two").assert_outcomes(passed=1)
    pytester.runpytest_inprocess(*PLUGIN, "--seedreg-seed", "77", "-k", "two or one",
                                 "test_b.py::test_two", "test_b.py::test_one").assert_outcomes(passed=2)
    two = [r for r in runs(registry_path) if r.experiment == "test_b.py::test_two"]
    assert len(two) == 3
    assert len({r.seed for r in two}) == 1 and len({str(r.fingerprints["x"]) for r in two}) == 1
    one = [r for r in runs(registry_path) if r.experiment == "test_b.py::test_one"]
    assert one[0].seed != two[0].seed


def test_a_drawn_root_seed_is_printed_and_recorded(pytester: pytest.Pytester, registry_path: Path):
    pytester.makepyfile("def test_x(seedreg_run):\n    pass\n")
    result = pytester.runpytest_inprocess(*PLUGIN, "--seedreg")
    result.assert_outcomes(passed=1)
    match = re.search(r"seedreg: root seed (\d+) \(drawn: --seedreg-seed \1 repeats it\)", result.stdout.str())
    assert match, result.stdout.str()
    (record,) = runs(registry_path)
    assert record.tags["pytest.root_seed"] == match.group(1)
    assert list(record.seed) == node_seed(int(match.group(1)), record.experiment)


@pytest.mark.slow  # a long subprocess suite
def test_failing_randomized_test_is_recorded_and_its_replay_reproduces_the_failure(pytester: pytest.Pytester,
                                                                                  registry_path: Path):
    pytester.makepyfile(test_rand=RANDOMIZED)
    first = pytester.runpytest_subprocess(*PLUGIN, "--seedreg")
    first.assert_outcomes(passed=1, failed=1)
    nodeid = "test_rand.py::test_unlucky"
    (failed,) = [r for r in runs(registry_path) if r.experiment == nodeid]
    assert failed.status == "failed" and "AssertionError" in failed.error
    output = first.stdout.str()
    assert f"run {failed.id} (seed [" in output  # the failure's own report section names the run
    command = reproduce_command(output, nodeid)
    assert command == ["pytest", "--seedreg-replay", failed.id, nodeid]
    message = re.search(r"AssertionError: (first=\d+ pick=\d+)", output).group(1)

    replayed = pytester.runpytest_subprocess(*PLUGIN, *command[1:])
    replayed.assert_outcomes(failed=1)  # the same test fails again ...
    text = replayed.stdout.str()
    assert f"AssertionError: {message}" in text  # ... with the same random values
    assert f"seedreg: replaying run {failed.id} ({nodeid}) with its recorded seed" in text
    replayed.stdout.fnmatch_lines([f"{failed.id[:12]} -> * {nodeid}  IDENTICAL", "*✓ data*identical",
                                 "*✓ noise*identical", "*✓ rng state*identical", "*✓ status*failed",
                                 "seedreg replay verdict: identical (the original failed run is reproduced)"])
    (again,) = seedreg.Registry(registry_path).runs(replays=True)
    assert again.replay_of == failed.id and again.seed == failed.seed and again.seed_source == "replay"
    assert again.status == "failed" and again.fingerprints == failed.fingerprints
    assert again.rng_digest == failed.rng_digest
    (verdict,) = seedreg.Registry(registry_path).replays_of(failed.id)
    assert verdict.verdict == "identical" and verdict.replay == again.id


def test_a_replay_that_differs_exits_non_zero_even_when_the_test_passes(pytester: pytest.Pytester,
                                                                       registry_path: Path):
    test_file = pytester.makepyfile(test_c="""
        import numpy as np

        def test_flaky(seedreg_run):
            seedreg_run.log("x", np.random.random(3))
            assert False, "recorded as failing"
    """)
    pytester.runpytest_inprocess(*PLUGIN, "--seedreg").assert_outcomes(failed=1)
    (original,) = runs(registry_path)
    test_file.write_text(test_file.read_text().replace('assert False, "recorded as failing"', "np.random.random()"))
    result = pytester.runpytest_inprocess(*PLUGIN, "--seedreg-replay", original.id[:10], "test_c.py::test_flaky")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*DIFFERENT", "*✓ x*identical", "*✗ rng state*different",
                                 "*✗ status*failed -> completed", "seedreg replay verdict: different*"])
    (verdict,) = seedreg.Registry(registry_path).replays_of(original.id)
    assert verdict.verdict == "different"


def test_replay_refuses_runs_it_cannot_replay(pytester: pytest.Pytester, registry_path: Path):
    with seedreg.run("not-a-test", seed=1) as run:
        pass
    pytester.makepyfile(test_d="def test_x(seedreg_run):\n    pass\n")
    result = pytester.runpytest_inprocess(*PLUGIN, "--seedreg-replay", run.id)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "was not recorded by `pytest --seedreg`; use `seedreg replay`" in result.stderr.str()
    result = pytester.runpytest_inprocess(*PLUGIN, "--seedreg-replay", "ffffffff")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "no run matches 'ffffffff'" in result.stderr.str()
    result = pytester.runpytest_inprocess(*PLUGIN, "--seedreg-replay", run.id, "--seedreg-seed", "3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "drop --seedreg-seed" in result.stderr.str()
    result = pytester.runpytest_inprocess(*PLUGIN, "--seedreg-seed", "-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "root seed must be an int" in result.stderr.str()


def test_node_seed_is_the_documented_rule():
    import blake3

    digest = blake3.blake3(b"tests/test_x.py::test_y[1]").digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    assert node_seed(9, "tests/test_x.py::test_y[1]") == [9, *words]
    # pinned: a test's seed must never change between seedreg releases
    assert node_seed(0, "a::b") == [0, 2778209917, 2513374292, 2816121254, 2650732700]
    assert node_seed(2**127, "a::b")[1:] == node_seed(0, "a::b")[1:]


def test_the_reproduce_command_quotes_every_word_for_a_shell():
    from seedreg.testing.invocation import Reproducer

    options = ["-W", "error::UserWarning", "-o", "addopts=-p no:x", "--flag='q'"]
    reproducer = Reproducer({"dir": "/tmp/a dir", "options": options}, "sqlite:////tmp/$HOME db")
    selection = "tests/test_x.py::test_y[a b-'c']"
    assert reproducer.args("r1", selection) == [*options, "--seedreg-replay", "r1", selection]
    command = reproducer.command("r1", selection)
    assert shlex.split(command) == ["cd", "/tmp/a dir", "&&", "pytest", *options, "--seedreg-replay", "r1",
                                    "--seedreg-db", "sqlite:////tmp/$HOME db", selection]
    assert Reproducer({"dir": "/tmp", "options": []}, None).command("r1", "t.py::x") == (
        "cd /tmp && pytest --seedreg-replay r1 t.py::x")


def test_each_run_records_its_session_and_the_command_that_replays_it(pytester: pytest.Pytester,
                                                                     registry_path: Path):
    pytester.makepyfile(test_inv="""
        def test_one():
            pass

        def test_two():
            pass
    """)
    given = [*PLUGIN, "--seedreg", "--seedreg-seed", "3", "-x", "-v", "-k", "one or two", "--tb=short", "-rA",
             "-W", "error::UserWarning", "-o", "xfail_strict=true", "--durations", "2", "test_inv.py"]
    pytester.runpytest_inprocess(*given).assert_outcomes(passed=2)
    record = {r.experiment: r for r in runs(registry_path)}["test_inv.py::test_one"]
    invocation = record.invocation
    assert invocation["args"][-len(given):] == given  # pytester adds --basetemp first
    assert invocation["dir"] == invocation["rootdir"] == str(pytester.path)
    # every option but the positional selection, the denylist (-x, -v, -k, --tb, -r, --durations,
    # --basetemp, seedreg's own) is kept; the selection is this one test
    assert invocation["replay"] == [*PLUGIN, "-W", "error::UserWarning", "-o", "xfail_strict=true",
                                    "--seedreg-replay", record.id, "test_inv.py::test_one"]
    assert record.tags["pytest.reproduce"] == (f"cd {pytester.path} && pytest {' '.join(invocation['replay'])}")
    assert record.tags["pytest.seed_scheme"] == 2 and record.to_json()["invocation"] == invocation


def test_a_failure_that_needs_the_sessions_options_replays_identical(pytester: pytest.Pytester,
                                                                    registry_path: Path):
    pytester.makeconftest("""
        def pytest_addoption(parser):
            parser.addoption("--flavor", default="sweet")
    """)
    pytester.makepyfile(test_opts="""
        import warnings
        import numpy as np

        def test_warns(seedreg_run):
            seedreg_run.log("x", np.random.random(3))
            warnings.warn("deprecated", UserWarning)

        def test_flavor(request):
            assert request.config.getoption("--flavor") != "sour"
    """)
    first = pytester.runpytest_subprocess(*PLUGIN, "--seedreg", "-W", "error::UserWarning", "--flavor", "sour",
                                          "-p", "no:randomly", "-q")
    first.assert_outcomes(failed=2)
    for record in runs(registry_path):
        assert record.status == "failed"
        command = record.tags["pytest.reproduce"]
        assert f"reproduce: {command}" in first.stdout.str()  # printed in the failure's section and the summary
        assert "-W error::UserWarning --flavor sour -p no:randomly --seedreg-replay" in command and " -q " not in command
        done = run_printed(command)  # as printed, in a shell: `cd DIR && pytest …`
        assert done.returncode == 1, done.stdout + done.stderr  # the test fails again, the same way
        assert "seedreg replay verdict: identical (the original failed run is reproduced)" in done.stdout
        (verdict,) = seedreg.Registry(registry_path).replays_of(record.id)
        assert verdict.verdict == "identical"
    # without the recorded options the same test passes: what the replay would have said before
    warns = {r.experiment: r for r in runs(registry_path)}["test_opts.py::test_warns"]
    done = run_printed(f"cd {pytester.path} && pytest {' '.join(PLUGIN)} --seedreg-replay {warns.id} "
                       "test_opts.py::test_warns")
    assert "✗ status           failed -> completed" in done.stdout and done.returncode == 1


def test_a_test_that_cannot_be_collected_is_an_error_not_a_verdict(pytester: pytest.Pytester,
                                                                  registry_path: Path):
    test_file = pytester.makepyfile(test_gone="def test_here():\n    assert False\n")
    pytester.runpytest_inprocess(*PLUGIN, "--seedreg").assert_outcomes(failed=1)
    (record,) = runs(registry_path)
    test_file.write_text("def test_renamed():\n    pass\n")
    done = run_printed(record.tags["pytest.reproduce"])
    assert done.returncode == 2, done.stdout + done.stderr
    assert (f"seedreg: cannot replay run {record.id[:12]}: its test test_gone.py::test_here was not collected"
            in done.stdout)
    assert "replay verdict" not in done.stdout and "DIFFERENT" not in done.stdout
    test_file.unlink()  # the file itself gone: pytest's own usage error becomes the same clear error
    done = run_printed(record.tags["pytest.reproduce"])
    assert done.returncode == 2 and "was not collected: file or directory not found" in done.stdout, done.stdout
    result = invoke("replay", record.id, "--yes")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: the test of run {record.id[:12]} could not be replayed: pytest exited with code 2 before it ran "
        "(its output is above)")
    assert seedreg.Registry(registry_path).replays_of(record.id) == []


def test_seedreg_replay_of_a_tests_run_replays_that_one_test(pytester: pytest.Pytester, registry_path: Path):
    pytester.makepyfile(test_rand=RANDOMIZED)
    pytester.runpytest_subprocess(*PLUGIN, "--seedreg").assert_outcomes(passed=1, failed=1)
    failed = {r.experiment: r for r in runs(registry_path)}["test_rand.py::test_unlucky"]
    result = invoke("replay", failed.id, "--yes", "--json")
    assert result.exit_code == 0, result.output  # a test that failed and fails the same way again: identical
    report = json.loads(result.stdout)
    assert report["verdict"] == "identical" and report["cwd"] == str(pytester.path)
    assert report["command"][1:3] == ["-m", "pytest"]
    assert report["command"][3:] == failed.invocation["replay"]
    (block,) = report["blocks"]
    assert block["original"] == failed.id and block["status"] == {"identical": True, "original": "failed",
                                                                  "replay": "failed"}
    (verdict,) = seedreg.Registry(registry_path).replays_of(failed.id)  # stored once, by the plugin
    assert verdict.session == report["session"] and verdict.replay == block["replay"]
    made = seedreg.Registry(registry_path).runs(replays=True)
    assert [r.experiment for r in made] == ["test_rand.py::test_unlucky"]  # that one test, not the session
    text = invoke("replay", "--last", "--yes").stdout  # the newest root run: this test's, not its replay
    assert f"replayed {failed.id[:12]} (root {failed.id[:12]})" in text and "verdict: identical" in text


OLD_PLUGIN = """
    import uuid
    import pytest
    import seedreg
    from seedreg.pytest_plugin import node_seed

    # What `pytest --seedreg` did before seed schemes: the block around the whole setup and teardown.
    SESSION, OPEN = uuid.uuid4().hex, {}

    def pytest_runtest_setup(item):
        run = seedreg.run(item.nodeid, node_seed(5, item.nodeid))
        run._own_tags({"pytest": {"nodeid": item.nodeid, "session": SESSION, "root_seed": "5"}})
        OPEN[item.nodeid] = run.__enter__()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(item, call):
        report = yield
        if call.when == "teardown":
            OPEN.pop(item.nodeid).__exit__(None, None, None)
        return report
"""


def test_runs_recorded_before_seed_schemes_replay_as_they_did(pytester: pytest.Pytester, registry_path: Path):
    pytester.makeconftest(OLD_PLUGIN)
    pytester.makepyfile(test_old="""
        import numpy as np

        def setup_module(module):
            module.drawn = np.random.random(5)   # ran inside the first test's block then

        def test_first():
            np.random.random()
    """)
    pytester.runpytest_subprocess(*PLUGIN).assert_outcomes(passed=1)
    (old,) = runs(registry_path)
    assert "pytest.seed_scheme" not in old.tags
    pytester.makeconftest("")
    replayed = pytester.runpytest_subprocess(*PLUGIN, "--seedreg-replay", old.id, "test_old.py::test_first")
    replayed.stdout.fnmatch_lines(["*✓ rng state*identical", "seedreg replay verdict: identical*"])
    (again,) = seedreg.Registry(registry_path).runs(replays=True)
    assert "pytest.seed_scheme" not in again.tags  # replayed by scheme 1, as it was recorded


BATCHED = """
    import os, sqlite3, time
    import numpy as np

    def committed(nodeid):
        # What another process sees: committed rows only, through its own connection.
        conn = sqlite3.connect(f"file:{os.environ['SEEDREG_DB']}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT runs.status, count(chain.seq) FROM runs LEFT JOIN chain ON chain.run_id = runs.id"
                               " WHERE experiment = ? GROUP BY runs.id", (nodeid,)).fetchone()
            return None if row is None else tuple(row)
        finally:
            conn.close()

    def test_a_nothing_logged():
        pass

    def test_b_sees_a_committed_within_the_batch():
        deadline = time.monotonic() + 30  # DESIGN §1 bounds it to 50 ms; the machine may be slow
        while committed("test_batched.py::test_a_nothing_logged") != ("completed", 1):
            assert time.monotonic() < deadline, committed("test_batched.py::test_a_nothing_logged")
            time.sleep(0.005)

    def test_c_logs(seedreg_run):
        seedreg_run.log("data", np.arange(4))

    def test_d_sees_c_committed_at_once():
        assert committed("test_batched.py::test_c_logs") == ("completed", 1)

    def test_e_last_nothing_logged():
        pass
"""


def test_a_tests_run_that_logged_nothing_closes_with_the_next_batch_and_all_by_the_sessions_end(
        pytester: pytest.Pytester, registry_path: Path):
    # A test that logged data is committed when its block exits, like any block (DESIGN §1); one
    # that logged nothing closes with the writer's next batch, and the session's end commits the last.
    pytester.makepyfile(test_batched=BATCHED)
    pytester.runpytest_subprocess(*PLUGIN, "--seedreg", "-p", "no:randomly").assert_outcomes(passed=5)
    recorded = runs(registry_path)
    assert len(recorded) == 5 and {r.status for r in recorded} == {"completed"}
    report = seedreg.Registry(registry_path).audit()
    assert report.ok and report.count == 5
