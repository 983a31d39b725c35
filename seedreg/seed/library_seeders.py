"""Library seeders: seed, save, restore and digest the global RNG state of libraries beyond NumPy.

A seeder applies to one module (``torch``, ``tensorflow``, …) and only when that module is
already in ``sys.modules`` as a block opens: seedreg never imports a library itself.

Extension point: the entry-point group ``seedreg.seeders``. An entry point's *name* is the
module its seeder applies to, so seedreg checks ``sys.modules`` before loading any plugin
code; its *value* is an object with the :class:`Seeder` interface, or a class that builds
one with no arguments. The built-in torch and tensorflow seeders are registered the same way
(``pyproject.toml``). The group is read once per process, when the first block opens (from the
per-user cache of :mod:`seedreg.installed` while no package was installed or removed).

The int a library gets is :func:`library_seed`: the low 64 bits of ``Seed.python_seed()``
(the int ``random.seed`` gets). For an int seed below ``2**64`` that is the seed itself, so a
block seeded 101 draws exactly what ``torch.manual_seed(101)`` followed by the same calls does.
This rule is part of the stable contract.

Failure policy: a seeder that fails to load, save or seed raises :class:`SeederError` naming
it, after every state already changed (NumPy, ``random``, the seeders before it, and its own)
has been put back; the run is recorded as failed with that error. A seeder that fails to
digest or restore at exit is recorded in the run and raised after the others were restored
(a warning instead when the block already raised). ``SEEDREG_NO_SEEDERS=torch,…`` turns
seeders off by name (``all`` for every one).
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from seedreg import installed
from seedreg.errors import SeederError

if TYPE_CHECKING:
    from seedreg.seed.codec import Seed

GROUP = "seedreg.seeders"
DISABLE_ENV = "SEEDREG_NO_SEEDERS"
#: The built-in seeders, as ``pyproject.toml`` registers them (used as is when seedreg runs
#: from a source tree with no installed metadata).
BUILTIN = {"torch": "seedreg.seed.library_seeders:TorchSeeder", "tensorflow": "seedreg.seed.library_seeders:TensorFlowSeeder"}
#: Libraries with a global RNG state and no built-in seeder: ``show`` names them when imported.
UNSEEDED_RNG_LIBRARIES = ("cupy", "numba", "paddle", "mlx")


@runtime_checkable
class Seeder(Protocol):
    """What a seeder provides: its name, its module, and four operations on the global state."""

    name: str
    module: str

    def seed(self, seed: Seed) -> None:
        """Seed the library's global RNG state(s) from the run's seed."""

    def save(self) -> Any:
        """The current state, to be given back to :meth:`restore`."""

    def restore(self, state: Any) -> None:
        """Put back a state :meth:`save` returned."""

    def digest_state(self) -> Any:
        """The current state as something :func:`seedreg.fingerprint` accepts (e.g. uint8 arrays)."""


def library_seed(seed: Seed) -> int:
    """The int a library's seed function gets: the low 64 bits of ``seed.python_seed()`` (stable)."""
    return seed.python_seed() & (2**64 - 1)


# -- built-in seeders ------------------------------------------------------------------------


class TorchSeeder:
    """PyTorch: ``torch.manual_seed`` (CPU, and through it CUDA and other accelerators).

    Saves and restores the CPU generator, and the CUDA generators of every device when CUDA is
    initialised; the digest covers the same states.
    """

    name = "torch"
    module = "torch"

    def seed(self, seed: Seed) -> None:
        import torch

        torch.manual_seed(library_seed(seed))

    def save(self) -> Any:
        import torch

        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        return torch.get_rng_state(), cuda

    def restore(self, state: Any) -> None:
        import torch

        cpu, cuda = state
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)

    def digest_state(self) -> Any:
        import torch

        state: dict[str, Any] = {"cpu": torch.get_rng_state().numpy()}
        if torch.cuda.is_initialized():
            state["cuda"] = [s.cpu().numpy() for s in torch.cuda.get_rng_state_all()]
        return state


class TensorFlowSeeder:
    """TensorFlow: ``tf.random.set_seed`` (the global seed; eager context or default graph).

    Saves and restores the global seed and the eager op-seed generator derived from it.
    Setting the seed also resets TensorFlow's per-kernel counters, as ``tf.random.set_seed``
    always does; ``tf.random.Generator`` objects are not touched.
    """

    name = "tensorflow"
    module = "tensorflow"

    def seed(self, seed: Seed) -> None:
        import tensorflow as tf

        tf.random.set_seed(library_seed(seed))

    @staticmethod
    def _state() -> tuple[bool, Any, Any, Any]:
        from tensorflow.python.eager import context
        from tensorflow.python.framework import ops

        ctx = context.context()
        op_seeds = getattr(ctx, "_rng", None)
        graph_seed = None if context.executing_eagerly() else ops.get_default_graph().seed
        return (context.executing_eagerly(), context.global_seed(),
                op_seeds.getstate() if op_seeds is not None else None, graph_seed)

    def save(self) -> Any:
        return self._state()

    def restore(self, state: Any) -> None:
        from tensorflow.python.eager import context
        from tensorflow.python.framework import ops

        eager, global_seed, op_seeds, graph_seed = state
        if eager:
            context.set_global_seed(global_seed)
            rng = getattr(context.context(), "_rng", None)
            if op_seeds is not None and rng is not None:
                rng.setstate(op_seeds)
        else:
            ops.get_default_graph().seed = graph_seed

    def digest_state(self) -> Any:
        import numpy as np

        eager, global_seed, op_seeds, graph_seed = self._state()
        internal = np.array(op_seeds[1], dtype=np.uint64) if op_seeds is not None else None
        return {"eager": eager, "global_seed": None if global_seed is None else int(global_seed),
                "op_seeds": internal, "graph_seed": None if graph_seed is None else int(graph_seed)}


# -- discovery ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def entry_points() -> tuple[metadata.EntryPoint, ...]:
    """The ``seedreg.seeders`` entry points, read once per process from the cache of :mod:`seedreg.installed`
    (built-ins added if uninstalled)."""
    found = {(ep.name, ep.value): ep for ep in installed.entry_points(GROUP)}  # one per name and value
    if not any(value.startswith("seedreg.seed.library_seeders:") for _, value in found):
        found.update({(name, value): metadata.EntryPoint(name, value, GROUP) for name, value in BUILTIN.items()})
    return tuple(found[key] for key in sorted(found))


@functools.cache
def load(ep: metadata.EntryPoint) -> Seeder:
    """The seeder an entry point names (loaded once); SeederError if it is not a usable seeder."""
    try:
        loaded = ep.load()
        seeder = loaded() if isinstance(loaded, type) else loaded
    except Exception as error:
        raise SeederError(f"seeder {ep.name!r} ({ep.value}) could not be loaded: {_describe(error)}",
                          ep.name) from error
    missing = [attr for attr in ("name", "module", "seed", "save", "restore", "digest_state")
               if not hasattr(seeder, attr)]
    if missing:
        raise SeederError(f"seeder {ep.name!r} ({ep.value}) is not a seeder: it has no {', '.join(missing)}",
                          ep.name)
    if seeder.module != ep.name:
        raise SeederError(f"seeder {ep.name!r} ({ep.value}) applies to {seeder.module!r}: its entry point "
                          f"must be named after that module", ep.name)
    return seeder


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _disabled() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def _version(module: str) -> str:
    return str(getattr(sys.modules.get(module), "__version__", "unknown"))


# -- a block's seeders -------------------------------------------------------------------------


@dataclass
class Applied:
    """The seeders one block applied (in order), with the states to put back, and what failed."""

    entries: list[tuple[Seeder, Any]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)  # applied seeder name -> library version
    failed: dict[str, str] = field(default_factory=dict)  # seeder name -> what went wrong
    imported_at_entry: frozenset[str] = frozenset()
    disabled: frozenset[str] = frozenset()
    cause: BaseException | None = None

    def digests(self) -> dict[str, Any]:
        """Each applied seeder's state for the RNG-state digest (a failure is recorded, not raised)."""
        states: dict[str, Any] = {}
        for seeder, _ in self.entries:
            try:
                states[seeder.name] = seeder.digest_state()
            except Exception as error:
                states[seeder.name] = "unavailable"
                self._fail(seeder.name, f"seeder {seeder.name!r} could not digest its state: {_describe(error)}", error)
        return states

    def restore(self) -> None:
        """Put back every saved state, newest first; failures are recorded and the rest still restored."""
        for seeder, state in reversed(self.entries):
            try:
                seeder.restore(state)
            except Exception as error:
                self._fail(seeder.name, f"seeder {seeder.name!r} could not restore the previous state: "
                                        f"{_describe(error)}", error)
        self.entries = []

    def _fail(self, name: str, message: str, cause: BaseException) -> None:
        self.failed.setdefault(name, message)
        self.cause = self.cause or cause

    def error(self) -> SeederError | None:
        """One SeederError for every failure recorded, chained to the first cause; None when all went well."""
        if not self.failed:
            return None
        error = SeederError("; ".join(self.failed.values()), next(iter(self.failed)), dict(self.failed))
        error.__cause__ = self.cause
        return error

    def record(self) -> dict[str, Any]:
        """What the run stores: seeders applied (name -> version), failed, and RNG libraries not seeded."""
        names = {ep.name for ep in entry_points()}
        not_seeded = {}
        for module in sorted(names | set(UNSEEDED_RNG_LIBRARIES)):
            if module not in sys.modules or module in self.versions or module in self.failed:
                continue
            if module not in names:
                not_seeded[module] = "no seeder registered"
            elif module in self.disabled:
                not_seeded[module] = f"seeder disabled by {DISABLE_ENV}"
            elif module not in self.imported_at_entry:
                not_seeded[module] = "imported after the block started"
        return {"applied": dict(self.versions), "failed": dict(self.failed), "not_seeded": not_seeded}


def seed_libraries(seed: Seed) -> Applied:
    """Save and seed every seeder whose module is imported, in entry-point name order.

    Never raises: on a failure the seeders already applied (and the failing one) are restored
    and the returned ``Applied`` has ``failed`` set (see :meth:`Applied.error`); the caller then
    restores NumPy and ``random``.
    """
    disabled = _disabled()
    everything = "all" in disabled
    imported = frozenset(ep.name for ep in entry_points() if ep.name in sys.modules)
    done = Applied(imported_at_entry=imported, disabled=frozenset(imported if everything else disabled))
    for ep in entry_points():
        if ep.name not in imported or everything or ep.name in disabled:
            continue
        step = "be loaded"
        try:
            seeder = load(ep)
            step = "save its state"
            state = seeder.save()
            done.entries.append((seeder, state))
            step = "seed"
            seeder.seed(seed)
        except Exception as error:
            message = str(error) if isinstance(error, SeederError) else (
                f"seeder {ep.name!r} ({ep.value}) failed to {step}: {_describe(error)}")
            done._fail(ep.name, message, error)
            done.restore()
            done.versions.clear()
            return done
        done.versions[seeder.name] = _version(seeder.module)
    return done
