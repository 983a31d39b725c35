"""`seedreg sweep` (DESIGN §9): COMMAND once per seed as real processes (a local pool or a real Dask
LocalCluster), every root block taking the sweep's seed, tags on every run, Ctrl-C, --retry, bad SPECs,
reserved tag keys, and every sweep run replaying identical."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from helpers import REPO, backend_url, invoke, seedreg_cli

import seedreg
from seedreg.recording import substitution

SCRIPT = """
    import json, os, sys
    import numpy as np
    import seedreg
    # the code passes its own seed and registry: the sweep's win
    with seedreg.run("swept", seed=12345, params={"lr": 0.1}, tags={"stage": "train"}, db="ignored.db") as run:
        x = np.random.normal(size=100)
        run.log("score", float(x.mean() + run.rng.normal()))
        run.log("data", x)
        children = run.spawn(2)
    for child in children:
        with seedreg.run("swept-worker", seed=child, parent=run.id) as worker:
            worker.log("part", worker.rng.normal(size=4))
    with open(f"env-{run.seed}.json", "w") as out:
        json.dump(dict(os.environ), out)
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def sweep(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``seedreg sweep`` as a subprocess; the logs it keeps of failed seeds go below the test's folder."""
    return seedreg_cli("sweep", *args, cwd=cwd, env={"TMPDIR": str(cwd), **(env or {})})


def test_every_root_block_takes_the_sweeps_seed_and_every_run_gets_its_tags(tmp_path: Path, backend):
    write(tmp_path / "train.py", SCRIPT)
    done = sweep("--seeds", "3", "--jobs", "2", "--json", "--", sys.executable, "train.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data.keys() == {"sweep", "seeds", "groups"}
    sweep_id = data["sweep"]
    assert [(s["seed"], s["returncode"], len(s["runs"])) for s in data["seeds"]] == [("0", 0, 3), ("1", 0, 3), ("2", 0, 3)]
    assert all(s.keys() == {"seed", "returncode", "runs"} for s in data["seeds"])
    registry = seedreg.Registry()
    roots = registry.runs(experiment="swept", limit=None)
    assert sorted(r.seed for r in roots) == [0, 1, 2] and {r.seed_source for r in roots} == {"sweep"}
    workers = registry.runs(experiment="swept-worker", limit=None)
    assert len(workers) == 6 and {w.spawn_key for w in workers} == {(0,), (1,)}
    by_id = {r.id: r for r in roots}
    for w in workers:
        assert w.seed == by_id[w.parent].seed  # children spawned from the sweep's seed follow it
    for run in roots + workers:
        assert run.tags["seedreg.sweep"] == sweep_id
        assert run.tags["seedreg.sweep_seed"] == str(run.seed if run.parent is None else by_id[run.parent].seed)
    assert {r.tags["stage"] for r in roots} == {"train"}
    assert not (tmp_path / "ignored.db").exists()  # the sweep's registry won over db= in the code
    assert [g["experiment"] for g in data["groups"]] == ["swept", "swept-worker"]
    assert data["groups"][0]["n"] == 3 and data["groups"][0]["seeds"] == ["0", "1", "2"]
    assert data["groups"] == json.loads(invoke("seeds", "--sweep", sweep_id[:8], "--json").stdout)
    # the sweep sets its three variables and nothing else (no thread variables)
    child_env = json.loads((tmp_path / "env-1.json").read_text())
    parent = {**os.environ, "TMPDIR": str(tmp_path)}  # what the sweep process itself was given
    added = {k: v for k, v in child_env.items() if parent.get(k) != v}
    assert set(added) == {"SEEDREG_SWEEP", "SEEDREG_SWEEP_SEED", "SEEDREG_SWEEP_DB"}
    assert added["SEEDREG_SWEEP_DB"] == backend_url(backend) and added["SEEDREG_SWEEP_SEED"] == "1"


def test_the_table_the_sweep_prints_and_a_progress_bar_on_a_terminal(tmp_path: Path):
    import pty

    write(tmp_path / "train.py", SCRIPT)
    controller, terminal = pty.openpty()
    done = subprocess.run([sys.executable, "-m", "seedreg", "sweep", "--seeds", "2..3", "--", sys.executable, "train.py"],
                          cwd=tmp_path, stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=300)
    os.close(terminal)
    progress = os.read(controller, 65536).decode()
    os.close(controller)
    assert done.returncode == 0
    assert "\r[" in progress and "2/2 seeds" in progress
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"sweep [0-9a-f]{32}", lines[0])
    assert "mean ± std" in lines[1] and any("swept" in line and "±" in line and "2,3" in line for line in lines)


def test_a_failing_seed_does_not_stop_the_others_and_no_block_is_reported(tmp_path: Path):
    write(tmp_path / "flaky.py", """
        import os, sys
        import seedreg
        seed = int(os.environ["SEEDREG_SWEEP_SEED"])
        if seed == 2:
            sys.exit(0)  # exits 0 without a block
        with seedreg.run("flaky", seed=0) as run:
            run.log("score", float(seed))
        if seed == 1:
            sys.exit(3)
    """)
    done = sweep("--seeds", "0..3", "--jobs", "1", "--", sys.executable, "flaky.py", cwd=tmp_path)
    assert done.returncode == 1
    assert "seed 2: no seedreg block ran" in done.stderr and "seed 1: exit code 3" in done.stderr
    assert "seed 0:" not in done.stderr and "seed 3:" not in done.stderr
    (group,) = seedreg.Registry().seeds(["flaky"])
    assert group.n == 3 and group.seeds == ("0", "1", "3")


@pytest.mark.parametrize("spec", ["0", "-1", "5..3", "1,1", "abc", "random:0", "1..", "", "1, 2", "random:x",
                                  "3.5", "2**3", "0..2000000", str(2**128) + ",1"])
def test_a_bad_spec_is_one_line_exit_2_and_nothing_runs(tmp_path: Path, spec: str):
    write(tmp_path / "mark.py", "open('ran', 'w').close()\n")
    done = sweep("--seeds", spec, "--", sys.executable, "mark.py", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "ran").exists() and not (tmp_path / "registry.db").exists()


def test_usage_errors_exit_2_and_run_nothing(tmp_path: Path):
    write(tmp_path / "mark.py", "open('ran', 'w').close()\n")
    for args in (["--seeds", "2"], ["--retry", "abc", "--seeds", "2", "--", "x"], ["--seeds", "2", "--jobs", "2",
                 "--dask", "tcp://127.0.0.1:1", "--", "x"], ["--seeds", "2", "--", "no-such-program-here"],
                 ["--retry", "abcdef"]):
        done = sweep(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "ran").exists()


def test_random_seeds_are_printed_before_they_run_and_are_distinct(tmp_path: Path):
    write(tmp_path / "train.py", SCRIPT)
    done = sweep("--seeds", "random:3", "--json", "--", sys.executable, "train.py", cwd=tmp_path)
    assert done.returncode == 0
    printed = done.stderr.splitlines()[0]
    assert printed.startswith("seeds: ")
    seeds = [int(s) for s in printed.split()[1:]]
    assert len(set(seeds)) == 3 and all(0 <= s < 2**32 for s in seeds)
    assert [int(s["seed"]) for s in json.loads(done.stdout)["seeds"]] == seeds


def test_retry_reruns_only_the_failed_and_blockless_seeds_under_the_same_id(tmp_path: Path):
    write(tmp_path / "once.py", """
        import os, pathlib, sys
        import seedreg
        seed = os.environ["SEEDREG_SWEEP_SEED"]
        first = not pathlib.Path(f"tried-{seed}").exists()
        pathlib.Path(f"tried-{seed}").touch()
        with open("started", "a") as log:
            log.write(seed + "\\n")
        if first and seed == "2":
            sys.exit(0)  # no block the first time
        with seedreg.run("retried", seed=0) as run:
            run.log("score", 1.0)
            if first and seed == "1":
                raise RuntimeError("flaky")
    """)
    first = sweep("--seeds", "0..3", "--jobs", "2", "--json", "--", sys.executable, "once.py", cwd=tmp_path)
    assert first.returncode == 1
    sweep_id = json.loads(first.stdout)["sweep"]
    again = sweep("--retry", sweep_id[:10], "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["sweep"] == sweep_id
    assert [(s["seed"], s["returncode"], len(s["runs"])) for s in data["seeds"]] == [
        ("0", 0, 1), ("1", 0, 1), ("2", 0, 1), ("3", 0, 1)]
    assert sorted((tmp_path / "started").read_text().split()) == ["0", "1", "1", "2", "2", "3"]
    (group,) = data["groups"]
    assert group["n"] == 4 and group["n_failed"] == 1  # seed 1's failed first run is shown, not hidden
    assert sweep("--retry", sweep_id, cwd=tmp_path).returncode == 0  # nothing left to retry
    assert (tmp_path / "started").read_text().split().count("0") == 1


SLOW = """
    import os, subprocess, sys, time
    import seedreg
    {ignore}
    with seedreg.run("slow", seed=0) as run:
        helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open(f"pids-{{run.seed}}", "w") as out:
            out.write(f"{{os.getpid()}} {{helper.pid}}")
        while True:
            time.sleep(0.1)
"""


def _interrupt(tmp_path: Path, ignore: str, *where: str) -> tuple[int, float, list[int], str]:
    """Start a sweep of three endless seeds two at a time (``where``: --jobs 2, or a Dask cluster of two
    workers), Ctrl-C it once two run: its exit code, how long it took to end, the pids it started, stderr."""
    write(tmp_path / "slow.py", SLOW.format(ignore=ignore))
    sweeper = subprocess.Popen([sys.executable, "-m", "seedreg", "sweep", "--seeds", "3", *(where or ("--jobs", "2")),
                                "--", sys.executable, "slow.py"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp_path)})
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("pids-*"))) < 2:
        assert time.monotonic() < deadline and sweeper.poll() is None, sweeper.communicate()
        time.sleep(0.1)
    time.sleep(0.3)
    pids = [int(p) for path in tmp_path.glob("pids-*") for p in path.read_text().split()]
    started = time.monotonic()
    sweeper.send_signal(signal.SIGINT)
    out, err = sweeper.communicate(timeout=60)
    return sweeper.returncode, time.monotonic() - started, pids, err


def _gone(pids: list[int]) -> bool:
    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
    return not any(alive(pid) for pid in pids)


def test_ctrl_c_interrupts_every_running_seed_and_leaves_nothing_running(tmp_path: Path):
    code, seconds, pids, err = _interrupt(tmp_path, "")
    assert code == 130, err
    assert seconds < 9 and _gone(pids)
    assert "--retry" in err
    runs = seedreg.Registry().runs(experiment="slow", limit=None)
    assert sorted(r.seed for r in runs) == [0, 1] and {r.status for r in runs} == {"interrupted"}
    sweep_id = runs[0].tags["seedreg.sweep"]
    with seedreg.Registry().engine().connect() as conn:
        seeds = dict(conn.exec_driver_sql("SELECT seed, returncode FROM sweep_seeds").all())
    assert seeds["2"] is None and seeds["0"] is not None  # seed 2 never started: --retry runs it
    assert len(sweep_id) == 32


@pytest.mark.slow
def test_seeds_ignoring_sigint_get_sigterm_after_10_seconds(tmp_path: Path):
    code, seconds, pids, err = _interrupt(tmp_path, "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)")
    assert code == 130, err
    assert 9.5 < seconds < 30 and _gone(pids)
    assert {r.status for r in seedreg.Registry().runs(experiment="slow", limit=None)} == {"crashed"}


def test_every_sweep_run_replays_identical(tmp_path: Path):
    write(tmp_path / "train.py", SCRIPT)
    done = sweep("--seeds", "5,9", "--json", "--", sys.executable, "train.py", cwd=tmp_path)
    assert done.returncode == 0
    runs = [run for seed in json.loads(done.stdout)["seeds"] for run in seed["runs"]]
    records = [seedreg.Registry().get(r) for r in runs]
    for record in records:
        if record.parent is not None and record.spawn_key != (1,):
            continue  # replaying a child replays its root's command: one child per root is enough
        replayed = invoke("replay", record.id, "--yes", "--json")
        assert replayed.exit_code == 0, replayed.stdout
        blocks = json.loads(replayed.stdout)["blocks"]
        assert {b["verdict"] for b in blocks} == {"identical"} and len(blocks) == 3


def test_a_replay_wins_over_a_sweep_in_one_process(monkeypatch):
    with seedreg.run("original", seed=41) as original:
        pass
    monkeypatch.setenv("SEEDREG_SWEEP", "f" * 32)
    monkeypatch.setenv("SEEDREG_SWEEP_SEED", "5")
    assert substitution.sweep().seed.entropy == 5
    with seedreg.run("swept", seed=1) as swept:
        pass
    assert (swept.seed, swept.seed_source, swept.tags["seedreg.sweep_seed"]) == (5, "sweep", "5")
    monkeypatch.setenv("SEEDREG_REPLAY", original.id)
    assert substitution.sweep() is None
    monkeypatch.setattr("seedreg.recording.block._root_blocks", 0)
    with seedreg.run("original", seed=2) as replayed:
        pass
    assert (replayed.seed, replayed.seed_source) == (41, "replay") and "seedreg.sweep" not in replayed.tags


@pytest.mark.parametrize("tags", [{"seedreg.sweep": "x"}, {"seedreg": {"sweep_seed": "1"}}, {"pytest.nodeid": "t"},
                                  {"mlflow": {"run_id": "r"}}, {"wandb.run": "w"}])
def test_reserved_tag_keys_are_refused_before_the_block_runs(tags, registry_path: Path):
    ran = []
    with pytest.raises(seedreg.InvalidTagError, match="seedreg's own") as refused:
        with seedreg.run("tagged", seed=1, tags=tags):
            ran.append(True)
    assert isinstance(refused.value, ValueError) and not ran and not registry_path.exists()
    with seedreg.run("tagged", seed=1, tags={"seedregx": 1, "my.pytest.thing": 2}) as allowed:
        pass
    assert allowed.tags == {"seedregx": 1, "my.pytest.thing": 2}


def test_the_readme_documents_seeds_and_sweep_and_every_option():
    from seedreg.cli.seeds import seeds
    from seedreg.cli.seeds import sweep as sweep_command

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Seeds as a dimension"):]
    assert "seedreg sweep --seeds 10 -- python examples/seed_robustness.py" in section
    for command in (seeds, sweep_command):
        for param in command.params:
            for option in param.opts:
                if option.startswith("-"):
                    assert option in section, (command.name, option)
    assert "mean ± std" in section and "seeds --sweep" in section


# -- Dask: a real LocalCluster of worker processes -----------------------------------------------------


@pytest.fixture
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


@pytest.mark.slow
def test_dask_runs_each_seed_on_a_worker_of_a_local_cluster(tmp_path: Path, cluster):
    write(tmp_path / "train.py", SCRIPT)
    done = sweep("--seeds", "0..2", "--dask", cluster.scheduler_address, "--db", "relative.db", "--json", "--",
                 sys.executable, "train.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [(s["seed"], s["returncode"], len(s["runs"])) for s in data["seeds"]] == [("0", 0, 3), ("1", 0, 3), ("2", 0, 3)]
    registry = seedreg.Registry(tmp_path / "relative.db")  # the relative path was made absolute for the workers
    roots = registry.runs(experiment="swept", limit=None)
    assert sorted(r.seed for r in roots) == [0, 1, 2] and {r.tags["seedreg.sweep"] for r in roots} == {data["sweep"]}
    assert json.loads((tmp_path / "env-1.json").read_text())["SEEDREG_SWEEP_DB"] == f"sqlite:///{tmp_path / 'relative.db'}"
    with registry.engine().connect() as conn:
        (executor,) = conn.exec_driver_sql("SELECT executor FROM sweeps").one()
    assert executor == f"dask {cluster.scheduler_address}"


@pytest.mark.slow
def test_dask_sends_a_password_only_through_the_workers_environment(tmp_path: Path, backend, monkeypatch):
    from sqlalchemy.engine import make_url

    from seedreg.db import engines
    from seedreg.sweep.dask import without_password

    if backend != "postgres":
        pytest.skip("a password is a server registry's")
    distributed = pytest.importorskip("distributed")
    url = backend_url(backend)
    secret = make_url(url).set(password="s3cret-pw").render_as_string(hide_password=False)  # the test server trusts
    monkeypatch.setenv("SEEDREG_DB", secret)  # the workers (started below) inherit it: the password is theirs
    assert "s3cret" not in without_password(secret)
    write(tmp_path / "train.py", SCRIPT)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        done = sweep("--seeds", "1", "--dask", local.scheduler_address, "--json", "--", sys.executable, "train.py",
                     cwd=tmp_path)
    try:
        assert done.returncode == 0, done.stderr
        child_env = json.loads((tmp_path / "env-0.json").read_text())
        assert child_env["SEEDREG_SWEEP_DB"] == secret  # completed from the worker's own SEEDREG_DB
        assert "s3cret" not in done.stdout + done.stderr
        assert seedreg.Registry(url).runs(experiment="swept", tags=[f"seedreg.sweep={json.loads(done.stdout)['sweep']}"])
    finally:
        engines.forget(secret)


@pytest.mark.slow
def test_ctrl_c_stops_the_seeds_on_dask_workers_too(tmp_path: Path, cluster):
    code, seconds, pids, err = _interrupt(tmp_path, "", "--dask", cluster.scheduler_address)
    assert code == 130, err
    assert seconds < 9 and _gone(pids)
    runs = seedreg.Registry().runs(experiment="slow", limit=None)
    assert sorted(r.seed for r in runs) == [0, 1] and {r.status for r in runs} == {"interrupted"}  # seed 2 never ran


def test_dask_without_distributed_is_one_line_exit_2(tmp_path: Path):
    blocker = tmp_path / "no_distributed"
    (blocker / "distributed").mkdir(parents=True)
    (blocker / "distributed" / "__init__.py").write_text("raise ImportError('No module named distributed')\n")
    write(tmp_path / "train.py", SCRIPT)
    done = sweep("--seeds", "2", "--dask", "tcp://127.0.0.1:8786", "--", sys.executable, "train.py", cwd=tmp_path,
                 env={"PYTHONPATH": str(blocker)})
    assert done.returncode == 2 and "distributed" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("env-*.json"))


def test_dask_refuses_an_unreachable_scheduler_with_one_line(tmp_path: Path):
    write(tmp_path / "train.py", SCRIPT)
    done = sweep("--seeds", "2", "--dask", "tcp://127.0.0.1:9", "--", sys.executable, "train.py", cwd=tmp_path)
    assert done.returncode == 2 and "cannot reach a Dask scheduler" in done.stderr
