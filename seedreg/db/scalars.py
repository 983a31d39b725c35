"""Scalar results: a real number a run logs, stored with its type so it decodes to the same value.

``value_type`` is ``int``, ``float`` or ``bool`` for Python numbers and the little-endian NumPy
dtype (``<f4``, ``<i8``, ``|b1``, …) for NumPy scalars and 0-d arrays; ``text`` is exact (the
decimal int, ``repr`` of the float, ``true``/``false``); ``num`` the finite value as a float, for
aggregation (None for NaN and infinities). Decoding gives a value whose fingerprint is the one
logged, which is how ``audit`` catches a result edited after the fact.
"""

from __future__ import annotations

import math
from typing import Any

from seedreg.db import keyvalues

#: The longest exact text a result keeps (an int of more digits is logged, not kept as a result).
MAX_TEXT = 64
_NUMPY_KINDS = "biuf"  # bool, signed, unsigned, float (no complex, no long double)


def encode(value: Any) -> tuple[str, str, float | None] | None:
    """``(value_type, text, num)`` for a real number, or None when ``value`` is not one."""
    kind = type(value)
    if kind is bool:
        return "bool", "true" if value else "false", float(value)
    if kind is int:
        text = str(value)
        return ("int", text, _finite(value)) if len(text) <= MAX_TEXT else None
    if kind is float:
        return "float", repr(value), _finite(value)
    if kind.__module__ != "numpy":
        return None
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            return None
        value = value[()]
    if not isinstance(value, np.generic) or value.dtype.kind not in _NUMPY_KINDS or value.dtype.itemsize > 8:
        return None
    dtype = value.dtype.newbyteorder("<").str if value.dtype.itemsize > 1 else value.dtype.str
    if value.dtype.kind == "b":
        return dtype, "true" if value else "false", float(value)
    if value.dtype.kind == "f":
        return dtype, repr(float(value)), _finite(float(value))
    return dtype, str(int(value)), _finite(int(value))


def decode(value_type: str, text: str) -> Any:
    """The value :func:`encode` was given (a Python number, or a NumPy scalar of the recorded dtype)."""
    if value_type in ("bool", "int", "float"):  # Python numbers: stored as params store them
        return keyvalues.decode(value_type, text)
    import numpy as np

    dtype = np.dtype(value_type)
    if dtype.kind == "b":
        return dtype.type(text == "true")
    return dtype.type(float(text) if dtype.kind == "f" else int(text))


def num(value_type: str, text: str) -> float | None:
    """The ``num`` column of a stored result (the finite value as a float)."""
    return _finite(value(value_type, text))


def value(value_type: str, text: str) -> bool | int | float:
    """A stored result as a Python number (a float32 widened to float), without NumPy."""
    if value_type == "bool" or value_type.endswith("b1"):
        return text == "true"
    if value_type == "float" or value_type[1:2] == "f":
        return float(text)
    return int(text)


def _finite(number: float | int) -> float | None:
    try:
        as_float = float(number)
    except OverflowError:
        return None
    return as_float if math.isfinite(as_float) else None
