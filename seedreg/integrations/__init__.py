"""Working beside trackers (DESIGN §11): what the with-block calls as it opens, logs and closes.

:func:`opened` finds each tracker whose module is already imported (``mlflow``, ``wandb``, or a
plugin of the entry-point group ``seedreg.integrations``, :mod:`seedreg.integrations.base`) and
that has an active run, tells it about the block, and adds the tracker run's ids to the block's own
tags. A tracker that raises is a warning and is left out for the rest of the block; never a failed
block. ``SEEDREG_NO_INTEGRATIONS=mlflow,wandb`` (or ``all``) turns them off. A forked worker
leaves alone the tracker runs its parent's blocks annotated (its root block names it there).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

from seedreg import forks
from seedreg.db.engines import mask_url
from seedreg.integrations.base import DISABLE_ENV, Block, Tracker, entry_points, load

if TYPE_CHECKING:
    from seedreg.fingerprints.digest import Fingerprint
    from seedreg.recording.block import Run

_run_ids: dict[tuple[str, str], list[str]] = {}  # (tracker, its run id) -> blocks opened in it here
_inherited: set[tuple[str, str]] = set()  # tracker runs the parent process's blocks annotated


@forks.after_fork
def _forked() -> None:
    _inherited.update(_run_ids)
    _run_ids.clear()


def disabled() -> set[str]:
    """The integrations ``SEEDREG_NO_INTEGRATIONS`` turns off (``all`` for every one)."""
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def _warn(name: str, run_id: str, error: BaseException) -> None:
    warnings.warn(f"seedreg: the {name} integration failed ({type(error).__name__}: {error}); "
                  f"run {run_id[:12]} goes on without it", RuntimeWarning, stacklevel=4)


class Active:
    """The tracker runs one block annotates, each with what it was told (:class:`Block`)."""

    def __init__(self) -> None:
        self.entries: list[tuple[Tracker, Any, Block]] = []

    def _each(self, method: str, *args: Any) -> None:
        for entry in list(self.entries):
            tracker, tracker_run, block = entry
            try:
                getattr(tracker, method)(tracker_run, block, *args)
            except Exception as error:
                _warn(tracker.name, block.run_id, error)
                self.entries.remove(entry)

    def logged(self, name: str, fp: Fingerprint) -> None:
        """The block logged an output."""
        for _, _, block in self.entries:
            block.fingerprints[name] = str(fp)
        self._each("logged", name)

    def closed(self, status: str) -> None:
        """The block ended."""
        self._each("closed", status)


def opened(run: Run) -> Active | None:
    """As a block opens (its seed final, before it is recorded): annotate every active tracker run
    and add its ids to the block's own tags; None when no tracker is imported or active."""
    candidates = [ep for ep in entry_points() if ep.name in sys.modules]
    off = disabled() if candidates else set()
    if not candidates or "all" in off:
        return None
    active = Active()
    seed = str(run.seed) if isinstance(run.seed, int) else json.dumps(list(run.seed))
    for ep in candidates:
        if ep.name in off:
            continue
        try:
            tracker = load(ep)
            tracker_run = None if tracker.name in off else tracker.active_run()
            if tracker_run is None:
                continue
            tags = tracker.run_tags(tracker_run)
            key = (tracker.name, next(iter(tags.values()), ""))
            if key in _inherited:
                continue
            run._own_tags(tags)
        except Exception as error:
            _warn(ep.name, run.id, error)
            continue
        run_ids = _run_ids.setdefault(key, [])
        run_ids.append(run.id)
        block = Block(run.id, run.experiment, seed, mask_url(run.url), run_ids=list(run_ids))
        active.entries.append((tracker, tracker_run, block))
    active._each("opened")
    return active if active.entries else None
