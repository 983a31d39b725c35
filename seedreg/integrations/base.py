"""What a tracker integration provides, and finding them: the entry-point group ``seedreg.integrations``.

Like the library seeders, an entry point's *name* is the module its tracker needs already imported
(``mlflow``, ``wandb``), so seedreg checks ``sys.modules`` before loading any plugin code and never
imports a tracker itself; its *value* is an object with the :class:`Tracker` interface, or a class
that builds one with no arguments. The built-ins are registered the same way (``pyproject.toml``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Protocol, runtime_checkable

from seedreg import installed

GROUP = "seedreg.integrations"
DISABLE_ENV = "SEEDREG_NO_INTEGRATIONS"
#: The built-in trackers, as ``pyproject.toml`` registers them (used as is from a source tree).
BUILTIN = {"mlflow": "seedreg.integrations.mlflow:MlflowTracker",
           "wandb": "seedreg.integrations.wandb:WandbTracker"}


@dataclass
class Block:
    """What a tracker is told about a block: ids, seed, registry, and what it logged so far."""

    run_id: str
    experiment: str
    seed: str  # decimal text; a sequence seed as a JSON array of ints
    registry: str  # the URL with any password masked
    #: Every block seedreg opened in this tracker run in this process, oldest first (this one last).
    run_ids: list[str] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)  # output name -> "blake3:…"


@runtime_checkable
class Tracker(Protocol):
    """A tracker seedreg works beside. It never starts or ends the tracker's run; what it raises is
    a warning, never a failed block."""

    name: str  # what SEEDREG_NO_INTEGRATIONS names
    module: str  # the module that must already be imported

    def active_run(self) -> Any | None:
        """The tracker's run active now, or None."""

    def run_tags(self, tracker_run: Any) -> dict[str, str]:
        """Tags for seedreg's run naming the tracker run, under a key seedreg reserves (``mlflow.run_id``;
        a plugin's ``seedreg.<name>.…``); the first one identifies the tracker run."""

    def opened(self, tracker_run: Any, block: Block) -> None:
        """A block opened in ``tracker_run``: annotate it (one call to the tracker)."""

    def logged(self, tracker_run: Any, block: Block, name: str) -> None:
        """The block logged ``name`` (already in ``block.fingerprints``)."""

    def closed(self, tracker_run: Any, block: Block, status: str) -> None:
        """The block ended with ``status``."""


@functools.lru_cache(maxsize=1)
def entry_points() -> tuple[metadata.EntryPoint, ...]:
    """The ``seedreg.integrations`` entry points, read once per process from the cache of :mod:`seedreg.installed`
    (built-ins added if uninstalled)."""
    found = {(ep.name, ep.value): ep for ep in installed.entry_points(GROUP)}
    if not any(value.startswith("seedreg.integrations.") for _, value in found):
        found.update({(name, value): metadata.EntryPoint(name, value, GROUP) for name, value in BUILTIN.items()})
    return tuple(found[key] for key in sorted(found))


@functools.cache
def load(ep: metadata.EntryPoint) -> Tracker:
    """The tracker an entry point names (loaded once); ValueError when it is not a usable tracker."""
    loaded = ep.load()
    tracker = loaded() if isinstance(loaded, type) else loaded
    missing = [attr for attr in ("name", "module", "active_run", "run_tags", "opened", "logged", "closed")
               if not hasattr(tracker, attr)]
    if missing:
        raise ValueError(f"{ep.value} is not a tracker integration: it has no {', '.join(missing)}")
    return tracker
