"""Replaying a notebook run (DESIGN §8): execute the notebook top to bottom in a fresh kernel, then
compare the requested run's block and its children as a script's replay compares blocks.

Root blocks of the replayed kernel are matched by the cell they open in and their occurrence in
that cell (:func:`seedreg.recording.substitution.substitute_cell`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from seedreg.errors import NotReplayableError
from seedreg.notebook import cells, execute
from seedreg.notebook.kernel import NOTEBOOK_ENV, SESSION_ENV
from seedreg.recording.substitution import SESSION_ENV as REPLAY_SESSION_ENV
from seedreg.replay.runner import (
    ReplayPlan,
    ReplayResult,
    compare_session,
    interpreter,
    replay_environment,
    store_verdicts,
)

if TYPE_CHECKING:
    from seedreg.records import RunRecord


@dataclass
class NotebookTarget:
    """The notebook a replay executes, the interpreter of its kernel, and the replay's options."""

    path: str
    recorded_digest: str | None
    current_digest: str | None
    interpreter: str
    out_of_order: bool
    timeout: float | None = None
    output: str | None = None

    @property
    def digest_matches(self) -> bool:
        return self.current_digest is not None and self.current_digest == self.recorded_digest

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "digest": {"recorded": self.recorded_digest, "current": self.current_digest,
                                              "matches": self.digest_matches},
                "kernel": execute.kernel_command(self.interpreter), "timeout": self.timeout, "output": self.output}


def plan_notebook(asked: RunRecord, root: RunRecord, url: str, *, timeout: float | None = None,
                  output: str | None = None) -> ReplayPlan:
    """What replaying the notebook run ``root`` (for ``asked``, itself or a child) will execute."""
    execute.require()
    facts = root.notebook or {}
    path = facts.get("path")
    if not path or not Path(path).is_file():
        raise NotReplayableError(f"run {root.id[:12]} ran in the notebook {path}, which no longer exists "
                                 "(renamed or deleted?): put it back there to replay it")
    if not Path(root.cwd).is_dir():
        raise NotReplayableError(f"run {root.id[:12]} ran in {root.cwd}, which no longer exists")
    notes: list[str] = []
    kernel_python = interpreter(root.executable, notes)
    current = cells.read(path)
    target = NotebookTarget(path, facts.get("digest"), current.digest if current else None, kernel_python,
                            facts.get("order") == "out-of-order", timeout, output)
    if not target.digest_matches:
        notes.append(f"the notebook's code cells changed since the run (digest {target.recorded_digest} -> "
                     f"{target.current_digest}): the replay runs them as they are now")
    if target.out_of_order:
        notes.append("the run's cells were run out of order (or edited, or not in the file): "
                     "the replay runs the notebook top to bottom")
    env = replay_environment(root, url)
    env.pop(NOTEBOOK_ENV, None)  # the kernel finds the notebook from its session, as Jupyter's would
    env[SESSION_ENV] = path
    return ReplayPlan(asked, root, execute.kernel_command(kernel_python), root.cwd, env, notes, notebook=target)


@dataclass
class NotebookReplayResult(ReplayResult):
    """A script's replay result, plus how far the notebook ran and where it stopped."""

    cells_run: int = 0
    stopped: dict[str, Any] | None = None

    @property
    def identical(self) -> bool:
        return super().identical and not self._stop_differs()

    def _stop_differs(self) -> bool:
        """A stop differs unless the requested block failed in that same cell, as it did originally."""
        if self.stopped is None:
            return False
        asked = next((b for b in self.blocks if b.original is not None and b.original.id == self.plan.root.id), None)
        if asked is None or asked.replay is None or asked.replay.notebook is None:
            return True
        same_cell = asked.replay.notebook["cell"]["index"] == self.stopped["cell"]
        return not (same_cell and asked.original.status == "failed" and asked.status_identical)  # type: ignore[union-attr]

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        assert self.plan.notebook is not None
        data["notebook"] = {**self.plan.notebook.to_json(), "cells_run": self.cells_run, "stopped": self.stopped}
        return data


def execute_notebook(engine: Engine, url: str, replay_plan: ReplayPlan) -> NotebookReplayResult:
    """Execute the planned notebook, then compare the requested run's tree and store the verdicts."""
    target = replay_plan.notebook
    assert target is not None
    session_id = uuid.uuid4().hex
    env = {**replay_plan.env, REPLAY_SESSION_ENV: session_id}
    done = execute.run(target.path, target.interpreter, replay_plan.cwd, env, target.timeout, target.output)
    blocks = compare_session(engine, url, replay_plan.root, session_id, tree_only=True)
    blocks.sort(key=lambda b: 0 if (b.original and b.original.id == replay_plan.asked.id) else 1)
    store_verdicts(engine, session_id, blocks)
    return NotebookReplayResult(replay_plan, session_id, 1 if done.stopped else 0, blocks,
                                cells_run=done.cells_run, stopped=done.stopped)
