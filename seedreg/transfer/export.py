"""``seedreg export``: runs as JSON lines of the format :mod:`seedreg.transfer.format` defines."""

from __future__ import annotations

from binascii import b2a_base64
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, select

from seedreg.db.lookups import where_in
from seedreg.db.stored_times import as_stored
from seedreg.db.tables import (
    chain_table,
    environment_table,
    fingerprint_table,
    param_table,
    replay_table,
    result_table,
    tag_table,
)
from seedreg.environment_record import ENVIRONMENT_FIELDS
from seedreg.gc_pause import paused
from seedreg.transfer.format import BATCH, FORMAT, FP_FIELDS, RUN_COLUMNS, exact_utc


def export_lines(conn: Connection, query: Any) -> Iterator[str]:
    """JSON lines of the runs ``query`` (a select of whole ``runs`` rows, oldest first) yields.

    Streams: :data:`BATCH` runs at a time are read with their children and written out.
    """
    environments: dict[int, orjson.Fragment] = {}
    result = conn.execution_options(yield_per=BATCH).execute(query)
    for rows in result.partitions():
        with paused():  # thousands of records, no cycles
            yield from _lines(conn, rows, environments)


#: Exported ``runs`` columns that are times (written exactly, in UTC).
_RUN_TIMES = tuple(str(c.name) for c in RUN_COLUMNS if isinstance(c.type, DateTime))


def _lines(conn: Connection, rows: Sequence[Any], environments: dict[int, orjson.Fragment]) -> Iterator[str]:
    """The lines of ``rows``; ``environments`` keeps each environment serialized once (a line's largest
    part, its package list, is the same for every run of that environment)."""
    ids = [row.id for row in rows]
    missing = {row.environment_id for row in rows} - environments.keys()
    if missing:
        for env in conn.execute(select(environment_table).where(environment_table.c.id.in_(missing))).all():
            environments[env.id] = orjson.Fragment(orjson.dumps({name: getattr(env, name) for name in ENVIRONMENT_FIELDS}))
    params, tags, fps, results, digests, verdicts = _related(conn, ids)
    names = tuple(map(str, rows[0]._fields)) if rows else ()  # plain str: orjson refuses subclasses as keys
    for values in rows:
        run = dict(zip(names, values))  # every column, in order; the local ones are taken out below
        environment_id, deleted_at, deleted_reason = run.pop("environment_id"), run.pop("deleted_at"), run.pop(
            "deleted_reason")
        for name in _RUN_TIMES:
            run[name] = exact_utc(run[name])
        run_id = run["id"]
        digest, version = digests.get(run_id, (None, None))
        yield orjson.dumps({
            "format": FORMAT,
            "run": run,
            "environment": environments.get(environment_id),
            "params": params.get(run_id, []),
            "tags": tags.get(run_id, []),
            "fingerprints": fps.get(run_id, []),
            "results": results.get(run_id, []),
            "record_digest": digest,
            "record_version": version,
            "deleted": None if deleted_at is None else {"at": exact_utc(deleted_at), "reason": deleted_reason},
            "replays": verdicts.get(run_id, []),
        }).decode()


def _related(conn: Connection, ids: Sequence[str]) -> tuple[dict, dict, dict, dict, dict, dict]:
    """Each run's params, tags, fingerprints, results, record digest and stored verdicts, as lines hold them."""
    params: dict[str, list] = {}
    tags: dict[str, list] = {}
    fps: dict[str, list] = {}
    results: dict[str, list] = {}
    digests: dict[str, tuple[str, int]] = {}
    verdicts: dict[str, list] = {}
    fp, res, link, rep = fingerprint_table.c, result_table.c, chain_table.c, replay_table.c
    fp_columns = as_stored([fp[name] for name in FP_FIELDS], conn.dialect.name)
    # [key, value_type, text] items as the rows' tuples: orjson writes a tuple as the same JSON array.
    for table, into in ((param_table, params), (tag_table, tags)):
        c = table.c
        for row in where_in(conn, select(c.run_id, c.key, c.value_type, c.text), c.run_id, ids, (c.run_id, c.key)):
            into.setdefault(row[0], []).append(row[1:])
    for run_id, *values in where_in(conn, select(fp.run_id, *fp_columns), fp.run_id, ids, (fp.run_id, fp.seq)):
        item = dict(zip(FP_FIELDS, values))
        item["logged_at"] = exact_utc(item["logged_at"])
        if item["chunks"] is not None:
            item["chunks"] = b2a_base64(item["chunks"], newline=False).decode()
        fps.setdefault(run_id, []).append(item)
    query = select(res.run_id, res.name, res.value_type, res.text)
    for row in where_in(conn, query, res.run_id, ids, (res.run_id, res.name)):
        results.setdefault(row[0], []).append(row[1:])
    query = select(link.run_id, link.record_digest, link.record_version).where(link.kind == "record")
    digests.update((run_id, (digest, version)) for run_id, digest, version in where_in(conn, query, link.run_id, ids))
    for v in where_in(conn, select(replay_table), rep.original_id, ids, (rep.created_at, rep.id)):
        verdicts.setdefault(v.original_id, []).append(
            {"session": v.session, "original": v.original_id, "replay": v.replay_id, "verdict": v.verdict,
             "details": v.details, "created_at": exact_utc(v.created_at)})
    return params, tags, fps, results, digests, verdicts
