"""Running a notebook top to bottom in a fresh kernel (nbclient), stopping at the first cell that
raises or exceeds its timeout. Needs the extra ``seedreg[notebook]`` (nbclient, nbformat, ipykernel).

The kernel is started from a kernel spec written for the run (``seedreg-replay``) whose command is
the given interpreter with ``-m ipykernel_launcher``, over IPC sockets in a temporary folder, and
it boots while nbclient and nbformat are imported and the notebook is read.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedreg.errors import NotReplayableError
from seedreg.notebook.cells import first_line

EXTRA = "seedreg[notebook]"
KERNEL_NAME = "seedreg-replay"


def require() -> None:
    """Raise NotReplayableError (exit 2) naming the extra when nbclient or nbformat is missing
    (found without importing them)."""
    for name in ("nbclient", "nbformat", "jupyter_client"):
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            found = None
        if found is None:
            raise NotReplayableError(
                f"replaying a notebook run needs the notebook extra ({name} is not installed): pip install '{EXTRA}'")


def kernel_command(interpreter: str) -> list[str]:
    """The command the replay's kernel starts with (``{connection_file}`` filled in by jupyter_client)."""
    return [interpreter, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


@dataclass
class Execution:
    """An executed notebook: how many code cells ran and, when it stopped early, where and why."""

    notebook: Any  # nbformat.NotebookNode, outputs filled in
    cells_run: int
    #: ``{"cell": code-cell index, "first_line", "error"}`` of the cell that raised or timed out.
    stopped: dict[str, Any] | None = None


def run(path: str, interpreter: str, cwd: str, env: Mapping[str, str], timeout: float | None = None,
        output: str | None = None) -> Execution:
    """Execute the notebook at ``path`` top to bottom in a fresh kernel; write it to ``output``.

    NotReplayableError when the notebook cannot be read or the kernel cannot start.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    with tempfile.TemporaryDirectory(prefix="seedreg-kernel-") as folder:
        spec = Path(folder, "kernels", KERNEL_NAME)
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps(
            {"argv": kernel_command(interpreter), "display_name": "seedreg replay", "language": "python"}))
        manager = AsyncKernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=os.path.join(folder, "ipc"),
                                     kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]))
        started = False
        try:  # the kernel boots while nbclient is imported and the notebook read (nbclient would do it after)
            run_sync(manager.start_kernel)(cwd=cwd, env={**env, "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
                                           extra_arguments=["--HistoryManager.hist_file=:memory:"])
        except Exception as error:
            raise NotReplayableError(f"cannot start a kernel with {interpreter}: {error}") from None
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

        try:
            notebook = nbformat.read(path, as_version=4)
        except (OSError, ValueError) as error:
            run_sync(manager.shutdown_kernel)(now=True)
            raise NotReplayableError(f"cannot read the notebook {path}: {error}") from None
        client = NotebookClient(notebook, km=manager, timeout_func=lambda cell: timeout)
        done = Execution(notebook, 0)
        try:
            with client.setup_kernel(cleanup_kc=True):
                started = True
                code_index = -1
                for index, cell in enumerate(notebook.cells):
                    if cell.cell_type != "code":
                        continue
                    code_index += 1
                    try:
                        client.execute_cell(cell, index)
                    except CellExecutionError as error:
                        reason = f"{error.ename}: {error.evalue}" if error.evalue else error.ename
                    except CellTimeoutError:
                        reason = f"timed out after {timeout:g} s (--timeout)"
                    except DeadKernelError:
                        reason = "the kernel died"
                    else:
                        done.cells_run += bool(cell.source.strip())
                        continue
                    done.stopped = {"cell": code_index, "first_line": first_line(cell.source), "error": reason}
                    break
        except Exception as error:  # the kernel did not start (no ipykernel for that interpreter, …)
            if started:
                raise
            raise NotReplayableError(f"cannot start a kernel with {interpreter}: {error}") from None
    if output:
        nbformat.write(notebook, output)
    return done
