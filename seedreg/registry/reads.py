"""Reading runs on an open connection: id prefixes, rows to records, replay verdicts.

The :class:`~seedreg.registry.facade.Registry` and the replay runner both read through here,
so neither depends on the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, select

from seedreg.db import keyvalues, liveness, scalars
from seedreg.db.models import Environment, FingerprintRow, Param, ReplayVerdict, Result, RunRow, Tag
from seedreg.errors import UnknownRunError
from seedreg.records import ReplayRecord, RunRecord, aware, environment_record

if TYPE_CHECKING:
    from seedreg.fingerprints.digest import Fingerprint

_HEX = set("0123456789abcdef")
_BATCH = 500


def resolve(conn: Connection, ref: str, where: str) -> str:
    """The full id of the one run whose id starts with ``ref`` (like git); ``where`` names the registry."""
    prefix = ref.strip().lower()
    if not prefix or not set(prefix) <= _HEX or len(prefix) > 32:
        raise UnknownRunError(f"{ref!r} is not a run id or id prefix (hex digits)")
    query = select(RunRow.id).where(RunRow.id >= prefix)
    if len(prefix) < 32:
        query = query.where(RunRow.id < prefix + "g")
    else:
        query = query.where(RunRow.id == prefix)
    ids = list(conn.execute(query.order_by(RunRow.id).limit(6)).scalars())
    if not ids:
        raise UnknownRunError(f"no run matches {ref!r} in {where}")
    if len(ids) > 1:
        shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
        raise UnknownRunError(f"{ref!r} matches several runs ({shown}): give more characters")
    return ids[0]


def get(conn: Connection, run_id: str) -> RunRecord:
    """The run with this full id, with its environment."""
    row = conn.execute(select(RunRow.__table__).where(RunRow.id == run_id)).one()
    env = conn.execute(select(Environment.__table__).where(Environment.id == row.environment_id)).one()
    return replace(records(conn, [row])[0], environment=environment_record(cast("Mapping[str, Any]", env._mapping)))


def replays_of(conn: Connection, run_id: str) -> list[ReplayRecord]:
    """Every stored replay verdict for a run, newest first."""
    rows = conn.execute(
        select(ReplayVerdict.__table__).where(ReplayVerdict.original_id == run_id)
        .order_by(ReplayVerdict.created_at.desc(), ReplayVerdict.id.desc())
    ).all()
    return [
        ReplayRecord(session=r.session, original=r.original_id, replay=r.replay_id, verdict=r.verdict,
                     created_at=aware(r.created_at), details=json.loads(r.details))
        for r in rows
    ]


def records(conn: Connection, rows: Sequence[Any]) -> list[RunRecord]:
    """Run rows as records, with their params, tags and fingerprints (no environment)."""
    ids = [row.id for row in rows]
    params = _values(conn, Param, ids)
    tags = _values(conn, Tag, ids)
    fingerprints: dict[str, dict[str, Any]] = {run_id: {} for run_id in ids}
    for batch in batches(ids):
        query = select(FingerprintRow.__table__).where(FingerprintRow.run_id.in_(batch))
        for fp in conn.execute(query.order_by(FingerprintRow.run_id, FingerprintRow.seq)):
            fingerprints[fp.run_id][fp.name] = fingerprint_from_row(fp)
    crashed = liveness.crashed_among(rows)
    verdicts = last_verdicts(conn, ids)
    found = [
        _record(row, params.get(row.id, {}), tags.get(row.id, {}), fingerprints[row.id], row.id in crashed)
        for row in rows
    ]
    results = _results(conn, ids)
    found = [replace(r, results=results[r.id]) if r.id in results else r for r in found]
    return [replace(r, last_verdict=verdicts[r.id]) if r.id in verdicts else r for r in found]


def _results(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The results (real numbers logged) of each run of ``ids`` that has any, in logging order."""
    found: dict[str, dict[str, Any]] = {}
    for batch in batches(ids):
        query = (select(Result.run_id, Result.name, Result.value_type, Result.text)
                 .join(FingerprintRow, (FingerprintRow.run_id == Result.run_id) & (FingerprintRow.name == Result.name),
                       isouter=True)
                 .where(Result.run_id.in_(batch)).order_by(Result.run_id, FingerprintRow.seq, Result.name))
        for run_id, name, value_type, text in conn.execute(query):
            found.setdefault(run_id, {})[name] = scalars.value(value_type, text)
    return found


def last_verdicts(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    """The newest stored replay verdict of each run of ``ids`` that was replayed (one query per batch)."""
    found: dict[str | None, str] = {}
    for batch in batches(ids):
        query = (select(ReplayVerdict.original_id, ReplayVerdict.verdict).where(ReplayVerdict.original_id.in_(batch))
                 .order_by(ReplayVerdict.created_at, ReplayVerdict.id))
        found.update((run_id, verdict) for run_id, verdict in conn.execute(query))  # oldest first: newest wins
    return {run_id: verdict for run_id, verdict in found.items() if run_id is not None}


def fingerprint_from_row(row: Any) -> Fingerprint:
    """A fingerprints row as the :class:`Fingerprint` it stores."""
    from seedreg.fingerprints.digest import Fingerprint

    return Fingerprint(
        algorithm=row.algorithm,
        hexdigest=row.digest,
        kind=row.kind,
        dtype=row.dtype,
        shape=tuple(json.loads(row.shape)) if row.shape is not None else None,
        chunk_elems=row.chunk_elems,
        chunks=bytes(row.chunks) if row.chunks is not None else None,
    )


def _values(conn: Connection, table: Any, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for batch in batches(ids):
        query = select(table.run_id, table.key, table.value_type, table.text).where(table.run_id.in_(batch))
        for run_id, key, value_type, text in conn.execute(query.order_by(table.run_id, table.key)):
            found.setdefault(run_id, {})[key] = keyvalues.decode(value_type, text)
    return found


def batches(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    """``ids`` in slices short enough for one ``IN (...)`` list."""
    for start in range(0, len(ids), _BATCH):
        yield ids[start : start + _BATCH]


def _record(row: Any, params: dict, tags: dict, fingerprints: dict, crashed: bool) -> RunRecord:
    from seedreg.seed.codec import parse_entropy

    return RunRecord(
        id=row.id, experiment=row.experiment, status="crashed" if crashed else row.status,
        seed=parse_entropy(row.seed), seed_kind=row.seed_kind, seed_source=row.seed_source,
        spawn_key=tuple(json.loads(row.spawn_key)), parent=row.parent_id, replay_of=row.replay_of,
        block_index=row.block_index, started_at=aware(row.started_at), ended_at=aware(row.ended_at),
        duration=row.duration, heartbeat_at=aware(row.heartbeat_at), error=row.error,
        rng_digest=row.rng_digest, numpy_version=row.numpy_version, python_version=row.python_version,
        libraries=json.loads(row.libraries), hostname=row.hostname, username=row.username, pid=row.pid,
        process_started=row.process_started, executable=row.executable, argv=json.loads(row.argv),
        command=json.loads(row.command) if row.command else None, cwd=row.cwd, launch=row.launch,
        script_path=row.script_path, script_digest=row.script_digest, pythonhashseed=row.pythonhashseed,
        git_commit=row.git_commit, git_dirty=row.git_dirty,
        replay_session=row.replay_session, generator_used=row.generator_used,
        seeders=json.loads(row.seeders) if row.seeders else None,
        notebook=json.loads(row.notebook) if row.notebook else None,
        invocation=json.loads(row.invocation) if row.invocation else None,
        deleted_at=aware(row.deleted_at), deleted_reason=row.deleted_reason,
        params=params, tags=tags, fingerprints=fingerprints,
    )
