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
    """Return ``(value_type, text, num)`` for storage; ``num`` is set for finite numbers (see :func:`num`)."""
    if value is None:
        return "null", "null", None
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):  # numpy.bool_ is "bool" in NumPy 2
        return "bool", "true" if value else "false", None
    if isinstance(value, str):
        return "str", value, None
    if isinstance(value, float) or type(value).__name__ in ("float16", "float32", "float64"):
        text = repr(float(value))
        return "float", text, num("float", text)
    try:
        number_int = operator.index(value)
    except TypeError:
        pass
    else:
        text = str(number_int)
        return "int", text, num("int", text)
    if isinstance(value, (list, tuple)):
        try:
            return "json", json.dumps(value, sort_keys=True, allow_nan=True), None
        except TypeError as exc:
            raise UsageError(f"cannot record {value!r}: {exc}") from None
    raise UsageError(
        f"cannot record a value of type {type(value).__name__!r}: "
        "params and tags take numbers, booleans, strings, None, and lists of these"
    )


def num(value_type: str, text: str) -> float | None:
    """The ``num`` column of a stored value, derived from its exact text: an int or float that is
    finite as a float (so ``1`` matches ``1.0``), else None; ValueError when a number's text is not one."""
    if value_type not in ("int", "float"):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


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
