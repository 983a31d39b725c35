"""``pytest --seedreg-replay RUN``: run the recorded test by its own seed scheme, compare, store the verdict."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from seedreg.records import RunRecord
    from seedreg.replay.compare import BlockComparison
    from seedreg.seed.codec import Seed
    from seedreg.testing.identity import Identity

class Replay:
    """The recorded test a replay session runs, and what came of it."""

    def __init__(self, url: str, ref: str) -> None:
        from seedreg.errors import SeedregError
        from seedreg.recording.substitution import SESSION_ENV
        from seedreg.registry.facade import Registry

        self.url = url
        try:
            registry = Registry(url)
            record = registry.get(ref)
            if record.replay_of:  # a replay stands for its original, as in `seedreg replay`
                record = registry.get(record.replay_of)
        except SeedregError as error:
            raise pytest.UsageError(f"--seedreg-replay: {error}") from None
        if "pytest.nodeid" not in record.tags:
            raise pytest.UsageError(f"--seedreg-replay: run {record.id[:12]} was not recorded by `pytest --seedreg`; "
                                    "use `seedreg replay` for it")
        self.original: RunRecord = record
        self.nodeid = str(record.tags["pytest.nodeid"])
        #: Runs recorded before the tag existed used scheme 1 and replay by it.
        self.scheme = int(record.tags.get("pytest.seed_scheme", 1))
        self.root = int(record.tags.get("pytest.root_seed", 0))
        self.session = os.environ.get(SESSION_ENV) or uuid.uuid4().hex  # `seedreg replay` reads the verdict by it
        self.comparison: BlockComparison | None = None
        self.problem: str | None = None

    def import_seeded_libraries(self) -> None:
        """Import the libraries the original's block seeded (torch, …) before the replay's block opens.

        A block seeds the libraries imported when it opens, and an earlier test of the session may
        have imported one (scikit-learn's array-API tests import torch): the replay, running that
        test alone, recreates that state so its block seeds, and digests, the same libraries.
        """
        import importlib

        for name in (self.original.seeders or {}).get("applied", {}):
            try:
                importlib.import_module(name)
            except ImportError:  # not installed here any more: the RNG-state digest will say so
                pass

    def seed(self) -> Seed:
        from seedreg.seed.codec import Seed

        original = self.original
        return Seed(original.seed, original.seed_kind, "replay", tuple(original.spawn_key))

    def is_it(self, item: pytest.Item, identity: Identity) -> bool:
        return (identity.full_id(item) if self.scheme >= 2 else item.nodeid) == self.nodeid

    def cannot(self, why: str) -> None:
        """Stop the session: the recorded test cannot run here (exit 2, no verdict)."""
        self.problem = f"cannot replay run {self.original.id[:12]}: its test {self.nodeid} {why}"
        pytest.exit(f"seedreg: {self.problem}", returncode=pytest.ExitCode.INTERRUPTED)

    def select(self, config: pytest.Config, items: list[pytest.Item], identity: Identity) -> None:
        keep = [item for item in items if self.is_it(item, identity)]
        if not keep:
            self.cannot("was not collected (run the reproduce command from the directory it names, "
                        "with the test's file or module as its last argument)")
        dropped = [item for item in items if item not in keep]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep[:1]

    def compare(self, replay_id: str | None) -> None:
        """Compare the original with the run this session made for it (None: the test did not run); store it."""
        from seedreg.fingerprints import kept_arrays
        from seedreg.registry.facade import Registry
        from seedreg.replay.compare import compare_block
        from seedreg.replay.runner import store_verdicts

        registry = Registry(self.url)
        original = registry.get(self.original.id)
        replayed = registry.get(replay_id) if replay_id else None

        def kept(a: Any, b: Any) -> tuple[Any, Any]:
            return kept_arrays.load(registry.url, a.hexdigest), kept_arrays.load(registry.url, b.hexdigest)

        self.comparison = compare_block(original, replayed, kept)
        store_verdicts(registry.engine(), self.session, [self.comparison])

    @property
    def identical(self) -> bool:
        return self.comparison is not None and self.comparison.verdict == "identical"

    def header(self, where: str) -> str:
        return f"seedreg: replaying run {self.original.id} ({self.nodeid}) with its recorded seed; {where}"

    def summary(self, write: Any) -> None:
        from seedreg.cli.render import render_comparison

        if self.problem is not None:
            write(f"seedreg: {self.problem}")
            return
        if self.comparison is None:
            write(f"replay of {self.original.id}: the session ended before the recorded test {self.nodeid} ran")
            return
        for line in render_comparison(self.comparison):
            write(line)
        outcome = (f"the original {self.original.status} run is reproduced" if self.identical
                   else "it does not reproduce")
        write(f"seedreg replay verdict: {self.comparison.verdict} ({outcome})")
