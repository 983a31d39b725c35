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
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

import blake3
from sqlalchemy import BindParameter, Boolean, Connection, Float, Integer, Table, bindparam, literal, select, union_all

from seedreg.db import bulk, direct
from seedreg.db.engines import utcnow
from seedreg.db.tables import (
    chain_head_table,
    chain_table,
    environment_table,
    fingerprint_table,
    param_table,
    result_table,
    run_table,
    tag_table,
)
from seedreg.environment_record import ENVIRONMENT_FIELDS, environment_record
from seedreg.errors import SchemaError
from seedreg.integrity import record_v1

#: The record version written for runs closed from now on; links keep the version they were made with.
RECORD_VERSION = 2
VERSIONS = (1, 2)

RECORD_FIELDS_V1 = record_v1.RECORD_FIELDS
FP_FIELDS_V1 = record_v1.FP_FIELDS
#: The run fields version 2 adds to version 1's (with the run's results).
RUN_FIELDS_V2 = ("seeders", "notebook", "invocation")


class Parts(NamedTuple):
    """What a run's record is made of, as stored: every version builds its record from these."""

    run: Mapping[str, Any]
    environment: str
    params: Sequence[Sequence[Any]]
    tags: Sequence[Sequence[Any]]
    fingerprints: Sequence[Any]
    results: Sequence[Sequence[Any]] = ()


def canonical(parts: Parts, version: int = RECORD_VERSION) -> dict[str, Any]:
    """The canonical record of ``version``: version 1 (frozen), or 2 (1 plus seeders, notebook,
    invocation and results ``[name, value_type, text]``)."""
    record = record_v1.canonical(parts.run, parts.environment, parts.params, parts.tags, parts.fingerprints)
    if version == 1:
        return record
    if version == 2:
        record["run"].update({name: parts.run[name] for name in RUN_FIELDS_V2})
        record["results"] = sorted([list(r) for r in parts.results])
        return record
    raise ValueError(f"record version {version} is not known to this seedreg (it knows {VERSIONS})")


def record_digest(record: dict[str, Any], version: int = RECORD_VERSION) -> str:
    """``blake3:<hex>`` of a canonical record of ``version``."""
    if version == 1:
        return record_v1.digest(record)
    return "blake3:" + blake3.blake3(b"seedreg-record/%d\x00" % version + record_v1.encode(record)).hexdigest()


def digest_of(parts: Parts, version: int = RECORD_VERSION) -> str:
    """The record digest of a run's parts under ``version``."""
    return record_digest(canonical(parts, version), version)


def tombstone_digest(run_id: str, deleted_at: datetime, reason: str) -> str:
    """``blake3:<hex>`` of a deletion: which run, when (naive UTC) and why."""
    record = {"run": run_id, "deleted_at": deleted_at.isoformat(timespec="microseconds"), "reason": reason}
    return "blake3:" + blake3.blake3(b"seedreg-tombstone/1\x00" + record_v1.encode(record)).hexdigest()


def link_digest(previous: str, record: str) -> str:
    """The chain link after ``previous`` for a record digest."""
    return "blake3:" + blake3.blake3(f"seedreg-link/1\x00{previous}\x00{record}".encode()).hexdigest()


@functools.lru_cache(maxsize=3)
def _statements(by: str) -> tuple[Any, Any, Any]:
    """The queries of :func:`load_records`, built once (closing a run uses them every time): of
    ``"all"`` runs, the runs of a list of ``"ids"``, or ``"one"`` run (a plain ``=``: no IN list to render)."""
    runs_q = select(
        *(run_table.c[name] for name in (*RECORD_FIELDS_V1, *RUN_FIELDS_V2)),
        *(environment_table.c[name].label(f"env_{name}") for name in ENVIRONMENT_FIELDS),
    ).join(environment_table, environment_table.c.id == run_table.c.environment_id, isouter=True)
    param_q = select(param_table.c.run_id, param_table.c.key, param_table.c.value_type, param_table.c.text)
    tag_q = select(tag_table.c.run_id, tag_table.c.key, tag_table.c.value_type, tag_table.c.text)
    fp_q = select(fingerprint_table.c.run_id, *(fingerprint_table.c[name] for name in FP_FIELDS_V1))
    result_q = select(result_table.c.run_id, result_table.c.name, result_table.c.value_type, result_table.c.text)
    if by != "all":
        key: BindParameter[Any] = bindparam("ids", expanding=True) if by == "ids" else bindparam("id")

        def match(column: Any) -> Any:
            return column.in_(key) if by == "ids" else column == key

        runs_q = runs_q.where(match(run_table.c.id))
        param_q = param_q.where(match(param_table.c.run_id))
        tag_q = tag_q.where(match(tag_table.c.run_id))
        fp_q = fp_q.where(match(fingerprint_table.c.run_id))
        result_q = result_q.where(match(result_table.c.run_id))
    # Params, tags and results have the same shape: one statement reads the three (a close runs it).
    values_q = union_all(*(query.add_columns(literal(part).label("part"))
                           for part, query in (("p", param_q), ("t", tag_q), ("r", result_q))))
    return runs_q, values_q, fp_q


def load_records(conn: Connection, run_ids: Sequence[str] | None = None) -> dict[str, Parts]:
    """The record parts of the given runs (all runs when None), read in a few bulk queries."""
    by = "all" if run_ids is None else "one" if len(run_ids) == 1 else "ids"
    runs_q, values_q, fp_q = _statements(by)
    bind = {} if run_ids is None else {"id": run_ids[0]} if by == "one" else {"ids": list(run_ids)}
    values: dict[str, dict[str, list]] = {"p": {}, "t": {}, "r": {}}
    for run_id, name, value_type, text_, part in conn.execute(values_q, bind):
        values[part].setdefault(run_id, []).append([name, value_type, text_])
    params, tags, results = values["p"], values["t"], values["r"]
    fps: dict[str, list] = {}
    for row in conn.execute(fp_q, bind):
        fps.setdefault(row.run_id, []).append(row._mapping)
    if len(_environments) > 64:  # a handful per registry: its rows' fields, each checked once per process
        _environments.clear()
    return {
        row.id: Parts(cast("Mapping[str, Any]", row._mapping), _environment(row, _environments),
                      params.get(row.id, ()), tags.get(row.id, ()), fps.get(row.id, ()), results.get(row.id, ()))
        for row in conn.execute(runs_q, bind)
    }


#: :func:`_environment`'s results by the environment row's fields (a run's close need not digest
#: every installed package again).
_environments: dict[tuple, str] = {}


def _environment(row: Any, cache: dict[tuple, str]) -> str:
    """The run's environment digest as stored, marked when its row's fields no longer give it.

    The digest alone would let an edit of the shared environment row (platform, packages, …)
    pass the audit; for an intact row this is the stored digest, so record digests do not change.
    """
    values = tuple(row._mapping[f"env_{name}"] for name in ENVIRONMENT_FIELDS)
    if values[0] is None:
        return ""
    if values not in cache:
        stored = values[0]
        try:
            recomputed = environment_record(row._mapping, "env_").digest
        except (TypeError, ValueError):
            recomputed = "unreadable"
        cache[values] = stored if recomputed == stored else f"{stored} (its fields give {recomputed})"
    return cache[values]


def environment_digest(conn: Connection, environment_id: int) -> str:
    """The environment digest a record of a run in this environment row holds (as :func:`load_records` reads it)."""
    row = conn.execute(
        select(*(environment_table.c[name].label(f"env_{name}") for name in ENVIRONMENT_FIELDS))
        .where(environment_table.c.id == environment_id)
    ).one()
    return _environment(row, _environments)


#: Column types whose values a driver gives back as one Python type, whatever type was written.
_READ_AS = ((Float, float), (Boolean, bool), (Integer, int))


@functools.lru_cache(maxsize=4)
def _read_types(table: Table) -> tuple[tuple[str, type], ...]:
    return tuple((column.name, kind) for column in table.c
                 for sql_type, kind in _READ_AS if isinstance(column.type, sql_type))


def as_read(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` written into ``table`` as the database gives them back (an int written into a Float
    column is read as a float): a record built from what a writer wrote digests as the one read back."""
    out = dict(values)
    for name, kind in _read_types(table):
        value = out.get(name)
        if value is not None and type(value) is not kind:
            out[name] = kind(value)
    return out


#: Tombstones have one form so far; their links say version 1.
TOMBSTONE_VERSION = 1


def append(cursor: direct.Cursor, run_id: str, digest: str, *, imported: bool = False, kind: str = "record",
           version: int | None = None) -> str:
    """Link a closed run's record digest (or a deletion's, ``kind="tombstone"``) at the end of the
    chain, inside the caller's write transaction; returns the new head.

    ``version`` is the record version ``digest`` was made with: :data:`RECORD_VERSION` unless
    an imported run keeps its original digest.
    """
    if version is None:
        version = RECORD_VERSION if kind == "record" else TOMBSTONE_VERSION
    count, previous = _locked_head(cursor)
    link, seq = link_digest(previous, digest), count + 1
    row = {"seq": seq, "run_id": run_id, "record_digest": digest, "link_digest": link,
           "record_version": version, "imported": imported, "linked_at": utcnow()}
    if kind != "record":  # "record" is the column's server default (migration 0002 predates the column)
        row["kind"] = kind
    cursor.insert(chain_table, [row])
    _set_head(cursor, seq, link)
    return link


def stored_digest(conn: Connection, run_id: str) -> str:
    """The record digest of a run as stored now, under :data:`RECORD_VERSION`."""
    return digest_of(load_records(conn, [run_id])[run_id])


def lock_head(conn: Connection) -> tuple[int, str]:
    """The chain head (count, head), locked until the caller's transaction ends: whoever appends
    next waits, so links are never computed from a stale head."""
    with direct.on(conn) as cursor:
        return _locked_head(cursor)


def _locked_head(cursor: direct.Cursor) -> tuple[int, str]:
    quote = cursor.quote
    found = cursor.one(f"SELECT {quote('count')}, head FROM {quote(chain_head_table.name)} WHERE id = 1"
                       + (" FOR UPDATE" if cursor.dialect.name == "postgresql" else ""))
    if found is None:  # the schema creates it: someone deleted it
        raise SchemaError("the registry's audit chain head (table chain_head) is missing: it was edited outside "
                          "seedreg; nothing can be chained until it is restored")
    return int(found[0]), str(found[1])


def _set_head(cursor: direct.Cursor, count: int, head: str) -> None:
    cursor.update(chain_head_table, {"count": count, "head": head}, {"id": 1})


def extend(conn: Connection, links: Sequence[tuple[str, str, str, int]], *, imported: bool = False) -> str:
    """Append many ``(run_id, kind, digest, record_version)`` links at once (bulk import): one head
    read, one insert."""
    seq, previous = lock_head(conn)
    rows: list[tuple[Any, ...]] = []
    for run_id, kind, digest, version in links:
        seq += 1
        previous = link_digest(previous, digest)
        rows.append((seq, run_id, kind, digest, previous, version))
    if rows:
        table = chain_table
        # The same flag and time on every link: converted for the driver once.
        tail = bulk.prepared([imported, utcnow()], bulk.preparers(conn.dialect, table, ["imported", "linked_at"]))
        columns = ["seq", "run_id", "kind", "record_digest", "link_digest", "record_version", "imported", "linked_at"]
        if all(row[2] == "record" for row in rows):  # the column's default (migration 0002 predates the column)
            columns.remove("kind")
            rows = [(row[0], row[1], *row[3:]) for row in rows]
        bulk.insert_rows(conn, table, columns, [row + tail for row in rows])
        with direct.on(conn) as cursor:
            _set_head(cursor, seq, previous)
    return previous
