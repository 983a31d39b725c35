"""Reading an export line for ``import``: parsed, type-checked, its rows prepared for the database.

The format is :mod:`seedreg.transfer.format`; the importer (:mod:`seedreg.transfer.importer`)
writes what :class:`LineReader` returns.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Boolean, DateTime, Dialect, Float, Integer

from seedreg.db import bulk, keyvalues, scalars
from seedreg.db.tables import environment_table, fingerprint_table, run_table
from seedreg.db.vocabulary import CLOSED, SEED_KINDS, SEED_SOURCES, STATUSES, VALUE_TYPES, VERDICTS
from seedreg.environment_record import ENVIRONMENT_FIELDS, environment_record
from seedreg.integrity import chain
from seedreg.transfer.format import (
    FORMAT,
    FP_FIELDS,
    FP_INSERT,
    KEYS,
    RUN_COLUMNS,
    RUN_INSERT,
    VERDICT_FIELDS,
    LineError,
)

_ID = re.compile(r"^[0-9a-f]{32}$")
_CHOICES = {"status": STATUSES, "seed_kind": SEED_KINDS, "seed_source": SEED_SOURCES}



def _results(items: Any) -> list[list[str]]:
    """Exported results: ``[name, value_type, text]`` that decode to a real number."""
    if not isinstance(items, list):
        raise LineError("results must be a list")
    seen = set()
    for item in items:
        if (not isinstance(item, list) or len(item) != 3 or not all(type(part) is str for part in item)
                or not 0 < len(item[0]) <= 255 or len(item[2]) > scalars.MAX_TEXT or item[0] in seen):
            raise LineError("each result must be a distinct [name, value_type, text] of strings")
        seen.add(item[0])
        try:
            scalars.decode(item[1], item[2])
        except (TypeError, ValueError):
            raise LineError(f"result {item[0]!r:.40} is not a {item[1]:.20} number: {item[2]!r:.40}") from None
    return items


class Line(NamedTuple):
    """One validated line: its rows ready to insert (values prepared for the target database).

    A tuple, so that passing lines from a worker process is cheap.
    """

    number: int
    run_id: str
    refs: tuple[str, ...]  # the runs it refers to (parent, replay_of): they must exist first
    environment: dict[str, Any]
    run_row: tuple  # values of RUN_INSERT but the last (environment_id, known once written)
    params: list[tuple]  # VALUE_INSERT
    tags: list[tuple]
    fingerprints: list[tuple]  # FP_INSERT
    record_digest: str | None
    record_version: int  # the canonical form its record digest uses
    results: list[tuple]  # RESULT_INSERT
    tombstone: str | None  # the digest of its deletion, when it was exported deleted
    replays: list[dict[str, Any]]  # ``replays`` rows (created_at prepared like the run's times)


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


_SPECS = {c.name: _column_spec(c) for c in RUN_COLUMNS}
_TIMES = [c.name for c in RUN_COLUMNS if isinstance(c.type, DateTime)]
_REQUIRED = frozenset(chain.RECORD_FIELDS_V1) | {c.name for c in RUN_COLUMNS if not c.nullable}


#: (keys, value types) of ``run`` objects found valid: lines of one export share a few shapes,
#: so most lines are checked by one lookup, and only string lengths one by one.
_RUN_SHAPES: set[tuple[tuple, tuple]] = set()
_LENGTHS = [(name, spec[2]) for name, spec in _SPECS.items() if spec[2] is not None]
_NO_RUN = dict.fromkeys(_SPECS)
_ROW_VALUES = itemgetter(*RUN_INSERT[:-3])
_FP_VALUES = itemgetter(*FP_FIELDS)
_INTS = [c.name for c in RUN_COLUMNS if isinstance(c.type, Integer)]
_FLOATS = [c.name for c in RUN_COLUMNS if isinstance(c.type, Float)]  # required: checked by then
#: What an INTEGER column holds on every backend (PostgreSQL's is 32 bits).
INT32 = range(-(2**31), 2**31)
INT64 = range(-(2**63), 2**63)


def _run(given: Any) -> dict[str, Any]:
    """The ``run`` object of a line, checked column by column against the ``runs`` table."""
    if type(given) is not dict:
        raise LineError("run must be an object")
    shape = (tuple(given), tuple(map(type, given.values())))
    if shape not in _RUN_SHAPES:
        _check_run_types(given)
        if len(_RUN_SHAPES) < 1000:
            _RUN_SHAPES.add(shape)
    for name, length in _LENGTHS:
        value = given.get(name)
        if value is not None and len(value) > length:
            raise LineError(f"run.{name} has an invalid value {value!r:.80}")
    for name in _INTS:
        if given[name] not in INT32:
            raise LineError(f"run.{name} is out of range: {given[name]}")
    for name in _FLOATS:  # an int given for a float column is bound as an integer
        if type(given.get(name)) is int and given[name] not in INT64:
            raise LineError(f"run.{name} is out of range: {given[name]}")
    run = {**_NO_RUN, **given}  # every column, absent ones null
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


def _check_run_types(given: dict[str, Any]) -> None:
    """Every field a ``runs`` column, of its type, null only where allowed; every required one there."""
    for name, value in given.items():
        spec = _SPECS.get(name)
        if spec is None:
            raise LineError(f"run has an unknown field {name!r:.40}")
        types, nullable, _ = spec
        if value is None:
            if not nullable:
                raise LineError(f"run.{name} must not be null")
        elif type(value) not in types:
            raise LineError(f"run.{name} has an invalid value {value!r:.80}")
    if not _REQUIRED <= given.keys():
        raise LineError(f"run.{sorted(_REQUIRED - given.keys())[0]} is missing")


def _values(items: Any, what: str) -> list[list[str]]:
    """Params or tags as ``[key, value_type, text]``, checked (keys unique, types known)."""
    if not isinstance(items, list):
        raise LineError(f"{what} must be a list of [key, value_type, text]")
    keys = set()
    for item in items:
        if (type(item) is not list or len(item) != 3 or not all(type(x) is str for x in item)
                or not item[0] or len(item[0]) > 255 or item[1] not in VALUE_TYPES or item[0] in keys):
            raise LineError(f"{what} has an invalid entry {item!r:.80}")
        keys.add(item[0])
    return items


def _value_rows(run_id: str, items: list[list[str]], what: str) -> list[tuple]:
    """Rows of VALUE_INSERT; ``num`` is derived from the exact text, as the recorder derives it."""
    rows = []
    for key, value_type, text in items:
        try:
            rows.append((run_id, key, value_type, text, keyvalues.num(value_type, text)))
        except ValueError:
            raise LineError(f"{what} {key!r} is not a number: {text!r:.40}") from None
    return rows


_FP_TYPES = {"name": ((str,), False), "seq": ((int,), False), "algorithm": ((str,), False),
             "digest": ((str,), False), "kind": ((str,), False), "dtype": ((str,), True), "shape": ((str,), True),
             "chunk_elems": ((int,), True), "chunks": ((str,), True), "kept": ((bool,), False),
             "logged_at": ((str,), False)}
_FP_LIMITS = [(c.name, length) for c in fingerprint_table.columns
              if c.name in _FP_TYPES and (length := getattr(c.type, "length", None))]
_FP_INTS = ("seq", "chunk_elems")
_FP_SHAPES: set[tuple[tuple, tuple]] = set()  # like _RUN_SHAPES


def _fingerprints(items: Any) -> list[dict[str, Any]]:
    """Fingerprints checked field by field; chunk digests decoded, times parsed."""
    if not isinstance(items, list):
        raise LineError("fingerprints must be a list")
    rows, names = [], set()
    for item in items:
        if type(item) is not dict or item.keys() != _FP_TYPES.keys():
            raise LineError(f"a fingerprint must have exactly the fields {', '.join(FP_FIELDS)}")
        name = item["name"]
        shape = (tuple(item), tuple(map(type, item.values())))
        if shape not in _FP_SHAPES:
            for key, value in item.items():
                types, nullable = _FP_TYPES[key]
                if (value is None and not nullable) or (value is not None and type(value) not in types):
                    raise LineError(f"fingerprint {name!r:.80}: {key} has an invalid value {value!r:.80}")
            if len(_FP_SHAPES) < 1000:
                _FP_SHAPES.add(shape)
        for key, length in _FP_LIMITS:
            value = item[key]
            if value is not None and len(value) > length:
                raise LineError(f"fingerprint {name!r:.80}: {key} has an invalid value {value!r:.80}")
        for key in _FP_INTS:
            if item[key] is not None and item[key] not in INT32:
                raise LineError(f"fingerprint {name!r:.80}: {key} is out of range: {item[key]}")
        if not name or name in names:
            raise LineError(f"fingerprint name {name!r:.80} is empty or repeated")
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
    """Stored replay verdicts of the run, as ``replays`` rows."""
    if not isinstance(items, list):
        raise LineError("replays must be a list")
    rows = []
    for item in items:
        if (not isinstance(item, dict) or item.keys() != set(VERDICT_FIELDS) or item["original"] != run_id
                or item["verdict"] not in VERDICTS or type(item["session"]) is not str
                or len(item["session"]) > 32 or type(item["details"]) is not str
                or not (item["replay"] is None or (type(item["replay"]) is str and _ID.match(item["replay"])))):
            raise LineError(f"replays has an invalid entry {item!r:.80}")
        rows.append({"session": item["session"], "original_id": run_id, "replay_id": item["replay"],
                     "verdict": item["verdict"], "details": item["details"],
                     "created_at": _time(item["created_at"], "replays created_at")})
    return rows


class _Doubt(Exception):
    """orjson's reading of a line may differ from json's: read it again with json."""


def _fast_loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN, a lone surrogate, a BOM, ...: json decides
        raise _Doubt from None


_ENV_KEY = '"environment":'
_ENV_KEY_BYTES = _ENV_KEY.encode()
_PREFIX = 76  # '{"digest":"' and the 64 hex digits of the digest, as export writes an environment


class LineReader:
    """Validates lines into rows ready for ``dialect``; caches each distinct environment's check."""

    def __init__(self, dialect: Dialect | None = None) -> None:
        self._environments: dict[tuple, dict[str, Any]] = {}
        # Checked environments as export writes them (str and UTF-8), by their first characters.
        self._verbatim: dict[str | bytes, tuple[str | bytes, dict[str, Any]]] = {}
        self._run_prep = bulk.preparers(dialect, run_table, RUN_INSERT[:-1])
        self._fp_prep = bulk.preparers(dialect, fingerprint_table, FP_INSERT)
        self._time_prep = bulk.preparers(dialect, run_table, ["started_at"])

    def environment(self, env: Any) -> dict[str, Any]:
        """The line's environment, once checked: its fields must give its digest."""
        if (not isinstance(env, dict) or env.keys() != set(ENVIRONMENT_FIELDS)
                or not all(v is None or type(v) is str for v in env.values())):
            raise LineError(f"environment must have exactly the fields {', '.join(ENVIRONMENT_FIELDS)} (strings)")
        key = tuple(env[name] for name in ENVIRONMENT_FIELDS)
        found = self._environments.get(key)
        if found is None:
            try:
                record = environment_record(env)
                ok = isinstance(record.packages, dict) and record.digest == env["digest"]
            except (TypeError, ValueError, AttributeError):
                ok = False
            if not ok:
                raise LineError("the environment's fields do not give its digest (edited or malformed)")
            for column in environment_table.columns:
                length = getattr(column.type, "length", None)
                if length and env.get(column.name) is not None and len(env[column.name]) > length:
                    raise LineError(f"environment.{column.name} is too long ({len(env[column.name])} characters)")
            found = self._environments[key] = dict(env)
            if len(self._verbatim) < 1000:
                text = json.dumps(env, ensure_ascii=False, separators=(",", ":"))
                for form in (text, text.encode()):
                    self._verbatim[form[:_PREFIX]] = (form, found)
        return found

    def _decode(self, text: str | bytes, loads: Callable[[Any], Any]) -> tuple[Any, bool]:
        """``loads(text)``, and whether its environment is one already checked.

        Most of a line is its environment, the same on every line from one machine: found
        verbatim, it is cut out before parsing and the checked one put in its place. Only when
        the line has one ``"environment":`` key, which then parses as the top-level field.
        """
        key, zero = (_ENV_KEY, "0") if type(text) is str else (_ENV_KEY_BYTES, b"0")
        at = text.find(key)  # type: ignore[arg-type]
        if at >= 0:
            start = at + len(key)
            known = self._verbatim.get(text[start : start + _PREFIX])
            if known is not None and text.startswith(known[0], start) and text.count(key) == 1:  # type: ignore
                try:
                    data = loads(text[:start] + zero + text[start + len(known[0]) :])  # type: ignore
                except ValueError:
                    data = None
                if type(data) is dict and type(data.get("environment")) is int and data["environment"] == 0:
                    data["environment"] = known[1]
                    return data, True
        return loads(text), False

    def read(self, number: int, text: str | bytes) -> Line:
        """Validate one line and recompute its record digest; raises LineError saying what is wrong.

        Parsed with orjson, several times faster than ``json``; where the two could differ (a
        line orjson refuses, a line refused, an integer too big for 64 bits that orjson reads
        as a float), the line is parsed again with ``json``, whose reading is the format's.
        """
        try:
            return self._read(number, text, _fast_loads)
        except (LineError, _Doubt):
            pass
        return self._read(number, text, json.loads)

    def _read(self, number: int, text: str | bytes, loads: Callable[[Any], Any]) -> Line:
        try:
            data, checked = self._decode(text, loads)
        except ValueError as error:  # UnicodeDecodeError too
            raise LineError(f"not JSON ({error})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LineError(f"not a seedreg export line (expected \"format\": \"{FORMAT}\")")
        if not data.keys() <= KEYS or not {"run", "environment"} <= data.keys():
            unknown = sorted(data.keys() - KEYS)
            raise LineError(f"unknown field {unknown[0]!r:.40}" if unknown else "run and environment are required")
        run = _run(data["run"])
        run_id = run["id"]
        if loads is _fast_loads:
            for name in _FLOATS:  # an integer literal beyond 64 bits: json reads an int, orjson a float
                if type(run[name]) is float and abs(run[name]) >= 2**63 and run[name].is_integer():
                    raise _Doubt
        environment = data["environment"] if checked else self.environment(data["environment"])
        params = _values(data.get("params", []), "params")
        tags = _values(data.get("tags", []), "tags")
        fingerprints = _fingerprints(data.get("fingerprints", []))
        deleted = data.get("deleted")
        if deleted is not None:
            if not isinstance(deleted, dict) or deleted.keys() != {"at", "reason"} or type(deleted["reason"]) is not str:
                raise LineError("deleted must be null or {\"at\", \"reason\"}")
            deleted = (_time(deleted["at"], "deleted.at"), deleted["reason"])
        results = _results(data.get("results", []))
        digest = data.get("record_digest")
        version = data.get("record_version")
        version = 1 if version is None else version  # export lines before record versions were written
        if type(version) is not int or version not in chain.VERSIONS:
            raise LineError(f"record_version {version!r:.20} is not one this seedreg knows "
                            f"({', '.join(map(str, chain.VERSIONS))}): upgrade seedreg")
        if version == 1 and results:
            raise LineError("a version-1 record has no results")
        if run["status"] in CLOSED:
            if type(digest) is not str:
                raise LineError(f"a {run['status']} run needs its record_digest")
            parts = chain.Parts(run, environment["digest"], params, tags, fingerprints, results)
            try:
                recomputed = chain.digest_of(parts, version)
            except UnicodeEncodeError:
                raise LineError("a text in it is not valid Unicode (a lone surrogate)") from None
            if recomputed != digest:
                raise LineError(f"its content does not give its record digest {digest:.80} (edited after export?)")
        elif digest is not None:
            raise LineError(f"a {run['status']} run is not chained, so it has no record digest")
        values = list(_ROW_VALUES(run))
        values += deleted or (None, None)
        return Line(
            number=number, run_id=run_id, refs=tuple(r for r in (run["parent_id"], run["replay_of"]) if r),
            environment=environment, run_row=bulk.prepared(values, self._run_prep),
            params=_value_rows(run_id, params, "params"), tags=_value_rows(run_id, tags, "tags"),
            fingerprints=[bulk.prepared([run_id, *_FP_VALUES(fp)], self._fp_prep)
                          for fp in fingerprints],
            record_digest=digest, record_version=version,
            results=[(run_id, name, value_type, text, scalars.num(value_type, text))
                     for name, value_type, text in results],
            tombstone=chain.tombstone_digest(run_id, *deleted) if deleted else None,
            replays=self._replays(data.get("replays", []), run_id),
        )

    def _replays(self, items: Any, run_id: str) -> list[dict[str, Any]]:
        rows = _replays(items, run_id)
        for row in rows:
            row["created_at"] = bulk.prepared([row["created_at"]], self._time_prep)[0]
        return rows


