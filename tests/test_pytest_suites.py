"""``pytest --seedreg`` on suites shaped like scikit-learn's: a package-level ``setup_module`` that
reseeds, wider-scope fixtures, two modules with the same test name under ``--pyargs``,
pytest-xdist; every single test replays identical, by the command it printed, run as printed."""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import seedreg_cli
from plugin_helpers import PLUGIN, originals, run_printed

pytest_plugins = ["pytester"]

PACKAGE = {
    "shp/__init__.py": """
        import random

        def setup_module(module):   # as sklearn/__init__.py: draw, then reseed both global states
            import numpy as np
            seed = int(np.random.uniform() * 2**31)
            np.random.seed(seed)
            random.seed(seed)
    """,
    "shp/tests/__init__.py": "",
    "shp/tests/test_a.py": """
        import random
        import numpy as np
        import pytest

        @pytest.fixture(scope="module")
        def table():
            return np.random.random(4)          # whichever test needs it first

        def test_plain():
            pass

        def test_table(seedreg_run, table):
            seedreg_run.log("table", table)
            seedreg_run.log("draw", np.random.random(2))

        def test_same_name(seedreg_run):
            seedreg_run.log("draw", [random.random(), float(np.random.random())])

        class TestKlass:
            @classmethod
            def setup_class(cls):
                cls.offset = np.random.randint(100)

            @pytest.mark.parametrize("n", [1, 2])
            def test_param(self, seedreg_run, n):
                seedreg_run.log("draw", np.random.randint(0, 100, n) + self.offset)
    """,
    "shp/other/__init__.py": "",
    "shp/other/tests/__init__.py": "",
    "shp/other/tests/test_a.py": """
        import numpy as np

        def test_same_name(seedreg_run):
            seedreg_run.log("draw", np.random.randint(0, 10**6, 3))
    """,
}


def make_package(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The package in ``lib/`` (on PYTHONPATH, outside the root directory, like site-packages); cwd ``run/``."""
    lib = pytester.path / "lib"
    for name, text in PACKAGE.items():
        path = lib / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    run = pytester.mkdir("run")
    monkeypatch.setenv("PYTHONPATH", str(lib))
    monkeypatch.chdir(run)
    return run


def test_under_pyargs_every_test_is_named_by_its_module_and_replays_identical(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, registry_path: Path):
    make_package(pytester, monkeypatch)
    root = str(random.randrange(2**32))
    result = pytester.runpytest_subprocess(*PLUGIN, "--seedreg", "--seedreg-seed", root, "--pyargs", "shp")
    result.assert_outcomes(passed=6)
    recorded = {r.experiment: r for r in originals(registry_path)}
    assert set(recorded) == {
        "shp/tests/test_a.py::test_plain", "shp/tests/test_a.py::test_table", "shp/tests/test_a.py::test_same_name",
        "shp/tests/test_a.py::TestKlass::test_param[1]", "shp/tests/test_a.py::TestKlass::test_param[2]",
        "shp/other/tests/test_a.py::test_same_name"}
    same = [recorded[f"shp/{where}tests/test_a.py::test_same_name"] for where in ("", "other/")]
    assert same[0].seed != same[1].seed  # the module part keeps them apart
    for nodeid, record in recorded.items():
        assert record.tags["pytest.nodeid"] == nodeid
        # a function of the test alone: the same record when the test runs by itself in a new session
        alone = pytester.runpytest_subprocess(*PLUGIN, "--seedreg-seed", root, "--pyargs",
                                              record.invocation["replay"][-1])
        alone.assert_outcomes(passed=1)
        (again,) = [r for r in originals(registry_path) if r.experiment == nodeid and r.id != record.id]
        assert (again.rng_digest, again.fingerprints) == (record.rng_digest, record.fingerprints), nodeid
        # and its printed command, run as printed, replays it identical
        done = run_printed(record.tags["pytest.reproduce"])
        assert done.returncode == 0, done.stdout + done.stderr
        assert "seedreg replay verdict: identical" in done.stdout, done.stdout
    selection = recorded["shp/other/tests/test_a.py::test_same_name"].invocation["replay"][-1]
    assert selection == "shp.other.tests.test_a::test_same_name"  # the module path --pyargs resolves


def test_under_xdist_workers_share_the_root_seed_and_the_summary_counts_them(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, registry_path: Path):
    make_package(pytester, monkeypatch)
    (pytester.path / "lib/shp/tests/test_fails.py").write_text(
        "import numpy as np\n\ndef test_unlucky(seedreg_run):\n    assert np.random.random() > 2\n")
    result = pytester.runpytest_subprocess(*PLUGIN, "--seedreg", "-n", "2", "--pyargs", "shp")
    result.assert_outcomes(passed=6, failed=1)
    output = result.stdout.str()
    root = output.split("seedreg: root seed ", 1)[1].split()[0]
    recorded = originals(registry_path)
    assert len(recorded) == 7 and {r.tags["pytest.root_seed"] for r in recorded} == {root}
    assert f"7 run(s) recorded in sqlite:///{registry_path}, root seed {root}" in output
    failed = next(r for r in recorded if r.status == "failed")
    assert f"failed shp/tests/test_fails.py::test_unlucky: run {failed.id}" in output
    assert f"  reproduce: {failed.tags['pytest.reproduce']}" in output
    assert len({r.pid for r in recorded}) == 2 and {r.launch for r in recorded} == {"module"}
    for record in recorded:  # each worker recorded the session's command, not execnet's `-c`
        assert record.command == [sys.executable, "-mpytest", *record.invocation["args"]] and record.argv[0] != "-c"
        assert record.invocation["worker"] in ("gw0", "gw1") and "-n" not in record.invocation["replay"]
        done = run_printed(record.tags["pytest.reproduce"])  # without xdist
        assert "seedreg replay verdict: identical" in done.stdout, done.stdout
        assert done.returncode == (1 if record is failed else 0)


@pytest.mark.slow  # about 20 s: scikit-learn's own tests, then two of them replayed one by one
@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="scikit-learn is not installed")
def test_scikit_learns_own_tests_replay_identical_one_by_one(tmp_path: Path, registry_path: Path):
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--seedreg",
                           "--pyargs", "sklearn.utils.tests.test_random"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    recorded = originals(registry_path)
    assert recorded and all(r.experiment.startswith("sklearn/utils/tests/test_random.py::") for r in recorded)
    for record in random.sample(recorded, 2):
        replay = seedreg_cli("replay", record.id, "--yes", "--json", cwd=tmp_path)
        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert json.loads(replay.stdout)["verdict"] == "identical"


SEEDED_LIBRARY = {
    "fakerng.py": "state = [0]\n\ndef draw():\n    state[0] = (state[0] * 6364136223846793005 + 1) % 2**64\n"
                  "    return state[0]\n",
    "fakerng_seeder.py": """
        import numpy as np
        import fakerng
        from seedreg.seed.library_seeders import library_seed

        class FakeSeeder:
            name = module = "fakerng"

            def seed(self, seed):
                fakerng.state[0] = library_seed(seed)

            def save(self):
                return fakerng.state[0]

            def restore(self, state):
                fakerng.state[0] = state

            def digest_state(self):
                return np.array([fakerng.state[0]], dtype=np.uint64)
    """,
    "fakerng-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: fakerng\nVersion: 1.0\n",
    "fakerng-1.0.dist-info/entry_points.txt": "[seedreg.seeders]\nfakerng = fakerng_seeder:FakeSeeder\n",
}


def test_a_library_an_earlier_test_imported_is_seeded_in_the_replay_too(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, registry_path: Path):
    """scikit-learn's array-API tests import torch: every later test's block seeds it (and digests its
    state), so the replay of one of them alone imports it before its block opens."""
    lib = pytester.mkdir("lib")
    for name, text in SEEDED_LIBRARY.items():
        (lib / name).parent.mkdir(exist_ok=True)
        (lib / name).write_text(textwrap.dedent(text))
    monkeypatch.setenv("PYTHONPATH", str(lib))
    pytester.makepyfile(test_lib="""
        def test_imports_it():
            import fakerng

        def test_draws_from_it():
            import fakerng
            fakerng.draw()
    """)
    pytester.runpytest_subprocess(*PLUGIN, "--seedreg").assert_outcomes(passed=2)
    later = {r.experiment: r for r in originals(registry_path)}["test_lib.py::test_draws_from_it"]
    assert later.seeders["applied"] == {"fakerng": "unknown"}  # imported by the earlier test, so seeded
    done = run_printed(later.tags["pytest.reproduce"])
    assert "seedreg replay verdict: identical" in done.stdout, done.stdout
