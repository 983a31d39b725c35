"""Tamper evidence: a canonical digest of each closed run's record, chained link by link.

``record digest = BLAKE3("seedreg-record/1" NUL canonical JSON)`` over the run's recorded
fields, its environment digest, params, tags and fingerprints (chunk digests included);
``link = BLAKE3("seedreg-link/1" NUL previous link NUL record digest)``, the first link
starting from the empty string. The head (count, last link) is stored too, so deleting the
newest run is caught. Someone able to rewrite the whole database can rewrite the whole
chain: anchor the head elsewhere and check it with ``seedreg audit --expect-head``.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import blake3
from sqlalchemy import Connection, bindparam, select

from seedreg.db import bulk
from seedreg.db.engines import utcnow
from seedreg.db.models import ChainHead, ChainLink, Environment, FingerprintRow, Param, RunRow, Tag
from seedreg.db.vocabulary import CLOSED
from seedreg.recording.environment import EnvironmentSnapshot

RECORD_VERSION = 1

#: The run fields a version-1 record digest covers (heartbeat and local ids are not facts).
RECORD_FIELDS_V1 = (
    "id", "experiment", "status", "seed", "seed_kind", "seed_source", "spawn_key", "parent_id",
    "replay_of", "replay_session", "block_index", "started_at", "ended_at", "duration", "error",
    "rng_digest", "generator_used", "numpy_version", "python_version", "libraries", "hostname",
    "username", "pid", "process_started", "executable", "argv", "command", "cwd", "launch",
    "script_path", "script_digest", "pythonhashseed", "git_commit", "git_dirty",
)
#: The environment fields and fingerprint fields a version-1 record covers.
ENV_FIELDS = ("digest", "python_version", "python_implementation", "platform", "machine", "numpy_version",
              "blas", "packages")
FP_FIELDS_V1 = ("name", "seq", "algorithm", "digest", "kind", "dtype", "shape", "chunk_elems", "chunks", "kept")


_TIMES = ("started_at", "ended_at")
_RECORD_VALUES = operator.itemgetter(*RECORD_FIELDS_V1)
_FP_VALUES = operator.itemgetter(*FP_FIELDS_V1)
_CHUNKS = FP_FIELDS_V1.index("chunks")


def _fingerprint(row: Any) -> list[Any]:
    item = list(_FP_VALUES(row))
    if item[_CHUNKS] is not None:
        item[_CHUNKS] = blake3.blake3(bytes(item[_CHUNKS])).hexdigest()
    return item


def canonical(run: Any, environment: str, params: Iterable[Sequence[Any]],
              tags: Iterable[Sequence[Any]], fingerprints: Iterable[Any]) -> dict[str, Any]:
    """The version-1 canonical record of a run, from its stored rows."""
    fields = dict(zip(RECORD_FIELDS_V1, _RECORD_VALUES(run)))
    for name in _TIMES:
        if fields[name] is not None:
            fields[name] = fields[name].isoformat(timespec="microseconds")
    return {
        "run": fields,
        "environment": environment,
        "params": sorted([list(p) for p in params]),
        "tags": sorted([list(t) for t in tags]),
        "fingerprints": sorted((_fingerprint(fp) for fp in fingerprints), key=lambda item: item[0]),
    }


#: The canonical JSON form of records and tombstones, one encoder for all (``json.dumps`` with
#: these options would build a new one per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True,
                              check_circular=False)


def record_digest(record: dict[str, Any]) -> str:
    """``blake3:<hex>`` of a canonical record."""
    text = _CANONICAL.encode(record)
    return "blake3:" + blake3.blake3(b"seedreg-record/1\x00" + text.encode()).hexdigest()


def tombstone_digest(run_id: str, deleted_at: datetime, reason: str) -> str:
    """``blake3:<hex>`` of a deletion: which run, when (naive UTC) and why."""
    record = {"run": run_id, "deleted_at": deleted_at.isoformat(timespec="microseconds"), "reason": reason}
    text = _CANONICAL.encode(record)
    return "blake3:" + blake3.blake3(b"seedreg-tombstone/1\x00" + text.encode()).hexdigest()


def link_digest(previous: str, record: str) -> str:
    """The chain link after ``previous`` for a record digest."""
    return "blake3:" + blake3.blake3(f"seedreg-link/1\x00{previous}\x00{record}".encode()).hexdigest()


@functools.lru_cache(maxsize=2)
def _statements(by_ids: bool) -> tuple[Any, Any, Any, Any]:
    """The four queries of :func:`load_records`, built once (closing a run uses them every time)."""
    runs_q = select(
        *(RunRow.__table__.c[name] for name in RECORD_FIELDS_V1),
        *(Environment.__table__.c[name].label(f"env_{name}") for name in ENV_FIELDS),
    ).join(Environment, Environment.id == RunRow.environment_id, isouter=True)
    param_q = select(Param.run_id, Param.key, Param.value_type, Param.text)
    tag_q = select(Tag.run_id, Tag.key, Tag.value_type, Tag.text)
    fp_q = select(FingerprintRow.run_id, *(FingerprintRow.__table__.c[name] for name in FP_FIELDS_V1))
    if by_ids:
        ids = bindparam("ids", expanding=True)
        runs_q = runs_q.where(RunRow.id.in_(ids))
        param_q = param_q.where(Param.run_id.in_(ids))
        tag_q = tag_q.where(Tag.run_id.in_(ids))
        fp_q = fp_q.where(FingerprintRow.run_id.in_(ids))
    return runs_q, param_q, tag_q, fp_q


def load_records(conn: Connection, run_ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Canonical records of the given runs (all runs when None), read in a few bulk queries."""
    runs_q, param_q, tag_q, fp_q = _statements(run_ids is not None)
    bind = {} if run_ids is None else {"ids": list(run_ids)}
    params: dict[str, list] = {}
    for run_id, *rest in conn.execute(param_q, bind):
        params.setdefault(run_id, []).append(rest)
    tags: dict[str, list] = {}
    for run_id, *rest in conn.execute(tag_q, bind):
        tags.setdefault(run_id, []).append(rest)
    fps: dict[str, list] = {}
    for row in conn.execute(fp_q, bind):
        fps.setdefault(row.run_id, []).append(row._mapping)
    environments: dict[tuple, str] = {}
    return {
        row.id: canonical(row._mapping, _environment(row, environments), params.get(row.id, ()),
                          tags.get(row.id, ()), fps.get(row.id, ()))
        for row in conn.execute(runs_q, bind)
    }


def _environment(row: Any, cache: dict[tuple, str]) -> str:
    """The run's environment digest as stored, marked when its row's fields no longer give it.

    The digest alone would let an edit of the shared environment row (platform, packages, …)
    pass the audit; for an intact row this is the stored digest, so record digests do not change.
    """
    values = tuple(row._mapping[f"env_{name}"] for name in ENV_FIELDS)
    if values[0] is None:
        return ""
    if values not in cache:
        stored, python, implementation, platform, machine, numpy, blas, packages = values
        try:
            recomputed = EnvironmentSnapshot(
                python_version=python, python_implementation=implementation, platform=platform,
                machine=machine, numpy_version=numpy, blas=blas, packages=json.loads(packages),
            ).digest
        except (TypeError, ValueError):
            recomputed = "unreadable"
        cache[values] = stored if recomputed == stored else f"{stored} (its fields give {recomputed})"
    return cache[values]


def append(conn: Connection, run_id: str, *, digest: str | None = None, imported: bool = False,
           kind: str = "record") -> str:
    """Link a closed run (or a run's deletion, ``kind="tombstone"``) at the end of the chain.

    Runs inside the caller's write transaction. ``digest`` keeps an imported run's original
    record digest; otherwise it is computed from the stored rows. Returns the new head.
    """
    if digest is None:
        digest = record_digest(load_records(conn, [run_id])[run_id])
    # One link (every run's close): plain cached statements, cheaper than the bulk path.
    head = lock_head(conn)
    link, seq = link_digest(head.head, digest), head.count + 1
    row = {"seq": seq, "run_id": run_id, "record_digest": digest, "link_digest": link,
           "record_version": RECORD_VERSION, "imported": imported, "linked_at": utcnow()}
    if kind != "record":  # "record" is the column's server default (migration 0002 predates the column)
        row["kind"] = kind
    conn.execute(ChainLink.__table__.insert(), row)
    conn.execute(_head_update(), {"count": seq, "head": link})
    return link


def lock_head(conn: Connection) -> Any:
    """The chain head (count, head), locked until the caller's transaction ends: whoever appends
    next waits, so links are never computed from a stale head."""
    return conn.execute(_head_for_update()).one()


@functools.lru_cache(maxsize=1)
def _head_for_update() -> Any:
    return select(ChainHead.count, ChainHead.head).where(ChainHead.id == 1).with_for_update()


@functools.lru_cache(maxsize=1)
def _head_update() -> Any:
    return ChainHead.__table__.update().where(ChainHead.__table__.c.id == 1)


def extend(conn: Connection, links: Sequence[tuple[str, str, str]], *, imported: bool = False) -> str:
    """Append many ``(run_id, kind, digest)`` links at once (bulk import): one head read, one insert."""
    head = lock_head(conn)
    previous, seq, rows = head.head, head.count, []
    for run_id, kind, digest in links:
        seq += 1
        previous = link_digest(previous, digest)
        rows.append((seq, run_id, kind, digest, previous))
    if rows:
        table = ChainLink.__table__
        # The same version, flag and time on every link: converted for the driver once.
        tail = bulk.prepared([RECORD_VERSION, imported, utcnow()],
                             bulk.preparers(conn.dialect, table, ["record_version", "imported", "linked_at"]))
        columns = ["seq", "run_id", "kind", "record_digest", "link_digest", "record_version", "imported", "linked_at"]
        if all(row[2] == "record" for row in rows):  # the column's default (migration 0002 predates the column)
            columns.remove("kind")
            rows = [(row[0], row[1], *row[3:]) for row in rows]
        bulk.insert_rows(conn, table, columns, [row + tail for row in rows])
        conn.execute(_head_update(), {"count": seq, "head": previous})
    return previous


def link_unchained(conn: Connection) -> int:
    """Chain closed runs that have no link yet (runs recorded before the chain existed)."""
    linked = select(ChainLink.run_id)  # called by migration 0002, before links had a kind
    ids = list(
        conn.execute(
            select(RunRow.id).where(RunRow.status.in_(CLOSED), RunRow.id.not_in(linked)).order_by(RunRow.ended_at, RunRow.id)
        ).scalars()
    )
    for run_id in ids:
        append(conn, run_id)
    return len(ids)
