"""``seedreg diff A B`` (DESIGN §5): two recorded runs side by side, ✗ on the rows that differ."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from helpers import invoke, seedreg_cli

import seedreg

pytestmark = pytest.mark.usefixtures("backend")  # every test runs on SQLite and PostgreSQL


@pytest.fixture
def pair() -> tuple[str, str]:
    """Two runs of one experiment: other seed and lr, same tag and depth; one output each their own."""
    made = []
    for seed, lr, extra in ((1, 0.1, "only_a"), (2, 0.2, "only_b")):
        with seedreg.run("train", seed=seed, params={"lr": lr, "depth": 3}, tags={"stage": "prep"}) as run:
            run.log("noise", np.random.rand(10))
            run.log("constant", np.arange(10))
            run.log(extra, [seed])
        made.append(run.id)
    return made[0], made[1]


def rows(text: str) -> dict[str, bool]:
    """The table rows of ``diff``: field (e.g. ``param lr``) -> whether the row is marked ✗."""
    found = {}
    for line in text.splitlines()[2:]:  # after the header and its rule
        marked = line.startswith("✗ ")
        field = re.split(r"\s{2,}", line.removeprefix("✗ ").strip())[0]
        assert field not in found, field
        found[field] = marked
    return found


def test_diff_marks_the_rows_that_differ(pair):
    a, b = pair
    result = invoke("diff", a, b[:10], "--all")  # every row: the identical ones too
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    assert a[:12] in header and b[:12] in header

    table = rows(result.stdout)
    assert {field for field, marked in table.items() if marked} == {
        "seed", "rng digest", "param lr", "output noise", "output only_a", "output only_b"}
    for same in ("experiment", "seed source", "status", "numpy", "python", "param depth", "tag stage",
                 "output constant"):
        assert table[same] is False, same


def test_diff_json_has_both_runs_and_output_states(pair):
    a, b = pair
    result = invoke("diff", a, b, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["a"]["id"] == a and data["b"]["id"] == b
    assert data["a"]["params"] == {"lr": 0.1, "depth": 3} and data["b"]["seed"] == "2"
    states = {o["name"]: o["state"] for o in data["outputs"]}
    assert states == {"noise": "different", "constant": "identical", "only_a": "missing", "only_b": "new"}
    assert data["verdict"] == "different"
    assert data["rng_digest"]["identical"] is False and data["status"]["identical"] is True


def test_diff_of_a_run_with_itself_marks_nothing(pair):
    a, _ = pair
    result = invoke("diff", a, a)
    assert result.exit_code == 0
    assert "✗" not in result.stdout
    assert json.loads(invoke("diff", a, a, "--json").stdout)["verdict"] == "identical"


def test_diff_with_an_unknown_run_is_a_usage_error(pair):
    a, _ = pair
    result = invoke("diff", a, "abcdef12")
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error:") and "abcdef12" in line

    done = seedreg_cli("diff", "abcdef12", a)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_diff_as_a_real_command(pair):
    a, b = pair
    done = seedreg_cli("diff", a, b, "--all")
    assert done.returncode == 0, done.stderr
    table = rows(done.stdout)
    assert table["param lr"] is True and table["output noise"] is True
    assert table["tag stage"] is False and table["output constant"] is False
