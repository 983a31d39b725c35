"""What recording and replaying in a notebook costs (issue 12).

Run: ``python benchmarks/notebook_overhead.py`` (needs ``seedreg[notebook]``). Prints figures and
ratios measured in this run:
- a warm block logging a 1000 x 100 array in a notebook cell, against the same block in a script,
  per block, in a 200 KB notebook (target: within 10 %; the notebook's digest is not recomputed
  per block);
- ``seedreg replay`` of examples/quickstart.ipynb against executing it with nbclient alone
  (target: at most 0.3 s more).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import nbclient
import nbformat
from _common import PYTHON, verdict

CELLS, BLOCKS_PER_CELL = 20, 30
FILLER_CELLS = 150
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"

SETUP = ("import json, sys, time\nimport numpy as np\nimport seedreg\n"
         "data = np.random.default_rng(0).normal(size=(1000, 100))\ntimes, undetected = [], []\n"
         "def blocks(n, into):\n    for i in range(n):\n        start, cpu = time.perf_counter(), time.process_time()\n"
         "        with seedreg.run('bench', seed=i) as run:\n            run.log('data', data)\n"
         "        into.append((time.perf_counter() - start, time.process_time() - cpu))\n"
         "blocks(5, [])  # warm: the registry, the caches")
TIMED = f"blocks({BLOCKS_PER_CELL}, times)"
#: The same blocks in the kernel with seedreg's notebook detection switched off: what seedreg adds in a kernel.
UNDETECTED = ("from seedreg.notebook import kernel\ndetect, kernel.block_cell = kernel.block_cell, lambda *a, **k: None\n"
              f"blocks({BLOCKS_PER_CELL}, undetected)\nkernel.block_cell = detect")
REPORT = "print(json.dumps([times, undetected]))"
#: The script: the same setup, then a batch of blocks each time it reads a line; its times at the end.
SCRIPT = SETUP + "\nfor line in sys.stdin:\n    blocks(int(line), times)\n    print('done', flush=True)\n" + REPORT


def big_notebook(path: Path) -> nbformat.NotebookNode:
    """About 200 KB: filler cells with saved outputs (as a worked-on notebook has), then the timed cells."""
    nb = nbformat.v4.new_notebook()
    for i in range(FILLER_CELLS):
        cell = nbformat.v4.new_code_cell(f"x_{i} = {i}  # an earlier step of the analysis, kept for the record")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"step {i}: " + "." * 1200 + "\n")]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in [SETUP, *[TIMED, UNDETECTED] * CELLS, REPORT]]
    nbformat.write(nb, path)
    return nb


def block_cost(folder: Path) -> None:
    """The notebook's cells and the script's batches run in turn, so drift on a shared machine hits both alike."""
    path = folder / "analysis.ipynb"
    nb = big_notebook(path)
    (folder / "bench.py").write_text(SCRIPT + "\n")
    script = subprocess.Popen([PYTHON, str(folder / "bench.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=folder, env={**os.environ, "SEEDREG_DB": str(folder / "py.db")})
    client = nbclient.NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    with client.setup_kernel(env={**os.environ, "JPY_SESSION_NAME": str(path), "SEEDREG_DB": str(folder / "nb.db")}):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
            if cell.source == TIMED:
                script.stdin.write(f"{BLOCKS_PER_CELL}\n")
                script.stdin.flush()
                assert script.stdout.readline().strip() == "done"
    script_times = json.loads(script.communicate("")[0].strip().splitlines()[-1])[0]
    notebook_times, undetected = json.loads(nb.cells[-1].outputs[0]["text"])
    print(f"warm block logging a 1000x100 array, {len(notebook_times)} blocks each, in cells of a "
          f"{path.stat().st_size / 1024:.0f} KB notebook (in order) and in a script, in turns "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs):")
    for column, what in ((0, "wall"), (1, "CPU")):  # CPU time: the cost itself, less exposed to a busy machine
        notebook, script_ms, plain = (statistics.median(t[column] for t in times) * 1e3
                                      for times in (notebook_times, script_times, undetected))
        ratio = notebook / script_ms
        print(f"  {what:<4} notebook cell {notebook:.3f} ms, script {script_ms:.3f} ms per block (medians): ratio "
              f"{ratio:.3f} (target <= 1.10) {verdict(ratio <= 1.10)}; in the kernel without seedreg's notebook "
              f"facts {plain:.3f} ms: they cost {(notebook - plain) * 1e3:.0f} us ({notebook / plain:.3f})")


def replay_cost(folder: Path) -> None:
    work = folder / "example"
    work.mkdir()
    notebook = work / "quickstart.ipynb"
    shutil.copy(EXAMPLE, notebook)
    env = {"SEEDREG_DB": str(work / "seedreg.db")}
    nb = nbformat.read(notebook, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(work)}})
    client.execute(env={**os.environ, **env, "SEEDREG_NOTEBOOK": str(notebook)})  # the run to replay
    import seedreg

    original = seedreg.Registry(env["SEEDREG_DB"]).last().id
    plain = (f"import nbclient, nbformat; nb = nbformat.read({str(notebook)!r}, as_version=4); "
             f"nbclient.NotebookClient(nb, kernel_name='python3', resources={{'metadata': {{'path': {str(work)!r}}}}})"
             ".execute()")
    commands = ([PYTHON, "-m", "seedreg", "replay", original, "--yes"], [PYTHON, "-c", plain])
    wall: list[list[float]] = [[], []]
    cpu: list[list[float]] = [[], []]
    for _ in range(7):  # alternated; CPU time of the whole process tree (the kernel is a child) too
        for i, argv in enumerate(commands):
            before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True, env={**os.environ, **env}, cwd=work)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall[i].append(time.perf_counter() - start)
            cpu[i].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    (replay, alone), (replay_cpu, alone_cpu) = ([statistics.median(t) for t in times] for times in (wall, cpu))
    extra = replay - alone
    print(f"examples/quickstart.ipynb (load average {os.getloadavg()[0]:.1f}): seedreg replay {replay:.3f} s, "
          f"nbclient alone {alone:.3f} s (medians of 7): +{extra:.3f} s (target <= +0.3 s) {verdict(extra <= 0.3)}; "
          f"CPU of the process trees {replay_cpu:.3f} s and {alone_cpu:.3f} s: +{replay_cpu - alone_cpu:.3f} s")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        block_cost(Path(tmp))
        replay_cost(Path(tmp))


if __name__ == "__main__":
    main()
