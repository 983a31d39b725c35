"""Reading runs on an open connection: id prefixes, rows to records, replay verdicts.

The :class:`~seedreg.registry.facade.Registry` and the replay runner both read through here,
so neither depends on the other.
"""

from __future__ import annotations

import functools
import json
import operator
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Select, Table, select

from seedreg.db import keyvalues, liveness, scalars
from seedreg.db.lookups import where_in
from seedreg.db.stored_times import as_stored
from seedreg.db.tables import (
    environment_table,
    fingerprint_table,
    param_table,
    replay_table,
    result_table,
    run_table,
    tag_table,
)
from seedreg.environment_record import environment_record
from seedreg.errors import UnknownRunError
from seedreg.gc_pause import paused
from seedreg.records import ReplayRecord, RunRecord, aware, stored
from seedreg.seed.codec import parse_entropy

if TYPE_CHECKING:
    from seedreg.fingerprints.digest import Fingerprint

_HEX = set("0123456789abcdef")


def resolve(conn: Connection, ref: str, where: str) -> str:
    """The full id of the one run whose id starts with ``ref`` (like git); ``where`` names the registry."""
    prefix = ref.strip().lower()
    if not prefix or not set(prefix) <= _HEX or len(prefix) > 32:
        raise UnknownRunError(f"{ref!r} is not a run id or id prefix (hex digits)")
    query = select(run_table.c.id).where(run_table.c.id >= prefix)
    if len(prefix) < 32:
        query = query.where(run_table.c.id < prefix + "g")
    else:
        query = query.where(run_table.c.id == prefix)
    ids = list(conn.execute(query.order_by(run_table.c.id).limit(6)).scalars())
    if not ids:
        raise UnknownRunError(f"no run matches {ref!r} in {where}")
    if len(ids) > 1:
        shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
        raise UnknownRunError(f"{ref!r} matches several runs ({shown}): give more characters")
    return ids[0]


def run_rows(conn: Connection) -> Select:
    """A select of whole ``runs`` rows as :func:`records` reads them (times as SQLite's text: see
    :mod:`~seedreg.db.stored_times`)."""
    return select(*as_stored(run_table.columns, conn.dialect.name))


def get(conn: Connection, run_id: str) -> RunRecord:
    """The run with this full id, with its environment."""
    row = conn.execute(run_rows(conn).where(run_table.c.id == run_id)).one()
    env = conn.execute(select(environment_table).where(environment_table.c.id == row.environment_id)).one()
    return replace(records(conn, [row])[0], environment=environment_record(cast("Mapping[str, Any]", env._mapping)))


def replays_of(conn: Connection, run_id: str) -> list[ReplayRecord]:
    """Every stored replay verdict for a run, newest first."""
    rows = conn.execute(
        select(replay_table).where(replay_table.c.original_id == run_id)
        .order_by(replay_table.c.created_at.desc(), replay_table.c.id.desc())
    ).all()
    return [
        ReplayRecord(session=r.session, original=r.original_id, replay=r.replay_id, verdict=r.verdict,
                     created_at=aware(r.created_at), details=json.loads(r.details))
        for r in rows
    ]


#: ``scope`` of :func:`records` when the rows are most of the registry's runs.
EVERY_RUN = "every run"


def records(conn: Connection, rows: Sequence[Any], scope: Select | str | None = None) -> list[RunRecord]:
    """Run rows as records, with their params, tags, fingerprints, results and last verdict (no environment).

    ``scope``, a select of exactly the rows' ids, reads each child table in one statement
    (for many rows); :data:`EVERY_RUN` reads the child tables whole and keeps the rows' own (for
    most of the registry: a scan beats one index search per run); without it the ids are looked
    up (:func:`~seedreg.db.lookups.where_in`).
    """
    with paused():  # thousands of records, no cycles
        return _records(conn, rows, scope)


def _records(conn: Connection, rows: Sequence[Any], scope: Select | str | None) -> list[RunRecord]:
    names = rows[0]._fields if rows else ()
    at = names.index("id") if rows else 0
    ids = [row[at] for row in rows]  # by position: a Row's attribute lookup is the slow way in
    params = _values(conn, param_table, ids, scope)
    tags = _values(conn, tag_table, ids, scope)
    fingerprints = _fingerprints(conn, ids, scope)
    results = _results(conn, ids, scope)
    verdicts = last_verdicts(conn, ids, scope)
    found = []
    for row in rows:
        values = dict(zip(names, row))
        run_id = values["id"]
        found.append(_record(values, params.get(run_id, {}), tags.get(run_id, {}), fingerprints.get(run_id, {}),
                             results.get(run_id, {}), verdicts.get(run_id)))
    return found


def _fingerprints(conn: Connection, ids: Sequence[str], scope: Select | str | None) -> dict[str, dict[str, Fingerprint]]:
    """The fingerprints of each run of ``ids`` that logged any, in logging order (``seq``).

    The rows come in table order, which is logging order unless a run's rows were stored out of
    it: sorting each run's few rows here is cheaper than ``ORDER BY`` over the whole table.
    """
    from seedreg.fingerprints.digest import Fingerprint

    fp = fingerprint_table.c
    columns = (fp.run_id, fp.seq, fp.name, fp.algorithm, fp.digest, fp.kind, fp.dtype, fp.shape, fp.chunk_elems,
               fp.chunks)
    logged: dict[str, list[Any]] = defaultdict(list)
    for row in _children(conn, select(*columns), fp.run_id, ids, scope, ()):
        logged[row[0]].append(row)
    found = {}
    for run_id, entries in logged.items():
        if len(entries) > 1:
            entries.sort(key=_seq)
        found[run_id] = {name: stored(Fingerprint, {
            "algorithm": algorithm, "hexdigest": digest, "kind": kind, "dtype": dtype,
            "shape": None if shape is None else _tuple(shape), "chunk_elems": chunk_elems,
            "chunks": None if chunks is None else bytes(chunks)})
            for _, _, name, algorithm, digest, kind, dtype, shape, chunk_elems, chunks in entries}
    return found


def _children(conn: Connection, query: Select, run_id: Any, ids: Sequence[str], scope: Select | str | None,
              order: Sequence[Any]) -> Sequence[Any]:
    """The rows of ``query`` (a child table's, the run id its first column) for the runs of ``ids``
    (or of ``scope``), in ``order``."""
    if scope == EVERY_RUN:
        wanted = set(ids)
        return [row for row in conn.execute(query.order_by(*order)).all() if row[0] in wanted]
    if isinstance(scope, Select):
        return conn.execute(query.where(run_id.in_(scope)).order_by(*order)).all()
    return where_in(conn, query, run_id, ids, order)


def _results(conn: Connection, ids: Sequence[str], scope: Select | str | None = None) -> dict[str, dict[str, Any]]:
    """The results (real numbers logged) of each run of ``ids`` that has any, in logging order."""
    found: dict[str, dict[str, Any]] = defaultdict(dict)
    res, fp = result_table.c, fingerprint_table.c
    query = (select(res.run_id, res.name, res.value_type, res.text)
             .join(fingerprint_table, (fp.run_id == res.run_id) & (fp.name == res.name), isouter=True))
    for run_id, name, value_type, text in _children(conn, query, res.run_id, ids, scope, (res.run_id, fp.seq, res.name)):
        found[run_id][name] = scalars.value(value_type, text)
    return found


def last_verdicts(conn: Connection, ids: Sequence[str], scope: Select | str | None = None) -> dict[str, str]:
    """The newest stored replay verdict of each run of ``ids`` that was replayed."""
    rep = replay_table.c
    query = select(rep.original_id, rep.verdict)
    found = dict(_children(conn, query, rep.original_id, ids, scope, (rep.created_at, rep.id)))  # newest wins
    return {run_id: verdict for run_id, verdict in found.items() if run_id is not None}


_seq = operator.itemgetter(1)


def _values(conn: Connection, table: Table, ids: Sequence[str], scope: Select | str | None) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = defaultdict(dict)  # not setdefault: it made a dict for every row
    c = table.c
    query = select(c.run_id, c.key, c.value_type, c.text)
    for run_id, key, value_type, text in _children(conn, query, c.run_id, ids, scope, (c.run_id, c.key)):
        found[run_id][key] = keyvalues.decode(value_type, text)
    return found


#: Stored JSON is seedreg's own canonical text: decoded without ``json.loads``' checks (a fifth of a read).
_decode = json.JSONDecoder().raw_decode


@functools.lru_cache(maxsize=4096)
def _tuple(text: str) -> tuple[int, ...]:
    """A stored JSON array of ints (a spawn key, a shape) as a tuple; the few distinct ones are shared."""
    return tuple(_decode(text)[0])


def _record(v: dict[str, Any], params: dict, tags: dict, fingerprints: dict, results: dict,
            verdict: str | None) -> RunRecord:
    """A ``runs`` row (every column, by name) as its record: columns renamed, JSON decoded, times made aware,
    a running run whose process died marked crashed."""
    v["parent"] = v.pop("parent_id")
    del v["environment_id"]
    v["seed"] = parse_entropy(v["seed"])
    v["spawn_key"] = _tuple(v["spawn_key"])
    for name in _TIMES:
        if v[name] is not None:
            v[name] = aware(v[name])
    if v["status"] == "running" and liveness.crashed(v["hostname"], v["pid"], v["process_started"], v["heartbeat_at"]):
        v["status"] = "crashed"
    v["libraries"], v["argv"] = _decode(v["libraries"])[0], _decode(v["argv"])[0]
    for name in _OPTIONAL_JSON:
        v[name] = _decode(v[name])[0] if v[name] else None
    v["params"], v["tags"], v["fingerprints"], v["results"] = params, tags, fingerprints, results
    v["environment"], v["last_verdict"] = None, verdict
    return stored(RunRecord, v)


#: The ``runs`` columns a record holds as aware times, and as decoded JSON or None.
_TIMES = ("started_at", "ended_at", "heartbeat_at", "deleted_at")
_OPTIONAL_JSON = ("command", "seeders", "notebook", "invocation")
