"""``seedreg experiments``: one row per experiment, with its runs, seeds, NumPy versions and replay verdicts."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import synthetic
from helpers import invoke

from seedreg import Registry

A1, A2, A3, A4, B1, B2, C1 = (f"{i:02x}" + "e" * 30 for i in range(1, 8))
REPLAY = "f" * 32


@pytest.fixture
def registry(backend) -> Registry:
    lines = [
        synthetic.line(id=A1, experiment="alpha", seed="1", numpy="1.26.4", started=datetime(2026, 1, 1),
                       replays=[synthetic.verdict(A1, REPLAY, "identical"),
                                synthetic.verdict(A1, None, "missing", session="t" * 32)]),
        synthetic.line(id=A2, experiment="alpha", seed="1", numpy="2.0.1", started=datetime(2026, 1, 2),
                       status="failed", replays=[synthetic.verdict(A2, REPLAY, "different")]),
        synthetic.line(id=A3, experiment="alpha", seed="2", numpy="1.26.4", started=datetime(2026, 1, 3),
                       status="interrupted"),
        synthetic.line(id=A4, experiment="alpha", seed="3", started=datetime(2026, 3, 1), deleted=(datetime(2026, 3, 2), "x")),
        synthetic.line(id=REPLAY, experiment="alpha", seed="1", replay_of=A1, replay_session="s" * 32,
                       started=datetime(2026, 2, 1)),
        synthetic.line(id=B1, experiment="beta", seed="9", numpy="1.10.0", started=datetime(2026, 1, 5)),
        synthetic.line(id=B2, experiment="beta", seed="9", numpy="1.9.3", started=datetime(2026, 1, 4)),
        synthetic.line(id=C1, experiment="gamma", seed="5", status="running", started=datetime(2026, 1, 6)),
    ]
    registry = Registry()
    assert registry.import_(lines).ok
    return registry


def test_one_summary_per_experiment(registry):
    alpha, beta, gamma = registry.experiments()
    assert (alpha.experiment, alpha.runs, alpha.completed, alpha.failed, alpha.seeds) == ("alpha", 3, 1, 1, 2)
    assert alpha.last_run == datetime(2026, 1, 3).replace(tzinfo=alpha.last_run.tzinfo)  # deleted A4 not counted
    assert alpha.numpy_versions == ("1.26.4", "2.0.1")
    assert (alpha.replays_identical, alpha.replays_different) == (1, 2)  # different and missing
    assert (beta.runs, beta.seeds, beta.numpy_versions) == (2, 1, ("1.9.3", "1.10.0"))  # versions in version order
    assert (beta.replays_identical, beta.replays_different) == (0, 0)
    assert (gamma.runs, gamma.completed, gamma.failed) == (1, 0, 0)


def test_json_csv_and_table(registry):
    data = json.loads(invoke("experiments", "--json").stdout)
    assert data[0] == {"experiment": "alpha", "runs": 3, "completed": 1, "failed": 1, "interrupted": 1, "crashed": 0,
                       "last_run": "2026-01-03T00:00:00Z", "seeds": 2, "numpy_versions": ["1.26.4", "2.0.1"],
                       "replays_identical": 1, "replays_different": 2}
    csv = invoke("experiments", "--csv").stdout.splitlines()
    assert csv[0] == ("experiment,runs,completed,failed,interrupted,crashed,last_run,seeds,numpy,replays_identical,"
                      "replays_different")
    assert csv[1] == "alpha,3,1,1,1,0,2026-01-03T00:00:00Z,2,1.26.4 2.0.1,1,2"
    table = invoke("experiments")
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0].split() == ["experiment", "runs", "completed", "failed", "interrupted",
                                                   "crashed", "last_run", "seeds", "numpy", "replays_identical",
                                                   "replays_different"]
    assert [line.split()[0] for line in table.stdout.splitlines()[2:]] == ["alpha", "beta", "gamma"]


def test_an_empty_registry_says_so(backend):
    Registry().upgrade()
    result = invoke("experiments")
    assert result.exit_code == 0 and result.stdout == "" and "no runs yet" in result.stderr
    assert json.loads(invoke("experiments", "--json").stdout) == []


def test_experiments_never_creates_a_registry(tmp_path):
    result = invoke("experiments", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 2 and not (tmp_path / "none.db").exists()


def test_real_runs_and_a_real_replay_verdict(backend, tmp_path):
    """A with-block run replayed for real: its verdict shows under its experiment."""
    from helpers import run_python

    script = tmp_path / "exp.py"
    script.write_text("import numpy as np, seedreg\n"
                      "with seedreg.run('real', seed=3) as run:\n"
                      "    run.log('x', np.random.permutation(10))\n")
    run_python(script, cwd=tmp_path)
    result = invoke("replay", "--last", "--yes")
    assert result.exit_code == 0, result.output
    (summary,) = Registry().experiments()
    assert (summary.experiment, summary.runs, summary.completed, summary.replays_identical) == ("real", 1, 1, 1)
    assert summary.numpy_versions == (__import__("numpy").__version__,)
