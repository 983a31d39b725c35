"""MLflow: tag the active MLflow run with the blocks that opened in it (DESIGN §11).

Tags: ``seedreg.run_id`` and ``seedreg.seed`` (the latest block), ``seedreg.registry`` (password
masked), ``seedreg.run_ids`` (every block, comma-separated) and, per logged output,
``seedreg.fp.<name>``. Each event is one ``log_batch`` call (what ``mlflow.set_tags`` does): the
open's tags, then the outputs' at close. seedreg's run gets ``mlflow.run_id`` and
``mlflow.experiment_id``.
"""

from __future__ import annotations

import posixpath
import re
import sys
from typing import Any

from seedreg.integrations.base import Block

#: MLflow's limits on a tag (mlflow.utils.validation): key length and value length.
MAX_KEY, MAX_VALUE = 250, 8000
_BAD_KEY = re.compile(r"[^/\w.\- :]")


def tag_key(name: str) -> str:
    """``name`` as MLflow takes it in a tag key: other characters become ``_``, and a key that would
    resolve to another path (``a//b``, ``a/../b``) has its slashes replaced too."""
    key = _BAD_KEY.sub("_", name)[:MAX_KEY]
    return key if posixpath.normpath(key) == key else key.replace("/", "_")


def joined_ids(run_ids: list[str]) -> str:
    """The block ids, comma-separated; past MLflow's value limit the newest that fit, after ``…,``."""
    text = ",".join(run_ids)
    if len(text) <= MAX_VALUE:
        return text
    kept: list[str] = []
    size = 2
    for run_id in reversed(run_ids):
        size += len(run_id) + 1
        if size > MAX_VALUE:
            break
        kept.append(run_id)
    return "…," + ",".join(reversed(kept))


class MlflowTracker:
    """The run ``mlflow.active_run()`` returns, written through ``MlflowClient().log_batch``."""

    name = "mlflow"
    module = "mlflow"

    def active_run(self) -> Any | None:
        return sys.modules["mlflow"].active_run()

    def run_tags(self, tracker_run: Any) -> dict[str, str]:
        return {"mlflow.run_id": tracker_run.info.run_id, "mlflow.experiment_id": str(tracker_run.info.experiment_id)}

    def _set_tags(self, tracker_run: Any, tags: dict[str, str]) -> None:
        mlflow = sys.modules["mlflow"]
        client = mlflow.MlflowClient()
        client.log_batch(tracker_run.info.run_id, tags=[mlflow.entities.RunTag(k, v) for k, v in tags.items()])

    def opened(self, tracker_run: Any, block: Block) -> None:
        self._set_tags(tracker_run, {"seedreg.run_id": block.run_id, "seedreg.seed": block.seed,
                                     "seedreg.registry": block.registry, "seedreg.run_ids": joined_ids(block.run_ids)})

    def logged(self, tracker_run: Any, block: Block, name: str) -> None:
        """Nothing yet: the outputs' tags go in one call at close."""

    def closed(self, tracker_run: Any, block: Block, status: str) -> None:
        if block.fingerprints:
            self._set_tags(tracker_run, {tag_key(f"seedreg.fp.{name}"): fp for name, fp in block.fingerprints.items()})
