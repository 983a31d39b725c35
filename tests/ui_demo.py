"""A small registry with something on every page of ``seedreg ui``, made the way users make one.

Real with-blocks and a real script run as a process, replayed for real with ``seedreg replay``:
an identical replay and a different one (one element of a kept 64-chunk array changed), a seed
sweep with a result, two runs of one seed whose data differ (nondeterminism), a failed run, a
run with a 128-bit seed, a root with two spawned workers, and an experiment whose name and tag are HTML. Used by the UI tests,
the browser tests and ``docs/screenshots.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The experiment name and tag value that must show as text, never run.
XSS_NAME = "<script>window.__pwned = 1</script>"
XSS_TAG = '<img src="x" onerror="window.__pwned = 2">'
#: The element the different replay changes (in chunk 36 of 64, element-aligned chunks of 8,192).
CHANGED_ELEMENT = 300_000

TRAIN = '''
import os
import numpy as np
import seedreg

with seedreg.run("training", seed=7, params={"lr": 0.1, "layers": 2}, tags={"stage": "fit"}) as run:
    weights = np.random.rand(524288)  # 4 MiB: 64 chunks
    if os.path.exists("flip"):
        weights[CHANGED] += 1e-9
    run.log("weights", weights, keep=True)
    run.log("order", np.random.permutation(100))
    run.log("loss", float(weights[:100].mean()))
'''.replace("CHANGED", str(CHANGED_ELEMENT))

FLAKY = '''
import os
import numpy as np
import seedreg

with seedreg.run("flaky", seed=3, params={"lr": 0.1}) as run:
    run.log("stable", np.random.rand(8))
    run.log("noise", np.frombuffer(os.urandom(16), dtype=np.uint8))
'''


@dataclass
class Demo:
    """The registry's path and the ids of the runs the tests look at."""

    db: Path
    original: str = ""
    identical_replay: str = ""
    different_replay: str = ""
    flaky: list[str] = field(default_factory=list)
    sweep: list[str] = field(default_factory=list)
    failed: str = ""
    big_seed: list[str] = field(default_factory=list)
    parent: str = ""
    children: list[str] = field(default_factory=list)
    xss: str = ""


_built: dict[str, Demo] = {}


def _process(folder: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode not in (0, 1):  # a replay that differs exits 1
        raise AssertionError(f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _newest(db: Path, **criteria: object) -> str:
    from seedreg import Registry

    return Registry(db, readonly=True).runs(limit=1, **criteria)[0].id  # type: ignore[arg-type]


def build(folder: Path, *, hostile: bool = True) -> Demo:
    """Make the registry in ``folder`` (``registry.db`` and its data store beside it); ``hostile=False``
    leaves out the run named in HTML (the README's screenshots)."""
    import numpy as np

    import seedreg
    from seedreg.db import engines

    folder.mkdir(parents=True, exist_ok=True)
    demo = Demo(folder / "registry.db")
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEEDREG_")}
    env.update(SEEDREG_DB=str(demo.db), SEEDREG_SPOOL=str(folder / "spool"))
    (folder / "train.py").write_text(TRAIN)
    (folder / "flaky.py").write_text(FLAKY)
    _process(folder, env, "train.py")
    demo.original = _newest(demo.db, experiment="training")
    _process(folder, env, "-m", "seedreg", "replay", demo.original, "--yes")
    demo.identical_replay = _newest(demo.db, replays=True)
    (folder / "flip").write_text("")
    _process(folder, env, "-m", "seedreg", "replay", demo.original, "--yes")
    (folder / "flip").unlink()
    demo.different_replay = _newest(demo.db, replays=True)
    for _ in range(2):
        _process(folder, env, "flaky.py")
        demo.flaky.append(_newest(demo.db, experiment="flaky"))

    db = str(demo.db)
    for lr in (0.1, 0.3):
        for seed in range(8):
            with seedreg.run("sweep", seed=seed, params={"lr": lr}, db=db) as run:
                run.log("acc", float(0.8 + lr / 3 + run.rng.normal(scale=0.02)))
            demo.sweep.append(run.id)
    for i in range(4):
        with seedreg.run("big-seed", seed=2**100 + 977 * i, params={"lr": 0.1}, db=db) as run:
            run.log("acc", float(run.rng.uniform(0.7, 0.9)))
        demo.big_seed.append(run.id)
    with seedreg.run("workers", seed=5, db=db) as root:
        for child_seed in root.spawn(2):
            with seedreg.run("workers", seed=child_seed, parent=root.id, db=db) as child:
                child.log("part", child.rng.integers(0, 10, size=4))
            demo.children.append(child.id)
    demo.parent = root.id
    try:
        with seedreg.run("sweep", seed=99, params={"lr": 0.1}, db=db) as run:
            raise RuntimeError("diverged")
    except RuntimeError:
        pass
    demo.failed = run.id
    if hostile:
        with seedreg.run(XSS_NAME, seed=1, tags={"note": XSS_TAG}, db=db) as run:
            run.log("x", np.arange(3))
        demo.xss = run.id
    engines.forget(engines.resolve_url(db))  # close the writers: no -wal left beside the file
    return demo


def shared(tmp_path_factory: Any) -> Demo:
    """One demo registry per test session (pytest's ``tmp_path_factory``), built on first use."""
    if "demo" not in _built:
        _built["demo"] = build(tmp_path_factory.mktemp("ui-demo"))
    return _built["demo"]
