"""``seedreg export``: runs as JSON lines of the format :mod:`seedreg.transfer.format` defines."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from seedreg.db.models import ChainLink, Environment, FingerprintRow, Param, ReplayVerdict, Result, Tag
from seedreg.records import ENVIRONMENT_FIELDS
from seedreg.transfer.format import BATCH, FORMAT, FP_FIELDS, RUN_COLUMNS, exact_utc, parts


def export_lines(conn: Connection, query: Any) -> Iterator[str]:
    """JSON lines of the runs ``query`` (a select of whole ``runs`` rows, oldest first) yields."""
    environments: dict[int, dict[str, Any]] = {}
    result = conn.execution_options(yield_per=BATCH).execute(query)
    for rows in result.partitions():
        ids = [row.id for row in rows]
        missing = {row.environment_id for row in rows} - environments.keys()
        if missing:
            for env in conn.execute(select(Environment.__table__).where(Environment.id.in_(missing))):
                environments[env.id] = {name: getattr(env, name) for name in ENVIRONMENT_FIELDS}
        params, tags, fps, results, digests, verdicts = _related(conn, ids)
        for row in rows:
            yield json.dumps(
                {
                    "format": FORMAT,
                    "run": {c.name: _out(getattr(row, c.name)) for c in RUN_COLUMNS},
                    "environment": environments.get(row.environment_id),
                    "params": params.get(row.id, []),
                    "tags": tags.get(row.id, []),
                    "fingerprints": fps.get(row.id, []),
                    "results": results.get(row.id, []),
                    "record_digest": digests.get(row.id, (None, None))[0],
                    "record_version": digests.get(row.id, (None, None))[1],
                    "deleted": None if row.deleted_at is None
                    else {"at": exact_utc(row.deleted_at), "reason": row.deleted_reason},
                    "replays": verdicts.get(row.id, []),
                },
                ensure_ascii=False, separators=(",", ":"),
            )


def _out(value: Any) -> Any:
    return exact_utc(value) if isinstance(value, datetime) else value


def _related(conn: Connection, ids: Sequence[str]) -> tuple[dict, dict, dict, dict, dict, dict]:
    params: dict[str, list] = {}
    tags: dict[str, list] = {}
    fps: dict[str, list] = {}
    results: dict[str, list] = {}
    digests: dict[str, tuple[str, int]] = {}
    verdicts: dict[str, list] = {}
    for part in parts(ids):
        for table, into in ((Param, params), (Tag, tags)):
            query = select(table.run_id, table.key, table.value_type, table.text).where(table.run_id.in_(part))
            for run_id, key, value_type, text in conn.execute(query.order_by(table.run_id, table.key)):
                into.setdefault(run_id, []).append([key, value_type, text])
        fp_table = FingerprintRow.__table__
        fp_query = select(fp_table).where(fp_table.c.run_id.in_(part)).order_by(fp_table.c.run_id, fp_table.c.seq)
        for fp in conn.execute(fp_query):
            item = {name: _out(getattr(fp, name)) for name in FP_FIELDS}
            if fp.chunks is not None:
                item["chunks"] = base64.b64encode(bytes(fp.chunks)).decode()
            fps.setdefault(fp.run_id, []).append(item)
        result_query = select(Result.run_id, Result.name, Result.value_type, Result.text).where(
            Result.run_id.in_(part))
        for run_id, name, value_type, text in conn.execute(result_query.order_by(Result.run_id, Result.name)):
            results.setdefault(run_id, []).append([name, value_type, text])
        link_query = select(ChainLink.run_id, ChainLink.record_digest, ChainLink.record_version).where(
            ChainLink.run_id.in_(part), ChainLink.kind == "record")
        digests.update((run_id, (digest, version)) for run_id, digest, version in conn.execute(link_query))
        verdict_table = ReplayVerdict.__table__
        verdict_query = select(verdict_table).where(verdict_table.c.original_id.in_(part)).order_by(
            verdict_table.c.created_at, verdict_table.c.id)
        for v in conn.execute(verdict_query):
            verdicts.setdefault(v.original_id, []).append(
                {"session": v.session, "original": v.original_id, "replay": v.replay_id, "verdict": v.verdict,
                 "details": v.details, "created_at": exact_utc(v.created_at)})
    return params, tags, fps, results, digests, verdicts
