"""``export`` / ``import``: runs as JSON lines, merged into another registry idempotently by run id.

One line per run (format ``seedreg-run/1``): every ``runs`` column as stored (times as ISO 8601
UTC), its environment, params and tags as ``[key, value_type, text]``, fingerprints with their
chunk digests (base64), the run's record digest from the audit chain, its deletion, and the
replay verdicts stored for it. Import recomputes each line's record digest and refuses a line
that does not give it, so a merged registry still audits clean: imported runs keep their
original digest and are appended to the local chain as imported links.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Boolean, Connection, DateTime, Engine, Float, Integer, select

from . import chain, database
from .environment import EnvironmentSnapshot
from .models import (
    SEED_KINDS,
    SEED_SOURCES,
    STATUSES,
    VALUE_TYPES,
    VERDICTS,
    ChainHead,
    ChainLink,
    Environment,
    FingerprintRow,
    Param,
    ReplayVerdict,
    Run,
    Tag,
)

FORMAT = "seedreg-run/1"
#: Runs written per transaction on import (and read per query on export).
BATCH = 5000
_LOOKUP = 500  # ids per IN (...) lookup

_LOCAL = ("environment_id", "deleted_at", "deleted_reason")  # not facts of the run, or carried apart
_RUN_COLUMNS = [c for c in Run.__table__.columns if c.name not in _LOCAL]
_ENV_FIELDS = ("digest", "python_version", "python_implementation", "platform", "machine", "numpy_version",
               "blas", "packages")
_FP_FIELDS = ("name", "seq", "algorithm", "digest", "kind", "dtype", "shape", "chunk_elems", "chunks", "kept",
              "logged_at")
_VERDICT_FIELDS = ("session", "original", "replay", "verdict", "details", "created_at")
_KEYS = {"format", "run", "environment", "params", "tags", "fingerprints", "record_digest", "deleted", "replays"}
_ID = re.compile(r"^[0-9a-f]{32}$")
_CHOICES = {"status": STATUSES, "seed_kind": SEED_KINDS, "seed_source": SEED_SOURCES}

Progress = Callable[[int], None]


class LineError(ValueError):
    """A line that cannot be imported; the message says why."""


@dataclass
class ImportReport:
    """What an import did: runs written, runs already present, lines refused (number, reason)."""

    imported: int = 0
    skipped: int = 0
    verdicts: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected

    def to_json(self) -> dict[str, Any]:
        return {"imported": self.imported, "skipped": self.skipped, "verdicts": self.verdicts,
                "rejected": [{"line": n, "error": e} for n, e in self.rejected]}


# -- export ---------------------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    """A stored (naive UTC) time as exact ISO 8601 with a ``Z``: microseconds always written."""
    return None if moment is None else moment.isoformat(timespec="microseconds") + "Z"


def export_lines(conn: Connection, query: Any) -> Iterator[str]:
    """JSON lines of the runs ``query`` (a select of whole ``runs`` rows, oldest first) yields."""
    environments: dict[int, dict[str, Any]] = {}
    result = conn.execution_options(yield_per=BATCH).execute(query)
    for rows in result.partitions():
        ids = [row.id for row in rows]
        missing = {row.environment_id for row in rows} - environments.keys()
        if missing:
            for env in conn.execute(select(Environment.__table__).where(Environment.id.in_(missing))):
                environments[env.id] = {name: getattr(env, name) for name in _ENV_FIELDS}
        params, tags, fps, digests, verdicts = _related(conn, ids)
        for row in rows:
            yield json.dumps(
                {
                    "format": FORMAT,
                    "run": {c.name: _out(getattr(row, c.name)) for c in _RUN_COLUMNS},
                    "environment": environments.get(row.environment_id),
                    "params": params.get(row.id, []),
                    "tags": tags.get(row.id, []),
                    "fingerprints": fps.get(row.id, []),
                    "record_digest": digests.get(row.id),
                    "deleted": None if row.deleted_at is None
                    else {"at": iso(row.deleted_at), "reason": row.deleted_reason},
                    "replays": verdicts.get(row.id, []),
                },
                ensure_ascii=False, separators=(",", ":"),
            )


def _out(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


def _related(conn: Connection, ids: Sequence[str]) -> tuple[dict, dict, dict, dict, dict]:
    params: dict[str, list] = {}
    tags: dict[str, list] = {}
    fps: dict[str, list] = {}
    digests: dict[str, str] = {}
    verdicts: dict[str, list] = {}
    for part in _parts(ids):
        for table, into in ((Param, params), (Tag, tags)):
            query = select(table.run_id, table.key, table.value_type, table.text).where(table.run_id.in_(part))
            for run_id, key, value_type, text in conn.execute(query.order_by(table.run_id, table.key)):
                into.setdefault(run_id, []).append([key, value_type, text])
        fp_table = FingerprintRow.__table__
        query = select(fp_table).where(fp_table.c.run_id.in_(part)).order_by(fp_table.c.run_id, fp_table.c.seq)
        for fp in conn.execute(query):
            item = {name: _out(getattr(fp, name)) for name in _FP_FIELDS}
            if fp.chunks is not None:
                item["chunks"] = base64.b64encode(bytes(fp.chunks)).decode()
            fps.setdefault(fp.run_id, []).append(item)
        query = select(ChainLink.run_id, ChainLink.record_digest).where(
            ChainLink.run_id.in_(part), ChainLink.kind == "record")
        digests.update(conn.execute(query).all())
        table = ReplayVerdict.__table__
        query = select(table).where(table.c.original_id.in_(part)).order_by(table.c.created_at, table.c.id)
        for v in conn.execute(query):
            verdicts.setdefault(v.original_id, []).append(
                {"session": v.session, "original": v.original_id, "replay": v.replay_id, "verdict": v.verdict,
                 "details": v.details, "created_at": iso(v.created_at)})
    return params, tags, fps, digests, verdicts


# -- reading a line -------------------------------------------------------------------------


@dataclass
class Line:
    """One validated line, ready to write."""

    number: int
    run: dict[str, Any]
    environment: dict[str, Any]
    params: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    fingerprints: list[dict[str, Any]]
    record_digest: str | None
    deleted: tuple[datetime, str] | None
    replays: list[dict[str, Any]]


def _time(value: Any, what: str) -> datetime:
    """An exported time (ISO 8601; ``Z`` or an offset) as naive UTC, the way the registry stores it."""
    try:
        if value[-1] == "Z":
            return datetime.fromisoformat(value[:-1])
        moment = datetime.fromisoformat(value)
    except (ValueError, TypeError, IndexError, KeyError):
        raise LineError(f"{what} must be an ISO 8601 time, not {value!r:.40}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def _column_spec(column: Any) -> tuple[tuple[type, ...], bool, int | None]:
    """(accepted JSON types, nullable, max length) of one ``runs`` column."""
    kind = column.type
    if isinstance(kind, Boolean):
        types: tuple[type, ...] = (bool,)
    elif isinstance(kind, Integer):
        types = (int,)
    elif isinstance(kind, Float):
        types = (float, int)
    else:  # strings, and times as ISO text
        types = (str,)
    length = None if isinstance(kind, DateTime) else getattr(kind, "length", None)
    return types, bool(column.nullable), length


_SPECS = {c.name: _column_spec(c) for c in _RUN_COLUMNS}
_TIMES = [c.name for c in _RUN_COLUMNS if isinstance(c.type, DateTime)]
_REQUIRED = frozenset(chain.RECORD_FIELDS_V1) | {c.name for c in _RUN_COLUMNS if not c.nullable}


def _run(given: Any) -> dict[str, Any]:
    """The ``run`` object of a line, checked column by column against the ``runs`` table."""
    if not isinstance(given, dict):
        raise LineError("run must be an object")
    for name, value in given.items():
        spec = _SPECS.get(name)
        if spec is None:
            raise LineError(f"run has an unknown field {name!r:.40}")
        types, nullable, length = spec
        if value is None:
            if not nullable:
                raise LineError(f"run.{name} must not be null")
        elif type(value) not in types or (length is not None and len(value) > length):
            raise LineError(f"run.{name} has an invalid value {value!r:.80}")
    if not _REQUIRED <= given.keys():
        raise LineError(f"run.{sorted(_REQUIRED - given.keys())[0]} is missing")
    run = dict(given)
    for name in _TIMES:
        if run.get(name) is not None:
            run[name] = _time(run[name], f"run.{name}")
    for name, choices in _CHOICES.items():
        if run[name] not in choices:
            raise LineError(f"run.{name} must be one of {', '.join(choices)}, not {run[name]!r:.40}")
    for name in ("id", "parent_id", "replay_of"):
        if run[name] is not None and not _ID.match(run[name]):
            raise LineError(f"run.{name} must be 32 lowercase hex digits, not {run[name]!r:.40}")
    return run


def _values(items: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise LineError(f"{what} must be a list of [key, value_type, text]")
    rows, keys = [], set()
    for item in items:
        if (not isinstance(item, list) or len(item) != 3 or not all(isinstance(x, str) for x in item)
                or not item[0] or len(item[0]) > 255 or item[1] not in VALUE_TYPES or item[0] in keys):
            raise LineError(f"{what} has an invalid entry {item!r:.80}")
        keys.add(item[0])
        key, value_type, text = item
        num = None
        if value_type in ("int", "float"):
            try:
                num = float(text)
            except (ValueError, OverflowError):
                raise LineError(f"{what} {key!r} is not a number: {text!r:.40}") from None
            if num != num or num in (float("inf"), float("-inf")):
                num = None
        rows.append({"key": key, "value_type": value_type, "text": text, "num": num})
    return rows


_FP_TYPES = {"name": ((str,), False), "seq": ((int,), False), "algorithm": ((str,), False),
             "digest": ((str,), False), "kind": ((str,), False), "dtype": ((str,), True), "shape": ((str,), True),
             "chunk_elems": ((int,), True), "chunks": ((str,), True), "kept": ((bool,), False),
             "logged_at": ((str,), False)}


def _fingerprints(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise LineError("fingerprints must be a list")
    rows, names = [], set()
    for item in items:
        if not isinstance(item, dict) or item.keys() != _FP_TYPES.keys():
            raise LineError(f"a fingerprint must have exactly the fields {', '.join(_FP_FIELDS)}")
        name = item["name"]
        for key, value in item.items():
            types, nullable = _FP_TYPES[key]
            if (value is None and not nullable) or (value is not None and type(value) not in types):
                raise LineError(f"fingerprint {name!r:.80}: {key} has an invalid value {value!r:.80}")
        if not name or len(name) > 255 or name in names:
            raise LineError(f"fingerprint name {name!r:.80} is empty, too long or repeated")
        names.add(name)
        row = dict(item)
        if row["chunks"] is not None:
            try:
                row["chunks"] = base64.b64decode(row["chunks"], validate=True)
            except ValueError:
                raise LineError(f"fingerprint {name!r}: chunks must be base64") from None
            if len(row["chunks"]) % 32:
                raise LineError(f"fingerprint {name!r}: chunks must be whole 32-byte digests")
        row["logged_at"] = _time(row["logged_at"], f"fingerprint {name!r} logged_at")
        rows.append(row)
    return rows


def _replays(items: Any, run_id: str) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise LineError("replays must be a list")
    rows = []
    for item in items:
        if (not isinstance(item, dict) or set(item) != set(_VERDICT_FIELDS) or item["original"] != run_id
                or item["verdict"] not in VERDICTS or not isinstance(item["session"], str)
                or not isinstance(item["details"], str)
                or not (item["replay"] is None or (isinstance(item["replay"], str) and _ID.match(item["replay"])))):
            raise LineError(f"replays has an invalid entry {item!r:.80}")
        rows.append({"session": item["session"], "original_id": run_id, "replay_id": item["replay"],
                     "verdict": item["verdict"], "details": item["details"],
                     "created_at": _time(item["created_at"], "replays created_at")})
    return rows


class LineReader:
    """Validates lines; caches the check of each distinct environment (many runs share one)."""

    def __init__(self) -> None:
        self._environments: dict[tuple, dict[str, Any]] = {}

    def environment(self, env: Any) -> dict[str, Any]:
        if not isinstance(env, dict) or set(env) != set(_ENV_FIELDS):
            raise LineError(f"environment must have exactly the fields {', '.join(_ENV_FIELDS)}")
        key = tuple(env[name] for name in _ENV_FIELDS)
        found = self._environments.get(key)
        if found is None:
            try:
                packages = json.loads(env["packages"])
                snapshot = EnvironmentSnapshot(
                    python_version=env["python_version"], python_implementation=env["python_implementation"],
                    platform=env["platform"], machine=env["machine"], numpy_version=env["numpy_version"],
                    blas=env["blas"], packages=packages)
                ok = isinstance(packages, dict) and snapshot.digest == env["digest"]
            except (TypeError, ValueError, AttributeError):
                ok = False
            if not ok:
                raise LineError("the environment's fields do not give its digest (edited or malformed)")
            found = self._environments[key] = dict(env)
        return found

    def read(self, number: int, text: str | bytes) -> Line:
        """Validate one line and recompute its record digest; raises LineError saying what is wrong."""
        try:
            data = json.loads(text)
        except ValueError as error:  # UnicodeDecodeError too
            raise LineError(f"not JSON ({error})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LineError(f"not a seedreg export line (expected \"format\": \"{FORMAT}\")")
        unknown = set(data) - _KEYS
        if unknown or not {"run", "environment"} <= set(data):
            raise LineError(f"unknown field {sorted(unknown)[0]!r}" if unknown else "run and environment are required")
        run = _run(data["run"])
        environment = self.environment(data["environment"])
        params = _values(data.get("params", []), "params")
        tags = _values(data.get("tags", []), "tags")
        fingerprints = _fingerprints(data.get("fingerprints", []))
        deleted = data.get("deleted")
        if deleted is not None:
            if not isinstance(deleted, dict) or set(deleted) != {"at", "reason"} or not isinstance(deleted["reason"], str):
                raise LineError("deleted must be null or {\"at\", \"reason\"}")
            deleted = (_time(deleted["at"], "deleted.at"), deleted["reason"])
        digest = data.get("record_digest")
        if run["status"] in chain.CLOSED:
            if not isinstance(digest, str):
                raise LineError(f"a {run['status']} run needs its record_digest")
            record = chain.canonical(
                run, environment["digest"], ([p["key"], p["value_type"], p["text"]] for p in params),
                ([t["key"], t["value_type"], t["text"]] for t in tags), fingerprints)
            if chain.record_digest(record) != digest:
                raise LineError(f"its content does not give its record digest {digest} (edited after export?)")
        elif digest is not None:
            raise LineError(f"a {run['status']} run is not chained, so it has no record digest")
        replays = _replays(data.get("replays", []), run["id"])
        return Line(number, run, environment, params, tags, fingerprints, digest, deleted, replays)


def read_lines(lines: Iterable[str | bytes], report: ImportReport) -> Iterator[Line]:
    """Validated lines; a bad one goes into ``report.rejected`` with its number (blank lines are skipped)."""
    reader = LineReader()
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            yield reader.read(number, text)
        except LineError as error:
            report.rejected.append((number, str(error)))


# -- import ---------------------------------------------------------------------------------


def import_lines(engine: Engine, lines: Iterable[str | bytes], progress: Progress | None = None) -> ImportReport:
    """Write every valid line's run that the registry does not have yet, in large transactions."""
    report = ImportReport()
    batch: list[Line] = []

    def flush() -> None:
        database.retrying(lambda: _write(engine, batch, report), unreachable=False)
        if progress:
            progress(len(batch))
        batch.clear()

    for line in read_lines(lines, report):
        batch.append(line)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return report


def _existing(conn: Connection, column: Any, keys: Iterable[Any]) -> set[Any]:
    found: set[Any] = set()
    for part in _parts(sorted(set(keys))):
        found.update(conn.execute(select(column).where(column.in_(part))).scalars())
    return found


def _write(engine: Engine, batch: list[Line], report: ImportReport) -> None:
    """One transaction: new runs with their rows, their chain links, and verdicts not yet stored."""
    with database.write(engine) as conn:
        # Lock the chain head first: closes and other imports wait, so the checks below hold.
        conn.execute(select(ChainHead.count).where(ChainHead.id == 1).with_for_update()).one()
        ids = {line.run["id"] for line in batch}
        refs = {ref for line in batch for ref in (line.run.get("parent_id"), line.run.get("replay_of")) if ref}
        present = _existing(conn, Run.id, ids | refs)
        new: list[Line] = []
        rejected: list[tuple[int, str]] = []
        skipped = 0
        for line in batch:
            run_id = line.run["id"]
            if run_id in present:
                skipped += 1
                continue
            absent = [ref for ref in (line.run.get("parent_id"), line.run.get("replay_of")) if ref and ref not in present]
            if absent:
                rejected.append((line.number, f"run {run_id} refers to run {absent[0]}, which is neither in the "
                                              "registry nor on an earlier line: export it too"))
                continue
            present.add(run_id)
            new.append(line)
        env_ids = _environment_ids(conn, {line.environment["digest"]: line.environment for line in new})
        run_rows, param_rows, tag_rows, fp_rows, links = [], [], [], [], []
        for line in new:
            run_id = line.run["id"]
            row = {c.name: None for c in _RUN_COLUMNS}
            row.update(line.run)
            row["environment_id"] = env_ids[line.environment["digest"]]
            row["deleted_at"], row["deleted_reason"] = line.deleted or (None, None)
            run_rows.append(row)
            param_rows += [{"run_id": run_id, **p} for p in line.params]
            tag_rows += [{"run_id": run_id, **t} for t in line.tags]
            fp_rows += [{"run_id": run_id, **f} for f in line.fingerprints]
            if line.record_digest is not None:
                links.append((run_id, "record", line.record_digest))
            if line.deleted is not None:
                links.append((run_id, "tombstone", chain.tombstone_digest(run_id, *line.deleted)))
        for table, rows in ((Run, run_rows), (Param, param_rows), (Tag, tag_rows), (FingerprintRow, fp_rows)):
            insert_many(conn, table.__table__, rows)
        if links:
            chain.extend(conn, links, imported=True)
        verdicts = _new_verdicts(conn, [v for line in batch for v in line.replays])
        if verdicts:
            conn.execute(ReplayVerdict.__table__.insert(), verdicts)
    report.imported += len(new)
    report.skipped += skipped
    report.verdicts += len(verdicts)
    report.rejected += rejected


def insert_many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows with the same keys: on SQLite straight through the driver's ``executemany``
    (SQLAlchemy's own type processing applied; building each row's parameters costs more than
    SQLite's insert), elsewhere through SQLAlchemy (PostgreSQL batches them into multi-row VALUES)."""
    if not rows:
        return
    dialect = conn.dialect
    if dialect.name != "sqlite":
        conn.execute(table.insert(), rows)
        return
    compiled = table.insert().compile(dialect=dialect, column_keys=list(rows[0]))
    order = list(compiled.positiontup or ())
    processors = [(i, proc) for i, name in enumerate(order)
                  if (proc := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None]
    data = []
    for row in rows:
        values = [row[name] for name in order]
        for i, proc in processors:
            values[i] = proc(values[i])
        data.append(tuple(values))
    conn.exec_driver_sql(compiled.string, data)


def _environment_ids(conn: Connection, environments: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Local ids of these environments (by digest), inserting the ones the registry lacks."""
    table = Environment.__table__

    def known() -> dict[str, int]:
        found: dict[str, int] = {}
        for part in _parts(sorted(environments)):
            found.update(conn.execute(select(table.c.digest, table.c.id).where(table.c.digest.in_(part))).all())
        return found

    ids = known()
    missing = [dict(env, created_at=database.utcnow()) for digest, env in environments.items() if digest not in ids]
    if missing:
        conn.execute(table.insert(), missing)
        ids = known()
    return ids


def _new_verdicts(conn: Connection, verdicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The verdicts not stored yet (a verdict is its session, original and replay)."""
    if not verdicts:
        return []
    table = ReplayVerdict.__table__
    stored: set[tuple] = set()
    for part in _parts(sorted({v["original_id"] for v in verdicts})):
        query = select(table.c.session, table.c.original_id, table.c.replay_id).where(table.c.original_id.in_(part))
        stored.update(conn.execute(query).tuples())
    fresh = []
    for verdict in verdicts:
        key = (verdict["session"], verdict["original_id"], verdict["replay_id"])
        if key not in stored:
            stored.add(key)
            fresh.append(verdict)
    return fresh


def _parts(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _LOOKUP):
        yield items[start : start + _LOOKUP]
