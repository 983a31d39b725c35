"""Working beside trackers (DESIGN §11): a real MLflow tracking store and W&B in offline mode.

The MLflow store is one SQLite file per test session (MLflow migrates a new store for seconds);
each test uses its own experiment. W&B runs offline in the test's temporary directory, and what
it recorded is read back from the run object and from its offline ``.wandb`` file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from helpers import backend_url, invoke
from sqlalchemy.engine import make_url

import seedreg
from seedreg.db import engines
from seedreg.integrations.mlflow import tag_key


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    mlflow = pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.MlflowClient().search_experiments()  # creates and migrates the store, once
    return uri


@pytest.fixture
def mlflow(mlflow_store: str, tmp_path: Path):
    import mlflow

    mlflow.set_tracking_uri(mlflow_store)
    mlflow.set_experiment(f"test-{uuid.uuid4().hex[:8]}")
    yield mlflow
    while mlflow.active_run() is not None:
        mlflow.end_run()


def tags_of(mlflow, run_id: str) -> dict[str, str]:
    tags = mlflow.MlflowClient().get_run(run_id).data.tags
    return {key: value for key, value in tags.items() if key.startswith("seedreg.")}


def test_blocks_in_an_active_mlflow_run_tag_it_and_record_its_ids(mlflow, backend):
    url = backend_url(backend)
    if backend == "postgres":  # the test server trusts local connections: any password is accepted, and masked
        url = make_url(url).set(password="s3cret").render_as_string(hide_password=False)
    with mlflow.start_run() as active:
        with seedreg.run("prep", seed=101, db=url) as first:
            first.log("weights/layer 1", np.arange(6.0))
            first.log("a*b", 3)
        with seedreg.run("train", seed=[7, 8], db=url) as second:
            second.log("x//y", np.ones(3))
        assert first.tags == {"mlflow.run_id": active.info.run_id, "mlflow.experiment_id": active.info.experiment_id}
    tags = tags_of(mlflow, active.info.run_id)
    assert tags == {
        "seedreg.run_id": second.id,
        "seedreg.seed": "[7, 8]",
        "seedreg.registry": engines.mask_url(url),
        "seedreg.run_ids": f"{first.id},{second.id}",
        "seedreg.fp.weights/layer 1": str(first.fingerprints["weights/layer 1"]),
        "seedreg.fp.a_b": str(first.fingerprints["a*b"]),
        "seedreg.fp.x__y": str(second.fingerprints["x//y"]),
    }
    assert "s3cret" not in json.dumps(tags)
    shown = json.loads(invoke("show", first.id, "--json", "--db", url).output)
    assert shown["tags"] == {"mlflow.run_id": active.info.run_id, "mlflow.experiment_id": active.info.experiment_id}
    assert mlflow.MlflowClient().get_run(active.info.run_id).info.status == "FINISHED"  # ended by its owner


def test_no_active_run_no_tags_and_no_run_started(mlflow):
    before = len(mlflow.search_runs(output_format="list"))
    with seedreg.run("alone", seed=1) as run:
        run.log("x", 1)
    assert mlflow.active_run() is None and run.tags == {}
    assert len(mlflow.search_runs(output_format="list")) == before


@pytest.mark.parametrize("off", ["mlflow", "wandb, mlflow", "all"])
def test_seedreg_no_integrations_turns_them_off(mlflow, monkeypatch, off):
    monkeypatch.setenv("SEEDREG_NO_INTEGRATIONS", off)
    with mlflow.start_run() as active, seedreg.run("quiet", seed=1) as run:
        run.log("x", 1)
    assert tags_of(mlflow, active.info.run_id) == {} and run.tags == {}


def test_a_failing_tracker_is_a_warning_never_a_failed_block(mlflow):
    with mlflow.start_run() as active:
        mlflow.MlflowClient().delete_run(active.info.run_id)  # the store now refuses its tags
        with pytest.warns(RuntimeWarning, match=r"the mlflow integration failed \(MlflowException"):
            with seedreg.run("goes-on", seed=5) as run:
                run.log("x", np.arange(3))
        mlflow.MlflowClient().restore_run(active.info.run_id)  # so that its owner can end it
    assert run.status == "completed" and seedreg.Registry().get(run.id).status == "completed"


def test_tag_keys_are_sanitised_the_mlflow_way():
    assert tag_key("seedreg.fp.loss (val): a-b") == "seedreg.fp.loss _val_: a-b"
    assert tag_key("seedreg.fp.ölçü→x") == "seedreg.fp.ölçü_x"  # \w is Unicode, as in MLflow's check
    assert tag_key("seedreg.fp.a/../b") == "seedreg.fp.a_.._b"
    assert len(tag_key("seedreg.fp." + "n" * 400)) == 250


def _wandb_records(path: Path):
    """The records of a W&B offline run file (LevelDB log framing: 32 KiB blocks, 7-byte headers)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


@pytest.mark.slow
def test_blocks_in_an_offline_wandb_run_fill_its_config(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    active = wandb.init(project="seedreg-test")
    try:
        with seedreg.run("prep", seed=3) as first:
            first.log("--split", np.arange(4))
        with seedreg.run("train", seed=4) as second:
            second.log("loss", 0.25)
        section = dict(active.config["seedreg"])
        assert second.tags == {"wandb.run_id": active.id} == first.tags
    finally:
        active.finish()
        wandb.teardown()  # stops W&B's service, which writes the rest of the offline file
    expected = {"run_id": second.id, "seed": "4", "registry": engines.mask_url(engines.resolve_url()),
                "run_ids": [first.id, second.id],
                "fingerprints": {"split": str(first.fingerprints["--split"]), "loss": str(second.fingerprints["loss"])}}
    assert section == expected
    [offline] = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    updates = [json.loads(item.value_json) for record in _wandb_records(offline)
               if record.WhichOneof("record_type") == "config" for item in record.config.update
               if item.key == "seedreg"]
    assert updates and updates[-1] == expected
    assert wandb.run is None  # seedreg never started one


PLUGIN = '''
import json, os, sys

class Recorder:
    name = "toytracker"
    module = "toytracker"

    def active_run(self):
        return sys.modules["toytracker"].RUN

    def run_tags(self, tracker_run):
        return {"seedreg.toytracker.run": tracker_run["id"]}

    def _write(self, *event):
        with open(os.environ["TOY_EVENTS"], "a") as out:
            out.write(json.dumps(event) + "\\n")

    def opened(self, tracker_run, block):
        self._write("opened", block.run_id, block.seed, block.run_ids)

    def logged(self, tracker_run, block, name):
        self._write("logged", name, block.fingerprints[name])

    def closed(self, tracker_run, block, status):
        self._write("closed", status)
'''


def test_a_third_tracker_is_a_plugin_of_the_entry_point_group(tmp_path):
    site = tmp_path / "site"
    dist = site / "toytracker-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toytracker\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[seedreg.integrations]\ntoytracker = toytracker_seedreg:Recorder\n")
    (site / "toytracker_seedreg.py").write_text(PLUGIN)
    (site / "toytracker.py").write_text("RUN = {'id': 'toy-1'}\n")
    events = tmp_path / "events.jsonl"
    code = ("import toytracker, seedreg\n"
            "with seedreg.run('plugged', seed=12) as run:\n"
            "    run.log('x', [1, 2, 3])\n"
            "print(run.id, run.tags)\n")
    env = {**os.environ, "PYTHONPATH": str(site), "TOY_EVENTS": str(events)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[0]
    assert seedreg.Registry().get(run_id).tags == {"seedreg.toytracker.run": "toy-1"}
    fp = str(seedreg.Registry().get(run_id).fingerprints["x"])
    assert [json.loads(line) for line in events.read_text().splitlines()] == [
        ["opened", run_id, "12", [run_id]], ["logged", "x", fp], ["closed", "completed"]]


@pytest.mark.slow
def test_forked_workers_leave_the_parents_tracker_run_alone(mlflow_store, tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(
        "import multiprocessing, sys\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "import mlflow, seedreg\n"
        f"mlflow.set_tracking_uri({mlflow_store!r})\n"
        "def work(child, parent):\n"
        "    with seedreg.run('worker', seed=child, parent=parent) as worker:\n"
        "        worker.log('x', 1)\n"
        "    return worker.id, dict(worker.tags)\n"
        "with mlflow.start_run() as active, seedreg.run('root', seed=1) as root:\n"
        "    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context('fork')) as pool:\n"
        "        workers = list(pool.map(work, root.spawn(2), [root.id] * 2))\n"
        "print(active.info.run_id, root.id, [tags for _, tags in workers])\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    mlflow_run, root_id, worker_tags = done.stdout.split(" ", 2)
    assert worker_tags.strip() == "[{}, {}]"
    import mlflow

    tags = mlflow.MlflowClient(tracking_uri=mlflow_store).get_run(mlflow_run).data.tags
    assert tags["seedreg.run_id"] == tags["seedreg.run_ids"] == root_id
