"""Params and tags: flattening nested dicts and storing values with their type.

Numbers compare numerically (``1`` matches ``1.0``); booleans and strings match only
themselves; NaN and infinities round-trip through their exact text.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Mapping
from typing import Any

from seedreg.errors import UsageError

Value = Any


def flatten(values: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted keys: ``{"model": {"lr": 0.1}}`` -> ``{"model.lr": 0.1}``."""
    flat: dict[str, Any] = {}
    for key, value in (values or {}).items():
        if not isinstance(key, str) or not key:
            raise UsageError(f"param and tag keys must be non-empty strings, not {key!r}")
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, full + "."))
        else:
            flat[full] = value
    return flat


def encode(value: Value) -> tuple[str, str, float | None]:
    """Return ``(value_type, text, num)`` for storage; ``num`` is set for finite numbers."""
    if value is None:
        return "null", "null", None
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):  # numpy.bool_ is "bool" in NumPy 2
        return "bool", "true" if value else "false", None
    if isinstance(value, str):
        return "str", value, None
    if isinstance(value, float) or type(value).__name__ in ("float16", "float32", "float64"):
        number = float(value)
        return "float", repr(number), number if math.isfinite(number) else None
    try:
        number_int = operator.index(value)
    except TypeError:
        pass
    else:
        return "int", str(number_int), float(number_int)
    if isinstance(value, (list, tuple)):
        try:
            return "json", json.dumps(value, sort_keys=True, allow_nan=True), None
        except TypeError as exc:
            raise UsageError(f"cannot record {value!r}: {exc}") from None
    raise UsageError(
        f"cannot record a value of type {type(value).__name__!r}: "
        "params and tags take numbers, booleans, strings, None, and lists of these"
    )


def rows(items: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Flatten and encode params or tags into table rows; raises UsageError for bad values."""
    out = []
    for key, value in flatten(items).items():
        value_type, text, num = encode(value)
        out.append({"key": key, "value_type": value_type, "text": text, "num": num})
    return out


def decode(value_type: str, text: str) -> Value:
    """Inverse of :func:`encode`."""
    if value_type == "null":
        return None
    if value_type == "bool":
        return text == "true"
    if value_type == "int":
        return int(text)
    if value_type == "float":
        return float(text)
    if value_type == "json":
        return json.loads(text)
    return text


def parse_filter_value(text: str) -> Value:
    """Read a ``k=v`` filter value from the command line: JSON literal if it is one, else a string."""
    lowered = text.strip()
    if lowered in ("nan", "inf", "-inf", "NaN", "Infinity", "-Infinity"):
        return float(lowered.replace("inity", ""))
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool)) or value is None else text
