"""What ``seedreg replay`` reports beside the verdict (params that changed, with the environment's
changes) and which run ``--last`` names (the newest root run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import invoke, run_python

import seedreg

SCRIPT = """
import os
import numpy as np
import seedreg

with seedreg.run("jobs", seed=7, params={"n_jobs": int(os.environ.get("N_JOBS", "1")), "model": {"C": 1.0}}) as run:
    run.log("x", np.random.random(4))
    for child in run.spawn(2):
        with seedreg.run("jobs-worker", seed=child, parent=run) as worker:
            worker.log("y", np.random.random(2))
"""


def test_replay_lists_params_that_changed_with_the_environment(tmp_path: Path, registry_path: Path, monkeypatch):
    script = tmp_path / "jobs.py"
    script.write_text(SCRIPT)
    run_python(script)
    monkeypatch.setenv("N_JOBS", "2")  # the replayed process reads another value
    result = invoke("replay", "--last", "--yes")
    assert result.exit_code == 0, result.output  # params are reported, never by themselves a difference
    lines = result.stdout.splitlines()
    assert "    changed param n_jobs: 1 -> 2" in lines
    assert not any("changed param model.C" in line for line in lines)
    report = json.loads(invoke("replay", "--last", "--yes", "--json").stdout)
    assert report["blocks"][0]["params"] == [{"name": "n_jobs", "original": 1, "replay": 2}]
    assert report["blocks"][1]["params"] == []  # the workers' blocks have no params


def test_last_is_the_newest_root_run_not_the_last_worker(tmp_path: Path, registry_path: Path):
    script = tmp_path / "jobs.py"
    script.write_text(SCRIPT)
    run_python(script)
    registry = seedreg.Registry()
    root = registry.last()
    assert root.experiment == "jobs" and root.parent is None
    newest = registry.runs(limit=1)[0]
    assert newest.parent == root.id  # the newest run is a worker; --last skips it
    assert json.loads(invoke("show", "--last", "--json").stdout)["id"] == root.id
    invoke("replay", "--last", "--yes")
    assert registry.last().id == root.id  # nor is a replay the last run
    with pytest.raises(ZeroDivisionError), seedreg.run("failed-root", seed=1):  # any status
        1 / 0
    assert registry.last().experiment == "failed-root"
