"""Weights & Biases: record the blocks of the active W&B run in ``wandb.run.config["seedreg"]``.

``{"run_id", "seed"}`` name the latest block, ``"run_ids"`` lists them all, ``"registry"`` is the
registry (password masked) and ``"fingerprints"`` maps each logged output to its fingerprint. Each
event is one ``config.update``: the open's, then the outputs' at close. seedreg's run gets the tag
``wandb.run_id``.
"""

from __future__ import annotations

import sys
from typing import Any

from seedreg.integrations.base import Block


def config_key(name: str) -> str:
    """``name`` as W&B normalises a config key: leading and trailing ``-`` stripped."""
    return name.strip("-") or "_"


class WandbTracker:
    """The run ``wandb.run`` holds (None when no ``wandb.init`` is active)."""

    name = "wandb"
    module = "wandb"

    def active_run(self) -> Any | None:
        return getattr(sys.modules["wandb"], "run", None)

    def run_tags(self, tracker_run: Any) -> dict[str, str]:
        return {"wandb.run_id": str(tracker_run.id)}

    def opened(self, tracker_run: Any, block: Block) -> None:
        previous = tracker_run.config.get("seedreg") or {}
        section = {"run_id": block.run_id, "seed": block.seed, "registry": block.registry,
                   "run_ids": list(block.run_ids), "fingerprints": dict(previous.get("fingerprints") or {})}
        tracker_run.config.update({"seedreg": section}, allow_val_change=True)

    def logged(self, tracker_run: Any, block: Block, name: str) -> None:
        """Nothing yet: the outputs go in one update at close."""

    def closed(self, tracker_run: Any, block: Block, status: str) -> None:
        if block.fingerprints:
            section = dict(tracker_run.config.get("seedreg") or {})
            section["fingerprints"] = {**(section.get("fingerprints") or {}),
                                       **{config_key(name): fp for name, fp in block.fingerprints.items()}}
            tracker_run.config.update({"seedreg": section}, allow_val_change=True)
