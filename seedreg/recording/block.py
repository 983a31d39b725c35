"""The with-block: ``seedreg.run(...)`` seeds, records, and closes one run."""

from __future__ import annotations

import functools
import json
import os
import time
import traceback
import uuid
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from seedreg import integrations
from seedreg.db import engines, keyvalues, scalars
from seedreg.db.engines import utcnow
from seedreg.db.vocabulary import RESERVED_TAG_PREFIXES
from seedreg.errors import DuplicateNameError, InvalidTagError, RegistryError, UnknownRunError, UsageError
from seedreg.fingerprints import kept_arrays
from seedreg.notebook import block_cell
from seedreg.recording import heartbeat, substitution
from seedreg.recording.environment import environment, imported_libraries, launch_of, process_facts
from seedreg.recording.writer import Recorder
from seedreg.seed import codec, global_state, library_seeders

if TYPE_CHECKING:
    import numpy as np

    from seedreg.fingerprints.digest import Fingerprint

_root_blocks = 0  # root blocks opened so far in this process: the k of "k-th root block"


class Run:
    """One recorded run; use it as a context manager (``with seedreg.run(...) as run:``).

    Inside and after the block: ``id``, ``seed``, ``rng``, ``spawn(n)``, ``fingerprints``,
    ``status``.
    """

    def __init__(
        self,
        experiment: str,
        seed: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        parent: str | Run | None = None,
        db: str | os.PathLike[str] | None = None,
        notebook: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(experiment, str) or not experiment.strip() or len(experiment) > 255:
            raise UsageError(f"experiment must be a non-empty name of at most 255 characters, not {experiment!r}")
        if isinstance(parent, Run):
            parent = parent.id
        if parent is not None and not isinstance(parent, str):
            raise UsageError(f"parent must be a run id or a Run, not {type(parent).__name__}")
        self.experiment = experiment
        self._seed = codec.normalise(seed)
        self._param_rows = keyvalues.rows(params)
        self._tag_rows = keyvalues.rows(tags)
        self.params: dict[str, Any] = keyvalues.flatten(params)
        self.tags: dict[str, Any] = keyvalues.flatten(tags)
        reserved = next((key for key in self.tags if key.startswith(RESERVED_TAG_PREFIXES)), None)
        if reserved is not None:
            raise InvalidTagError(f"tag {reserved!r}: keys beginning {', '.join(RESERVED_TAG_PREFIXES)} "
                                  "are seedreg's own; choose another key")
        self.parent: str | None = parent
        if notebook is not None and not isinstance(notebook, (str, os.PathLike)):
            raise UsageError(f"notebook must be a path to an .ipynb file, not {type(notebook).__name__}")
        self._notebook = notebook  # the notebook's path, when a kernel cannot tell it (DESIGN §8)
        self._trackers: integrations.Active | None = None
        self.url = engines.resolve_url(db)
        self.id: str = uuid.uuid4().hex
        self.status: str = "new"
        self.fingerprints: dict[str, Fingerprint] = {}
        self.rng: np.random.Generator | None = None
        self._seed_sequence: np.random.SeedSequence | None = None
        self._recorder: Recorder | None = None
        self._saved: global_state.GlobalState | None = None
        self._started = 0.0
        self._rng_initial: Mapping[str, Any] = {}
        self._seeders = library_seeders.Applied()
        #: (seed, original run id, session) when a caller replays one run directly (the pytest plugin).
        self._replaying: tuple[codec.Seed, str, str | None] | None = None
        #: Run columns a caller sets before the block opens (the pytest plugin: ``invocation``, and in a
        #: pytest-xdist worker the session's ``argv``/``command``/``launch``, not the worker's).
        self._columns: dict[str, Any] = {}
        #: Whether the close may wait for the writer's next batch when nothing was logged (the pytest
        #: plugin's test runs: it flushes at the session's end; DESIGN §1 bounds the wait).
        self._close_later = False

    def _own_tags(self, tags: Mapping[str, Any]) -> None:
        """Add tags under seedreg's reserved keys (the sweep, the pytest plugin, trackers) before the block opens."""
        own = keyvalues.flatten(tags)
        if self.status != "new" or not all(key.startswith(RESERVED_TAG_PREFIXES) for key in own):
            raise UsageError("seedreg's own tags use its reserved keys and are added before the block opens")
        self.tags.update(own)
        self._tag_rows = keyvalues.rows(self.tags)

    def __repr__(self) -> str:
        return f"<seedreg.Run {self.id[:12]} {self.experiment!r} seed={self.seed} {self.status}>"

    @property
    def seed(self) -> int | tuple[int, ...]:
        """The seed: an int, or a tuple of ints for a sequence seed."""
        return self._seed.value

    @property
    def seed_source(self) -> str:
        return self._seed.source

    def spawn(self, n: int) -> list[np.random.SeedSequence]:
        """``n`` independent child SeedSequences for workers (NumPy's ``SeedSequence.spawn``)."""
        if self._seed_sequence is None:
            self._seed_sequence = self._seed.seed_sequence()
        return self._seed_sequence.spawn(n)

    def jax_key(self, impl: str | None = None) -> Any:
        """A JAX key for this run: ``jax.random.key(w)``, ``w`` the first word of the run's SeedSequence.

        ``w = SeedSequence(entropy, spawn_key).generate_state(1, numpy.uint32)[0]`` (stable; the
        same key with and without ``jax_enable_x64``). JAX has no global state to seed: split
        this key for everything random in a JAX program.
        """
        import numpy as np

        try:
            import jax
        except ImportError:
            raise UsageError("run.jax_key() needs JAX, which is not installed (pip install jax)") from None
        word = self._seed.seed_sequence().generate_state(1, np.uint32)[0]
        return jax.random.key(np.uint32(word), impl=impl)

    def __enter__(self) -> Run:
        global _root_blocks
        if self.status != "new":
            raise UsageError("a seedreg run can be entered only once; call seedreg.run(...) again")
        self._recorder = recorder = Recorder.for_url(self.url)
        env_id = recorder.environment_id(environment())
        facts = process_facts()
        block_index = -1
        if self.parent is None:
            block_index = _root_blocks
            _root_blocks += 1
        replay_of = session = None
        cell = block_cell(self._notebook, root=self.parent is None)  # None outside a Jupyter kernel
        if self._replaying is not None:
            self._seed, replay_of, session = self._replaying
        elif substitution.active():
            if cell is not None and self.parent is None:  # a notebook's replay matches blocks by cell (DESIGN §4)
                self._seed, replay_of = substitution.substitute_cell(recorder.engine, self._seed, cell.index,
                                                                     cell.occurrence)
            else:
                self._seed, replay_of = substitution.substitute(recorder.engine, self._seed, self.parent, block_index)
            session = substitution.session()
        elif (swept := substitution.sweep()) is not None:
            if self.parent is None:  # every root block takes the sweep's seed; children follow from it
                self._seed = swept.seed
            self._own_tags(swept.tags)
        self._trackers = integrations.opened(self)  # tag active MLflow / W&B runs (DESIGN §11)
        now = utcnow()
        row = {
            "id": self.id, "experiment": self.experiment, "status": "running",
            "seed": self._seed.text, "seed_kind": self._seed.kind, "seed_source": self._seed.source,
            "spawn_key": _json_list(tuple(self._seed.spawn_key)),
            "parent_id": self.parent, "replay_of": replay_of, "replay_session": session,
            "block_index": block_index,
            "started_at": now, "heartbeat_at": now, "environment_id": env_id,
            "numpy_version": environment().numpy_version,
            "python_version": environment().python_version,
            "libraries": _json_object(tuple(imported_libraries().items())),
            "hostname": facts.hostname, "username": facts.username, "pid": facts.pid,
            "process_started": facts.process_started, "executable": facts.executable,
            "argv": _json_list(tuple(facts.argv)), "command": _json_list(tuple(facts.command)), "cwd": os.getcwd(),
            "launch": launch_of(facts, cell.record if cell else None), "script_path": facts.script_path,
            "script_digest": facts.script_digest, "pythonhashseed": facts.pythonhashseed,
            "git_commit": facts.git_commit, "git_dirty": facts.git_dirty,
            "notebook": cell.text if cell else None,
        }
        row.update(self._columns)
        try:
            recorder.open_run(row, self._param_rows, self._tag_rows)
        except RegistryError as error:
            if self.parent is not None and engines.violates_foreign_key(error):
                raise UnknownRunError(f"parent run {self.parent!r} is not in {engines.mask_url(self.url)}") from None
            raise
        heartbeat.add(recorder.engine, self.id)
        self._saved = global_state.GlobalState.save()
        self.rng = global_state.seed_globals(self._seed)
        self._rng_initial = self.rng.bit_generator.state
        self._seed_sequence = None  # spawn() makes it from the seed the block took (a replay's, a sweep's)
        self.status = "running"
        self._started = time.perf_counter()
        self._seeders = library_seeders.seed_libraries(self._seed)
        failure = self._seeders.error()
        if failure is not None:  # its seeders are restored: record the run as failed, restore the rest
            self.__exit__(type(failure), failure, None)
            raise failure
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> Literal[False]:
        duration = time.perf_counter() - self._started
        assert self._saved is not None and self._recorder is not None and self.rng is not None
        try:
            rng_digest = global_state.state_digest(self.rng, self._seeders.digests())
        finally:
            self._seeders.restore()
            self._saved.restore()
        failure = self._seeders.error() if exc_type is not library_seeders.SeederError else None
        if failure is not None and exc_type is None:
            exc_type, exc, tb = type(failure), failure, None
        heartbeat.remove(self.id)
        error = None
        if exc_type is None or (issubclass(exc_type, SystemExit) and exc.code in (0, None)):  # type: ignore[union-attr]
            self.status = "completed"
        elif issubclass(exc_type, KeyboardInterrupt):
            self.status = "interrupted"
        else:
            self.status = "failed"
            error = "".join(traceback.format_exception(exc_type, exc, tb))
        if self._trackers is not None:
            self._trackers.closed(self.status)
        try:
            self._recorder.close_run(
                self.id, later=self._close_later, status=self.status, ended_at=utcnow(), duration=duration,
                error=error, rng_digest=rng_digest,
                generator_used=self.rng.bit_generator.state != self._rng_initial,
                seeders=json.dumps(self._seeders.record()),
            )
        except RegistryError as closing:
            if exc_type is None:
                raise
            warnings.warn(f"seedreg could not close run {self.id}: {closing}", RuntimeWarning, stacklevel=2)
        if failure is not None:
            if exc is failure:
                raise failure
            warnings.warn(f"seedreg run {self.id}: {failure}", RuntimeWarning, stacklevel=2)
        return False

    def log(self, name: str, obj: object, *, keep: bool | None = None) -> Fingerprint:
        """Fingerprint ``obj`` and store it under ``name`` now (a crash later keeps it).

        A kept array is also saved in the data store (``.npy``, named by digest), so a replay
        that differs can name the exact first differing element and both values. ``keep``
        unset keeps numeric and boolean arrays of at most 64 KiB where a store is configured
        (``SEEDREG_KEEP_SMALL=0`` turns it off); ``True`` always (an error without a store);
        ``False`` never. Object and string arrays are never kept.
        """
        from seedreg.fingerprints.encoding import fingerprint

        if self.status != "running":
            raise UsageError(f"run.log({name!r}) needs an open run (this one is {self.status})")
        if not isinstance(name, str) or not name or len(name) > 255:
            raise UsageError(f"a logged name must be a non-empty string of at most 255 characters, not {name!r}")
        if name in self.fingerprints:
            raise DuplicateNameError(f"{name!r} was already logged in run {self.id[:12]}: use another name")
        fp = fingerprint(obj)
        assert self._recorder is not None
        kept = self._keep(name, obj, fp, keep)
        # A real number is a result too: its value is written with its fingerprint (DESIGN §9).
        self._recorder.log_fingerprint(self.id, name, len(self.fingerprints), fp, kept=kept,
                                       result=scalars.encode(obj))
        self.fingerprints[name] = fp
        if self._trackers is not None:
            self._trackers.logged(name, fp)
        return fp

    def _keep(self, name: str, obj: Any, fp: Fingerprint, keep: bool | None) -> bool:
        """Save ``obj`` in the data store when ``keep`` says so (DESIGN §2); whether it was saved."""
        if keep is None:
            if fp.kind != "ndarray" or not kept_arrays.keeps_by_default(self.url, obj):
                return False
            try:
                kept_arrays.save(self.url, fp.hexdigest, obj)
            except OSError as error:  # the default must not fail an experiment
                warnings.warn(f"seedreg could not keep {name!r} in the data store: {error}", RuntimeWarning,
                              stacklevel=3)
                return False
            return True
        if not keep:
            return False
        if fp.kind != "ndarray" or not kept_arrays.storable(obj):
            raise UsageError(f"keep=True saves numeric or boolean arrays only; {name!r} is not one "
                             "(object and string arrays are never kept)")
        kept_arrays.save(self.url, fp.hexdigest, obj)
        return True


@functools.lru_cache(maxsize=64)
def _json_list(items: tuple[Any, ...]) -> str:
    """``json.dumps`` of a list, once per value: every block records its process's argv and command."""
    return json.dumps(list(items))


@functools.lru_cache(maxsize=64)
def _json_object(items: tuple[tuple[str, Any], ...]) -> str:
    """``json.dumps`` of a dict given as its items, once per value (the libraries a process imported)."""
    return json.dumps(dict(items))


def run(
    experiment: str,
    seed: Any = None,
    *,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    parent: str | Run | None = None,
    db: str | os.PathLike[str] | None = None,
    notebook: str | os.PathLike[str] | None = None,
) -> Run:
    """Open a recorded, seeded block: ``with seedreg.run("split", seed=101) as run: ...``.

    The seed is validated here, before anything runs or is written (DESIGN §1). In a Jupyter
    kernel that cannot tell which notebook it runs, ``notebook=PATH`` names it (DESIGN §8).
    """
    return Run(experiment, seed, params=params, tags=tags, parent=parent, db=db, notebook=notebook)

