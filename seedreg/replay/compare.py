"""Comparing what two runs recorded: outputs, RNG state, status, environment; and where arrays diverge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seedreg.fingerprints.digest import Fingerprint, chunk_range, first_differing_chunk
from seedreg.fingerprints.kept_arrays import KeptArrayError
from seedreg.records import RunRecord, json_safe

#: Facts of a run and its environment a replay reports when they changed (never by themselves a difference).
REPORTED_FACTS = ("numpy_version", "python_version", "platform", "script_digest", "git_commit")


@dataclass
class OutputComparison:
    """One logged name: identical, different (and where), missing in the replay, or new in it."""

    name: str
    state: str  # identical | different | missing | new
    original: str | None
    replay: str | None
    where: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "state": self.state, "original": self.original,
                                "replay": self.replay}
        if self.where:
            data["where"] = self.where
        return data


@dataclass
class BlockComparison:
    """An original block against its replay (either may be missing)."""

    original: RunRecord | None
    replay: RunRecord | None
    outputs: list[OutputComparison] = field(default_factory=list)
    rng_identical: bool = False
    status_identical: bool = False
    environment: list[tuple[str, Any, Any]] = field(default_factory=list)
    #: Params whose values differ (name, original, replay; None where one run has no such param).
    params: list[tuple[str, Any, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.replay is None:
            return "missing"
        if self.original is None:
            return "extra"
        same = self.rng_identical and self.status_identical
        return "identical" if same and all(o.state == "identical" for o in self.outputs) else "different"

    def to_json(self) -> dict[str, Any]:
        run = self.original or self.replay
        data: dict[str, Any] = {
            "original": self.original.id if self.original else None,
            "replay": self.replay.id if self.replay else None,
            "experiment": run.experiment if run else None,
            "verdict": self.verdict,
            "outputs": [o.to_json() for o in self.outputs],
            "rng_digest": {
                "identical": self.rng_identical,
                "original": self.original.rng_digest if self.original else None,
                "replay": self.replay.rng_digest if self.replay else None,
            },
            "status": {
                "identical": self.status_identical,
                "original": self.original.status if self.original else None,
                "replay": self.replay.status if self.replay else None,
            },
            "environment": [{"field": f, "original": a, "replay": b} for f, a, b in self.environment],
            # params the replayed code passed differently (reported like the environment, never a difference)
            "params": [{"name": n, "original": json_safe(a), "replay": json_safe(b)} for n, a, b in self.params],
            "notes": self.notes,
        }
        if any(r is not None and r.notebook for r in (self.original, self.replay)):  # notebook runs: their cells
            data["cell"] = {side: r.notebook["cell"] if r is not None and r.notebook else None
                            for side, r in (("original", self.original), ("replay", self.replay))}
        return data


def environment_changes(a: RunRecord, b: RunRecord) -> list[tuple[str, Any, Any]]:
    """The environment facts that differ between two runs."""
    changes = []
    for name in REPORTED_FACTS:
        if name == "platform":
            before = a.environment.platform if a.environment else None
            after = b.environment.platform if b.environment else None
        else:
            before, after = getattr(a, name), getattr(b, name)
        if before != after:
            changes.append((name, before, after))
    if a.environment and b.environment and a.environment.packages != b.environment.packages:
        old, new = a.environment.packages, b.environment.packages
        for pkg in sorted(set(old) | set(new)):
            if old.get(pkg) != new.get(pkg):
                changes.append((f"package {pkg}", old.get(pkg), new.get(pkg)))
    notebooks = [(run.notebook or {}).get("digest") for run in (a, b)]
    if notebooks[0] != notebooks[1]:  # reported like a changed script (DESIGN §8)
        changes.append(("notebook digest", notebooks[0], notebooks[1]))
    return changes


def param_changes(a: RunRecord, b: RunRecord) -> list[tuple[str, Any, Any]]:
    """The params whose values differ between two runs (reported with the environment, never a difference)."""
    return [(key, a.params.get(key), b.params.get(key)) for key in sorted(set(a.params) | set(b.params))
            if key not in a.params or key not in b.params or not _same(a.params[key], b.params[key])]


def _same(x: Any, y: Any) -> bool:
    return type(x) is type(y) and (x == y or x != x and y != y)  # typed, and NaN is the same as NaN


def locate(original: Fingerprint, replay: Fingerprint, kept: tuple[Any, Any] | None = None) -> dict[str, Any] | None:
    """Where two array fingerprints diverge: the first differing chunk, or the exact element when kept."""
    if original.kind != "ndarray" or replay.kind != "ndarray":
        return None
    if original.dtype != replay.dtype or original.shape != replay.shape:
        return {"kind": "shape", "reason": "dtype or shape differs",
                "original": {"dtype": original.dtype, "shape": list(original.shape or ())},
                "replay": {"dtype": replay.dtype, "shape": list(replay.shape or ())}}
    where: dict[str, Any] = {}
    chunk = first_differing_chunk(original, replay)
    if chunk is not None:
        start, stop = chunk_range(original, chunk)
        where = {"kind": "chunk", "chunk": chunk, "elements": [start, stop],
                 "start_index": _index(start, original.shape or ())}
    if kept is not None and kept[0] is not None and kept[1] is not None:
        exact = first_difference(*kept)
        if exact is not None:
            where.update(exact, kind="element")
    return where or None


def _index(flat: int, shape: tuple[int, ...]) -> list[int]:
    import numpy as np

    return [int(i) for i in np.unravel_index(flat, shape)] if shape else []


def first_difference(a: Any, b: Any, block: int = 1 << 20) -> dict[str, Any] | None:
    """The first bitwise-differing element of two same-shape arrays, both values, and how many differ."""
    import numpy as np

    flat_a, flat_b = a.reshape(-1), b.reshape(-1)
    first, count = None, 0
    for start in range(0, flat_a.size, block):
        ca = np.ascontiguousarray(flat_a[start : start + block]).astype(a.dtype.newbyteorder("<"), copy=False)
        cb = np.ascontiguousarray(flat_b[start : start + block]).astype(b.dtype.newbyteorder("<"), copy=False)
        rows_a = ca.view(np.uint8).reshape(ca.size, -1)
        rows_b = cb.view(np.uint8).reshape(cb.size, -1)
        differs = (rows_a != rows_b).any(axis=1)
        n = int(differs.sum())
        if n and first is None:
            first = start + int(np.argmax(differs))
        count += n
    if first is None:
        return None
    return {
        "element": first,
        "index": _index(first, a.shape),
        "original_value": repr(flat_a[first].item()),
        "replay_value": repr(flat_b[first].item()),
        "differing_elements": count,
    }


def _where(original: Fingerprint, replay: Fingerprint, kept_loader: Any) -> dict[str, Any] | None:
    """:func:`locate` with the kept arrays when the store has them; a refused file is said, never compared."""
    try:
        kept = kept_loader(original, replay) if kept_loader else None
    except KeptArrayError as error:
        where = locate(original, replay)
        return {**(where or {}), "refused": str(error)}
    return locate(original, replay, kept)


def compare_outputs(original: RunRecord, replay: RunRecord, kept_loader=None) -> list[OutputComparison]:
    """Per logged name: identical / different (with where) / missing / new."""
    results = []
    for name, fp in original.fingerprints.items():
        new = replay.fingerprints.get(name)
        if new is None:
            results.append(OutputComparison(name, "missing", str(fp), None))
        elif new == fp:
            results.append(OutputComparison(name, "identical", str(fp), str(new)))
        else:
            results.append(OutputComparison(name, "different", str(fp), str(new), _where(fp, new, kept_loader)))
    for name, new in replay.fingerprints.items():
        if name not in original.fingerprints:
            results.append(OutputComparison(name, "new", None, str(new)))
    return results


def compare_block(original: RunRecord | None, replay: RunRecord | None, kept_loader=None) -> BlockComparison:
    """Compare an original block with its replay."""
    result = BlockComparison(original, replay)
    if original is None and replay is not None:
        result.outputs = [OutputComparison(name, "new", None, str(fp)) for name, fp in replay.fingerprints.items()]
    if original is None or replay is None:
        return result
    result.outputs = compare_outputs(original, replay, kept_loader)
    result.rng_identical = original.rng_digest == replay.rng_digest
    result.status_identical = original.status == replay.status
    result.environment = environment_changes(original, replay)
    result.params = param_changes(original, replay)
    if result.verdict == "different" and original.numpy_version != replay.numpy_version and original.generator_used:
        result.notes.append(
            f"this run drew from run.rng (a numpy Generator) and NumPy changed "
            f"({original.numpy_version} -> {replay.numpy_version}): Generator streams are not guaranteed "
            "stable across NumPy versions (NEP 19), so the difference may come from NumPy, not the code"
        )
    return result
