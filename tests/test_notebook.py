"""Notebook runs (DESIGN §8): real Jupyter kernels on real .ipynb files built with nbformat.

A notebook is recorded by executing it with nbclient (as ``jupyter nbconvert --execute`` does) or
cell by cell through a jupyter_client kernel client, then replayed with ``seedreg replay``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from helpers import invoke  # noqa: E402

import seedreg  # noqa: E402
from seedreg.notebook import cells  # noqa: E402

IMPORTS = "import numpy as np\nimport seedreg"
#: One cell opening two blocks, then a cell opening a third: "two blocks in two cells" and the
#: occurrence of a block in its cell.
SPLIT = ('with seedreg.run("split", seed=7) as run:\n    run.log("order", np.random.permutation(50))\n'
         'with seedreg.run("split-again", seed=8) as again:\n    again.log("noise", again.rng.normal(size=20))')
TRAIN = 'with seedreg.run("train", seed=9) as train:\n    train.log("weights", train.rng.normal(size=(4, 3)))'


def write_notebook(path: Path, *sources: str) -> Path:
    """A notebook with a markdown cell, then one code cell per source."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A seeded experiment")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def execute(path: Path, **env: str) -> None:
    """Run the notebook top to bottom in a kernel whose session names ``path`` (as Jupyter's does)."""
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=120,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute(env={**os.environ, "JPY_SESSION_NAME": str(path), **env})


@contextmanager
def kernel(cwd: Path, **env: str) -> Iterator:
    """A live kernel; yields ``run(code)``, which executes one cell and fails on an error."""
    from jupyter_client.manager import start_new_kernel

    full = {key: value for key, value in os.environ.items() if key != "JPY_SESSION_NAME"}
    manager, client = start_new_kernel(kernel_name="python3", env={**full, **env}, cwd=str(cwd))

    def run(code: str) -> None:
        reply = client.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]

    try:
        yield run
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def runs() -> dict[str, dict]:
    """The run objects of the registry by experiment (the newest of each)."""
    return {run.experiment: run.to_json() for run in reversed(seedreg.Registry().runs(limit=None))}


def replay(run_id: str, *extra: str) -> tuple[int, dict]:
    result = invoke("replay", run_id, "--yes", "--json", *extra)
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, dict[str, dict]]:
    path = write_notebook(tmp_path / "experiment.ipynb", IMPORTS, SPLIT, TRAIN)
    execute(path)
    return path, runs()


def test_a_notebook_run_records_its_notebook_cell_and_order(recorded):
    path, found = recorded
    split, again, train = found["split"], found["split-again"], found["train"]
    digest = cells.read(str(path)).digest
    for run in (split, again, train):
        assert run["launch"] == "notebook" and run["notebook_order"] == "in-order"
        assert run["notebook"]["path"] == str(path) and run["notebook"]["digest"] == digest
        assert run["notebook"]["kernel"] == "python3"
    assert split["notebook"]["cell"] == {"index": 1, "execution_count": 2,
                                         "first_line": 'with seedreg.run("split", seed=7) as run:'}
    assert again["notebook"]["cell"]["index"] == 1 and train["notebook"]["cell"]["index"] == 2
    assert len(train["notebook"]["history"]) == 3  # In[1..3]: the block's own cell is the last
    shown = invoke("show", train["id"]).output
    assert f"notebook    {path} {digest} (kernel python3)" in shown
    assert 'cell        2 (In [3]): with seedreg.run("train", seed=9) as train:' in shown
    assert "order       in-order" in shown and "[notebook]" in shown


def test_identical_replay_compares_the_requested_block_matched_by_cell_and_occurrence(recorded, tmp_path):
    path, found = recorded
    dry = invoke("replay", found["train"]["id"], "--dry-run")
    assert dry.exit_code == 0
    assert f"would run: notebook {path} top to bottom (its code cells match the recorded digest)" in dry.output
    assert "-m ipykernel_launcher -f" in dry.output

    code, data = replay(found["split-again"]["id"], "--output", str(tmp_path / "executed.ipynb"))
    assert code == 0, data
    assert data["verdict"] == "identical" and data["notebook"]["path"] == str(path)
    assert data["notebook"]["digest"]["matches"] and data["notebook"]["stopped"] is None
    assert data["command"][1:3] == ["-m", "ipykernel_launcher"]
    [block] = data["blocks"]  # only the requested run's block: not the other two of the notebook
    assert block["original"] == found["split-again"]["id"] and block["verdict"] == "identical"
    assert block["cell"]["original"]["index"] == block["cell"]["replay"]["index"] == 1
    replayed = seedreg.Registry().get(block["replay"])
    assert replayed.replay_of == found["split-again"]["id"] and replayed.seed == 8 and replayed.launch == "notebook"
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    assert [cell.get("execution_count") for cell in executed.cells] == [None, 1, 2, 3]

    human = invoke("replay", found["train"]["id"], "--yes")
    assert human.exit_code == 0, human.output
    assert f"notebook {path} top to bottom in a fresh kernel" in human.output
    assert 'cell 2 (In [3]) -> cell 2 (In [3]): with seedreg.run("train", seed=9) as train:' in human.output
    assert "verdict: identical" in human.output
    stored = json.loads(invoke("show", found["train"]["id"], "--json").output)["replays"]
    assert [r["verdict"] for r in stored] == ["identical"]


def test_an_edited_cell_replays_different_naming_the_output_and_the_cell(recorded):
    path, found = recorded
    write_notebook(path, IMPORTS, SPLIT, TRAIN.replace("size=(4, 3))", "size=(4, 3)) + 1"))
    code, data = replay(found["train"]["id"])
    assert code == 1 and data["verdict"] == "different"
    assert not data["notebook"]["digest"]["matches"]
    assert any("code cells changed since the run" in note for note in data["notes"])
    [block] = data["blocks"]
    assert [(o["name"], o["state"]) for o in block["outputs"]] == [("weights", "different")]
    assert block["cell"]["replay"]["index"] == 2
    assert {"field": "notebook digest", "original": found["train"]["notebook"]["digest"],
            "replay": cells.read(str(path)).digest} in block["environment"]
    human = invoke("replay", found["train"]["id"], "--yes").output
    assert "✗ weights          different" in human and "cell 2 (In [3])" in human
    asked = invoke("replay", found["train"]["id"], input="n\n")  # the prompt says the cells changed
    assert asked.exit_code == 2 and f"notebook {path} top to bottom (its code cells CHANGED since the run)" in asked.output


def test_a_raising_cell_stops_the_notebook_and_later_blocks_are_missing(recorded):
    path, found = recorded
    write_notebook(path, IMPORTS, SPLIT, 'raise FileNotFoundError("data/train.csv")', TRAIN)
    code, data = replay(found["train"]["id"])
    assert code == 1 and data["verdict"] == "different"
    assert data["notebook"]["stopped"] == {"cell": 2, "first_line": 'raise FileNotFoundError("data/train.csv")',
                                           "error": "FileNotFoundError: data/train.csv"}
    [block] = data["blocks"]
    assert block["verdict"] == "missing" and block["replay"] is None
    human = invoke("replay", found["train"]["id"], "--yes").output
    assert ("✗ stopped at cell 2: raise FileNotFoundError(\"data/train.csv\") — FileNotFoundError: data/train.csv"
            in human)
    # the block before the raising cell reproduced, but the notebook did not run to its end
    code, data = replay(found["split"]["id"])
    assert code == 1 and data["blocks"][0]["verdict"] == "identical" and data["notebook"]["stopped"]["cell"] == 2


@pytest.fixture
def out_of_order(tmp_path: Path) -> list:
    """Cells run through a kernel client in another order than the file's: the runs, newest first."""
    path = write_notebook(tmp_path / "explore.ipynb", IMPORTS, SPLIT, TRAIN)
    with kernel(tmp_path, JPY_SESSION_NAME=str(path)) as run:
        run(IMPORTS)
        run(SPLIT)  # in order so far
        run(SPLIT)  # the same cell again
        run(TRAIN.replace("seed=9", "seed=10"))  # a cell edited after the file was saved
    return seedreg.Registry().runs(limit=None)


def test_cells_run_out_of_order_are_recorded_as_such(out_of_order):
    order = [(r.experiment, r.notebook_order, r.notebook["cell"]["index"]) for r in reversed(out_of_order)]
    assert order == [("split", "in-order", 1), ("split-again", "in-order", 1), ("split", "out-of-order", 1),
                     ("split-again", "out-of-order", 1), ("train", "out-of-order", None)]
    twice = out_of_order[1]  # the second execution of the split cell, second block in it
    assert twice.experiment == "split-again" and twice.notebook["cell"]["execution_count"] == 3
    assert twice.to_json()["notebook_order"] == "out-of-order"
    shown = invoke("show", twice.id).output
    assert "order       out-of-order" in shown and "a replay runs the notebook top to bottom" in shown
    assert "cell        ? (not in the file) (In [4])" in invoke("show", out_of_order[0].id).output


@pytest.mark.slow
def test_an_out_of_order_run_replays_top_to_bottom(out_of_order):
    twice = out_of_order[1]
    code, data = replay(twice.id)
    assert code == 0, data
    assert any("top to bottom" in note for note in data["notes"])
    [block] = data["blocks"]  # matched with the execution it was recorded in, not the first one
    assert block["original"] == twice.id and block["cell"]["original"]["execution_count"] == 3
    assert block["cell"]["replay"]["execution_count"] == 2
    # a block whose cell is not in the file has nothing to match: missing
    code, data = replay(out_of_order[0].id)
    assert code == 1 and data["blocks"][0]["verdict"] == "missing"


def test_a_renamed_or_missing_notebook(tmp_path):
    path = write_notebook(tmp_path / "Untitled.ipynb", IMPORTS, TRAIN)
    execute(path, JPY_SESSION_NAME=str(tmp_path / "renamed.ipynb"))  # the kernel's session names a file that is not there
    [lost] = seedreg.Registry().runs()
    assert lost.launch == "interactive" and lost.notebook["path"] is None
    assert lost.notebook["tried"] == {"__session__": str(tmp_path / "renamed.ipynb"),
                                      "$JPY_SESSION_NAME": str(tmp_path / "renamed.ipynb")}
    shown = invoke("show", lost.id).output
    assert f"notebook    not found: a Jupyter kernel (kernel python3); __session__ {tmp_path / 'renamed.ipynb'}" in shown
    assert ("name it with seedreg.run(..., notebook=PATH), $SEEDREG_NOTEBOOK, the kernel's __session__ / "
            "$JPY_SESSION_NAME (Jupyter sets them), or VS Code's __vsc_ipynb_file__") in shown
    result = invoke("replay", lost.id, "--yes")
    assert result.exit_code == 2 and "a Jupyter kernel whose notebook was not found" in result.output

    execute(path)
    [found] = seedreg.Registry().runs(limit=1)
    path.rename(tmp_path / "final.ipynb")
    result = invoke("replay", found.id, "--yes")
    assert result.exit_code == 2
    assert f"ran in the notebook {path}, which no longer exists (renamed or deleted?)" in result.output
    path.write_text((tmp_path / "final.ipynb").read_text())

    # without the notebook extra: one line naming it, exit 2
    without = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['nbclient'] = None; from seedreg.cli import main; main()",
         "replay", found.id, "--yes"], capture_output=True, text=True, timeout=120)
    assert without.returncode == 2 and without.stdout == ""
    assert without.stderr.strip().splitlines() == [
        "Error: replaying a notebook run needs the notebook extra (nbclient is not installed): "
        "pip install 'seedreg[notebook]'"]


def test_the_notebook_path_named_each_way_in_order(tmp_path):
    named = {way: write_notebook(tmp_path / f"{way}.ipynb", IMPORTS) for way in ("keyword", "env", "session", "vsc")}
    (tmp_path / "sub").mkdir()
    relative = write_notebook(tmp_path / "sub" / "relative.ipynb", IMPORTS)
    block = 'with seedreg.run("{name}", seed=1{extra}) as run:\n    run.log("x", 1)'
    with kernel(tmp_path) as run:
        run(IMPORTS + "\nimport os")
        run(f"__session__ = {str(named['session'])!r}")  # what ipykernel sets from $JPY_SESSION_NAME
        run(block.format(name="session", extra=""))
        run(f"os.environ['SEEDREG_NOTEBOOK'] = {str(named['env'])!r}")
        run(block.format(name="env", extra=""))
        run(block.format(name="keyword", extra=f", notebook={str(named['keyword'])!r}"))
        run(block.format(name="relative", extra=", notebook='sub/relative.ipynb'"))
        run("del os.environ['SEEDREG_NOTEBOOK'], __session__")
        run(f"__vsc_ipynb_file__ = {str(named['vsc'])!r}")
        run(block.format(name="vsc", extra=""))
    found = runs()
    for way, path in named.items():
        assert found[way]["notebook"]["path"] == str(path) and found[way]["launch"] == "notebook"
        assert found[way]["notebook_order"] == "out-of-order"  # their cells are not in those files
    assert found["relative"]["notebook"]["path"] == str(relative)


@pytest.mark.slow
def test_a_notebook_replays_a_process_pool_of_workers(tmp_path):
    pool = ("from concurrent.futures import ProcessPoolExecutor\nimport multiprocessing\n\n"
            "def work(child, parent):\n"
            "    with seedreg.run('worker', seed=child, parent=parent) as worker:\n"
            "        worker.log('draws', worker.rng.normal(size=100))\n"
            "    return worker.id\n\n"
            "with seedreg.run('sweep', seed=2024) as run:\n"
            "    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context('fork')) as workers:\n"
            "        ids = list(workers.map(work, run.spawn(3), [run.id] * 3))\n"
            "    run.log('ids', len(ids))")
    path = write_notebook(tmp_path / "pool.ipynb", IMPORTS, pool)
    execute(path)
    root = seedreg.Registry().runs(experiment="sweep")[0]
    assert len(seedreg.Registry().runs(parent=root.id)) == 3
    code, data = replay(root.id)
    assert code == 0, data
    assert [b["experiment"] for b in data["blocks"]] == ["sweep", "worker", "worker", "worker"]
    assert all(b["verdict"] == "identical" for b in data["blocks"])


@pytest.mark.slow
def test_a_cell_over_the_timeout_stops_the_replay(recorded):
    path, found = recorded
    write_notebook(path, IMPORTS, SPLIT, "import time\ntime.sleep(60)", TRAIN)
    code, data = replay(found["train"]["id"], "--timeout", "3")
    assert code == 1 and data["notebook"]["stopped"]["cell"] == 2
    assert data["notebook"]["stopped"]["error"] == "timed out after 3 s (--timeout)"
    assert data["blocks"][0]["verdict"] == "missing"


def test_timeout_and_output_apply_to_notebook_runs_only(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("import seedreg\nwith seedreg.run('s', seed=1) as run:\n    run.log('x', 1)\n")
    subprocess.run([sys.executable, str(script)], check=True, cwd=tmp_path, timeout=120)
    result = invoke("replay", "--last", "--yes", "--timeout", "5")
    assert result.exit_code == 2 and "--timeout and --output apply to notebook runs" in result.output


def test_import_seedreg_a_script_block_and_list_import_no_jupyter_and_no_tracker(tmp_path):
    code = (
        "import sys, seedreg\n"
        "with seedreg.run('plain', seed=1) as run:\n"
        "    run.log('x', [1, 2])\n"
        "from seedreg.cli import main\n"
        "sys.argv = ['seedreg', 'list']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = {'IPython', 'ipykernel', 'nbclient', 'nbformat', 'jupyter_client', 'mlflow', 'wandb'}\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in heavy), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
    assert seedreg.Registry().runs()[0].launch == "interactive" and seedreg.Registry().runs()[0].notebook is None
