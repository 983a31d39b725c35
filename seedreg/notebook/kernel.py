"""Inside a Jupyter kernel, as a block opens: the notebook, the cell, and the order cells ran in.

Detection is cheap and imports nothing: a kernel is a process with ``ipykernel`` in
``sys.modules`` whose IPython shell (``IPython.get_ipython()``) has a ``kernel``. The notebook's
path is the first of (DESIGN §8) ``seedreg.run(..., notebook=PATH)``, ``$SEEDREG_NOTEBOOK``, the
kernel's ``__session__`` / ``$JPY_SESSION_NAME`` (jupyter_server sets both) and VS Code's
``__vsc_ipynb_file__`` that names an existing ``.ipynb`` (a relative path is looked up from the
working directory and its parents, where a Jupyter server's root is).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedreg.notebook import cells

NOTEBOOK_ENV = "SEEDREG_NOTEBOOK"
SESSION_ENV = "JPY_SESSION_NAME"
#: What ``show`` tells a user whose kernel's notebook was not found.
HOW_TO_NAME = ("seedreg.run(..., notebook=PATH), $SEEDREG_NOTEBOOK, the kernel's __session__ / "
               "$JPY_SESSION_NAME (Jupyter sets them), or VS Code's __vsc_ipynb_file__")


_kernel_shell: list[Any] = []  # the kernel's shell once found: a process has one


def shell() -> Any | None:
    """The IPython shell of the Jupyter kernel this process runs, or None (a script, a plain REPL)."""
    if _kernel_shell:
        return _kernel_shell[0]
    if "ipykernel" not in sys.modules:
        return None
    module = sys.modules.get("IPython.core.getipython") or sys.modules.get("IPython")
    get_ipython = getattr(module, "get_ipython", None)
    found = get_ipython() if get_ipython is not None else None
    if found is None or not hasattr(found, "kernel"):
        return None
    _kernel_shell.append(found)
    return found


@dataclass(frozen=True)
class BlockCell:
    """What a block records about the notebook it opened in (``record``, stored as the JSON ``text``
    in ``runs.notebook``), and its occurrence among the root blocks of its cell's execution (how a
    replay matches it)."""

    record: dict[str, Any]
    occurrence: int | None
    history_json: str = "[]"

    @property
    def text(self) -> str:
        """``record`` as compact JSON, the history (the longest part) encoded once per cell execution."""
        head = json.dumps({key: value for key, value in self.record.items() if key != "history"},
                          separators=(",", ":"))
        return f'{head[:-1]},"history":{self.history_json}}}'

    @property
    def index(self) -> int | None:
        return self.record["cell"]["index"]


def candidates(explicit: str | os.PathLike[str] | None, user_ns: dict[str, Any]) -> list[tuple[str, str]]:
    """The ways a notebook path may be named, in order, with the values that are set."""
    named = [("notebook=", explicit), (f"${NOTEBOOK_ENV}", os.environ.get(NOTEBOOK_ENV)),
             ("__session__", user_ns.get("__session__")), (f"${SESSION_ENV}", os.environ.get(SESSION_ENV)),
             ("__vsc_ipynb_file__", user_ns.get("__vsc_ipynb_file__"))]
    return [(way, os.fspath(value)) for way, value in named if isinstance(value, (str, os.PathLike)) and value]


def resolve(value: str, cwd: str) -> tuple[str, cells.CodeCells] | None:
    """The existing notebook ``value`` names (absolute path) and its code cells, or None."""
    if not value.endswith(".ipynb"):
        return None
    path = os.path.expanduser(value)
    if os.path.isabs(path):
        tries = [path]
    else:
        tries = [os.path.join(cwd, path), *(os.path.join(parent, path) for parent in Path(cwd).parents)]
    for candidate in tries:
        found = cells.read(candidate)
        if found is not None:
            return os.path.normpath(candidate), found
    return None


@functools.lru_cache(maxsize=1)
def kernel_name() -> str | None:
    """The kernel spec's name, from the connection file the kernel was started with (``-f FILE``)."""
    argv = sys.argv
    for i, arg in enumerate(argv):
        path = argv[i + 1] if arg == "-f" and i + 1 < len(argv) else (arg[3:] if arg.startswith("-f=") else None)
        if path:
            try:
                with open(path) as handle:
                    return json.load(handle).get("kernel_name") or None
            except (OSError, ValueError, AttributeError):
                return None
    return None


class _History:
    """Digests of ``In[1..n]``, extended as the kernel runs cells (each source digested once)."""

    def __init__(self) -> None:
        self.sources: list[str] = []
        self.digests: list[str] = []
        self.json = "[]"

    def of(self, raw: list[str]) -> list[str]:
        known = len(self.sources)
        if known > len(raw) - 1 or (known and raw[known] is not self.sources[-1]):  # %reset: a new history
            self.sources, self.digests, known = [], [], 0
        if known < len(raw) - 1 or not known:
            for source in raw[known + 1 :]:
                self.sources.append(source)
                self.digests.append(cells.source_digest(source))
            self.json = json.dumps(self.digests, separators=(",", ":"))
        return list(self.digests)


_history = _History()
_occurrences: dict[int, int] = {}  # execution count -> root blocks opened in that cell's execution


def block_cell(explicit: str | os.PathLike[str] | None = None, *, root: bool = True) -> BlockCell | None:
    """The notebook facts of a block opening now, or None outside a Jupyter kernel."""
    found_shell = shell()
    if found_shell is None:
        return None
    raw = found_shell.history_manager.input_hist_raw  # stored before its cell runs: the last is this cell
    history = _history.of(raw)
    count = len(raw) - 1
    source = raw[-1] if count > 0 else ""
    occurrence = None
    if root:
        occurrence = _occurrences.get(count, 0)
        _occurrences[count] = occurrence + 1
    ways = candidates(explicit, found_shell.user_ns)
    cwd = os.getcwd()
    resolved = next((hit for _, value in ways if (hit := resolve(value, cwd)) is not None), None)
    record: dict[str, Any] = {"path": None, "digest": None, "kernel": kernel_name(),
                              "cell": {"index": None, "execution_count": count or None,
                                       "first_line": cells.first_line(source)},
                              "order": None, "history": history}
    if resolved is None:
        record["tried"] = dict(ways)
        return BlockCell(record, occurrence, _history.json)
    path, code = resolved
    in_order = bool(history) and history == code.runnable_digests[: len(history)]
    if in_order:
        index: int | None = code.runnable[len(history) - 1]
    else:
        current = history[-1] if history else None
        index = code.digests.index(current) if current in code.digests else None
    record.update(path=path, digest=code.digest, order="in-order" if in_order else "out-of-order")
    record["cell"]["index"] = index
    return BlockCell(record, occurrence, _history.json)
