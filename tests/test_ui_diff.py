"""``seedreg diff A B [C...]`` (the JSON of ``/compare``): any number of runs side by side, and a replay
compared with its original output by output, saying where an array diverged (as ``replay --json``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import ui_demo
from helpers import invoke

import seedreg


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> ui_demo.Demo:
    return ui_demo.shared(tmp_path_factory)


def test_three_runs_side_by_side():
    ids = []
    for seed, lr in ((1, 0.1), (2, 0.1), (3, 0.2)):
        with seedreg.run("three", seed=seed, params={"lr": lr}) as run:
            run.log("same", np.arange(4))
            run.log("acc", float(seed))
        ids.append(run.id)
    result = invoke("diff", *ids, "--all")
    assert result.exit_code == 0, result.output
    header, rule, *rows = result.stdout.splitlines()
    assert all(run_id[:12] in header for run_id in ids)
    marked = {line[2:].split("  ")[0] for line in rows if line.startswith("✗ ")}
    assert {"seed", "param lr", "result acc", "rng digest"} <= marked and "output same" not in marked
    data = json.loads(invoke("diff", *ids, "--json").stdout)
    assert [run["id"] for run in data["runs"]] == ids and (data["a"]["id"], data["b"]["id"]) == tuple(ids[:2])
    rows_by_field = {row["field"]: row for row in data["rows"]}
    assert rows_by_field["param lr"] == {"field": "param lr", "values": ["0.1", "0.1", "0.2"], "differs": True}
    assert rows_by_field["output same"]["differs"] is False
    assert [(c["relation"], c["original"], c["replay"]) for c in data["comparisons"]] == [
        ("runs", ids[0], ids[1]), ("runs", ids[0], ids[2])]
    assert data["outputs"] == data["comparisons"][0]["outputs"]  # the top level: the first two, as before


def test_diff_needs_two_runs():
    with seedreg.run("one", seed=1) as run:
        pass
    result = invoke("diff", run.id)
    assert result.exit_code == 2 and "two or more runs" in result.stderr


def test_a_replay_is_compared_with_its_original_in_either_order(demo: ui_demo.Demo):
    for order in ((demo.original, demo.different_replay, demo.identical_replay),
                  (demo.different_replay, demo.original)):
        data = json.loads(invoke("diff", "--db", str(demo.db), *order, "--json").stdout)
        replays = [c for c in data["comparisons"] if c["replay"] == demo.different_replay]
        assert [c["relation"] for c in replays] == ["replay"] and replays[0]["original"] == demo.original
        [weights] = [o for o in replays[0]["outputs"] if o["name"] == "weights"]
        assert weights["state"] == "different"
        assert weights["where"]["kind"] == "element" and weights["where"]["element"] == ui_demo.CHANGED_ELEMENT
    table = invoke("diff", "--db", str(demo.db), demo.original, demo.identical_replay).stdout
    assert "output weights" not in table  # identical outputs are not shown by default
