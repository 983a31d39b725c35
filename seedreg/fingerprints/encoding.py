"""Canonical, versioned fingerprints (BLAKE3 digests) of arrays and plain values.

The same data gives the same fingerprint whatever its memory layout, in every seedreg
release: the byte layout below is ENCODING_VERSION 1 and golden tests pin it. Nothing is
ever pickled. All integers in headers are unsigned little-endian: ``u32``/``u64``.

Arrays (``kind="ndarray"``; numpy scalars are hashed as 0-d arrays of their dtype)::

    digest = BLAKE3( b"seedreg-fp" || u32 1 || b"A" || u32 len(D) || D
                     || u32 ndim || u64 dim * ndim || u64 chunk_elems || u64 n_chunks
                     || chunk_digest[0] || ... || chunk_digest[n_chunks-1] )
    chunk_digest[i] = BLAKE3(encoding of flat C-order elements
                             [i*chunk_elems, min((i+1)*chunk_elems, size)))

``D`` is ``dtype.newbyteorder("<").str`` in ASCII (``"<f8"``, ``"|b1"``, ``"<U5"``,
``"<M8[ns]"``, ``"|V8"``, ``"|O"``; ``"|T"`` for numpy's StringDType). Elements are their
little-endian bytes. Long doubles: on x87 platforms the padding bytes after each 80-bit value
(garbage in memory) are hashed as zeros; long-double digests are platform-specific. Object
and StringDType arrays are encoded item by item, each item ``None``, ``str`` or ``bytes`` as
in the value encoding below (``N`` / ``S`` / ``Y``). Structured dtypes are refused.
Chunks: ``chunk_elems = max(1, chunk_bytes // itemsize)`` (object and StringDType arrays count
8 bytes per item), where for ``nbytes <= 256 MiB`` chunk_bytes is the largest power of two
``<= nbytes/64`` clamped to [64 KiB, 1 MiB] (one chunk below 64 KiB, 64 KiB chunks up to
4 MiB, then >= 64 chunks of <= 1 MiB) and above 256 MiB the smallest power of two
``>= nbytes/256`` (<= 256 chunks). Empty arrays have no chunks.

Other values (``kind="value"``)::

    digest = BLAKE3( b"seedreg-fp" || u32 1 || b"V" || enc(obj) )
    enc(None) = b"N"             enc(True) = b"T"            enc(False) = b"F"
    enc(int)  = b"I" || u64 n || n bytes two's complement LE, n = bit_length // 8 + 1
    enc(float) = b"D" || IEEE-754 binary64 LE     enc(complex) = b"C" || real || imag
    enc(str)  = b"S" || u64 len || UTF-8 (surrogatepass)
    enc(bytes | bytearray | memoryview) = b"Y" || u64 len || bytes
    enc(list | tuple) = b"L" || u64 count || enc(item)...
    enc(dict) = b"M" || u64 count || (enc(key) || enc(value))... keys str, sorted by UTF-8
    enc(ndarray | numpy scalar) = b"X" || its 32-byte array digest
    enc(pandas Index) = b"PI" || enc(list(names)) || u64 nlevels || col(level)...
    enc(pandas Series) = b"PS" || enc(name) || enc(index) || col(values)
    enc(pandas DataFrame) = b"PD" || enc(index) || enc(columns) || u64 ncols || col(column)...
    col(numpy dtype) = b"X" || digest of .to_numpy()
    col(object, str) = b"X" || digest of the object array, missing values as None
    col(category) = b"K" || b"T"/b"F" ordered || enc(categories) || b"X" || digest(codes)
    col(nullable Int/Float/boolean) = b"E" || enc(str(dtype)) || b"X" || digest(isna mask)
                                      || b"X" || digest(values with missing set to 0)
    col(tz-aware datetime) = b"Z" || enc(str(dtype)) || b"X" || digest(UTC datetime64)
"""

from __future__ import annotations

import operator
import os
import struct
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import blake3
import numpy as np

from seedreg import forks
from seedreg.errors import UnsupportedTypeError
from seedreg.fingerprints.digest import ALGORITHM, ENCODING_VERSION, Fingerprint, chunk_elems_for

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

_MAGIC = b"seedreg-fp"
_U32 = struct.Struct("<I").pack
_U64 = struct.Struct("<Q").pack
_F64 = struct.Struct("<d").pack
_first = operator.itemgetter(0)
_KIB = 1024
_MIB = 1024 * _KIB
_BUF_BYTES = 4 * _MIB  # scratch buffer per worker for strided / byte-swapped data
_THREAD_MIN_BYTES = 2 * _MIB  # below this one thread beats handing work to the pool
_N_THREADS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count() or 1)  # the caller plus at most one pool thread
_TILE_COLS = 32  # columns per tile when copying column-major 2-d data
_MAX_DEPTH = 200
_SUPPORTED = (
    "supported are numpy arrays and scalars, None, bool, int, float, complex, str, bytes, "
    "bytearray, memoryview, list, tuple, dict with str keys, and pandas Series/DataFrame/Index"
)

_LD = np.dtype(np.longdouble)
# x87 80-bit extended precision stored in 12 or 16 bytes: bytes 10.. are padding.
_LD_PAD = 10 if np.finfo(np.longdouble).nmant == 63 and _LD.itemsize > 10 else 0


def fingerprint(obj: object) -> Fingerprint:
    """Fingerprint ``obj`` (pure: no database); see the module docstring for the encoding."""
    if isinstance(obj, (np.ndarray, np.generic)):
        return _array_fingerprint(obj)
    enc = _Encoder()
    enc.encode(obj, 0)
    return Fingerprint(ALGORITHM, enc.hexdigest(), "value")


# -- arrays -----------------------------------------------------------------------------

def _array_fingerprint(obj: np.ndarray | np.generic) -> Fingerprint:
    masked = sys.modules.get("numpy.ma")  # not imported, no masked array can exist (and it costs 7 ms to import)
    if masked is not None and isinstance(obj, masked.MaskedArray):
        raise UnsupportedTypeError(
            "cannot fingerprint a masked array: fingerprint (arr.data, arr.mask) or arr.filled()"
        )
    a = np.asarray(obj).view(np.ndarray)
    dt = a.dtype
    if dt.names is not None or dt.subdtype is not None:
        raise UnsupportedTypeError(
            f"cannot fingerprint an array of structured dtype {dt}: fingerprint each field "
            "(arr['name']) or a dict of fields instead"
        )
    objects = dt.kind in "OT"
    dtype_str = "|T" if dt.kind == "T" else dt.newbyteorder("<").str
    itemsize = 8 if objects else dt.itemsize
    ce = chunk_elems_for(a.size * itemsize, itemsize)
    n = -(-a.size // ce)
    h = blake3.blake3(_MAGIC + _U32(ENCODING_VERSION) + b"A")
    h.update(_U32(len(dtype_str)) + dtype_str.encode("ascii") + _U32(a.ndim))
    h.update(b"".join(_U64(d) for d in a.shape) + _U64(ce) + _U64(n))
    chunks = b"".join(_chunk_digests(a, ce, n)) if n else b""
    h.update(chunks)
    return Fingerprint(ALGORITHM, h.hexdigest(), "ndarray", dtype_str, a.shape, ce, chunks)


def _chunk_digests(a: np.ndarray, ce: int, n: int) -> list[bytes]:
    """Per-chunk digests; large numeric arrays are hashed in the thread pool."""
    dt = a.dtype
    if dt.kind in "OT":
        return _object_chunks(a, ce, 0, n)
    le = dt.newbyteorder("<")
    pad = _pad_component(dt)
    work: Callable[[int, int], list[bytes]]
    if a.flags.c_contiguous and dt == le and not pad:
        flat = a.reshape(-1).view(np.uint8)  # a view: memory is hashed in place
        cb, nbytes = ce * dt.itemsize, a.nbytes
        def work(c0: int, c1: int) -> list[bytes]:
            return [blake3.blake3(flat[i * cb : min((i + 1) * cb, nbytes)].data).digest()
                    for i in range(c0, c1)]
    else:
        def work(c0: int, c1: int) -> list[bytes]:
            return _copied_chunks(a, le, ce, pad, c0, c1)
    if n < 2 or a.nbytes < _THREAD_MIN_BYTES or _N_THREADS < 2:
        return work(0, n)
    # the pool hashes the first parts while this thread hashes the last one
    bounds = [n * k // _N_THREADS for k in range(_N_THREADS + 1)]
    pool = _executor()
    futures = [pool.submit(work, bounds[k], bounds[k + 1]) for k in range(_N_THREADS - 1)]
    last = work(bounds[-2], n)
    return [d for f in futures for d in f.result()] + last


def _copied_chunks(a: np.ndarray, le: np.dtype, ce: int, pad: int,
                   c0: int, c1: int) -> list[bytes]:
    """Chunk digests via one bounded little-endian C-order scratch buffer."""
    size, item = a.size, le.itemsize
    cap = max(1, min(ce, _BUF_BYTES // max(item, 1)))
    buf = np.empty(cap, dtype=le)
    raw = buf.view(np.uint8)
    out = []
    for i in range(c0, c1):
        start, stop = i * ce, min((i + 1) * ce, size)
        h = blake3.blake3()
        while start < stop:
            k = min(cap, stop - start)
            _fill(a, start, start + k, buf[:k])
            if pad:
                raw[: k * item].reshape(-1, pad)[:, _LD_PAD:] = 0
            h.update(raw[: k * item].data)
            start += k
        out.append(h.digest())
    return out


def _object_chunks(a: np.ndarray, ce: int, c0: int, c1: int) -> list[bytes]:
    """Chunk digests of an object/StringDType array: items None, str or bytes, tagged."""
    size = a.size
    cap = min(ce, 1 << 16)
    buf = np.empty(cap, dtype=object)
    out = []
    for i in range(c0, c1):
        start, stop = i * ce, min((i + 1) * ce, size)
        h = blake3.blake3()
        while start < stop:
            k = min(cap, stop - start)
            _fill(a, start, start + k, buf[:k])
            parts = []
            for j, item in enumerate(buf[:k].tolist()):
                if item is None:
                    parts.append(b"N")
                elif isinstance(item, str):
                    data = item.encode("utf-8", "surrogatepass")
                    parts += (b"S", _U64(len(data)), data)
                elif isinstance(item, bytes):
                    parts += (b"Y", _U64(len(item)), item)
                else:
                    raise UnsupportedTypeError(
                        f"cannot fingerprint an object array holding {type(item).__name__!r} "
                        f"(flat index {start + j}): only str, bytes and None items are "
                        "supported; convert it with .astype(...) to a numeric or string dtype"
                    )
            h.update(b"".join(parts))
            start += k
        out.append(h.digest())
    return out


def _fill(a: np.ndarray, start: int, stop: int, out: np.ndarray) -> None:
    """Copy flat C-order elements ``[start, stop)`` of ``a`` into 1-d contiguous ``out``."""
    if a.ndim <= 1:
        np.copyto(out, a.reshape(1) if a.ndim == 0 else a[start:stop], casting="unsafe")
        return
    inner = a.size // a.shape[0]
    r0, o0 = divmod(start, inner)
    r1, o1 = divmod(stop, inner)
    if r0 == r1:
        _fill(a[r0], o0, o1, out)
        return
    pos = 0
    if o0:
        _fill(a[r0], o0, inner, out[: inner - o0])
        pos, r0 = inner - o0, r0 + 1
    if r1 > r0:
        n = (r1 - r0) * inner
        dst, src = out[pos : pos + n].reshape((r1 - r0,) + a.shape[1:]), a[r0:r1]
        if a.ndim == 2 and 0 < abs(a.strides[0]) < abs(a.strides[1]):
            # column-major data: copy in column tiles that stay in cache (numpy's own
            # transposing copy strides through memory and is ~5x slower)
            for j in range(0, a.shape[1], _TILE_COLS):
                np.copyto(dst[:, j : j + _TILE_COLS], src[:, j : j + _TILE_COLS],
                          casting="unsafe")
        else:
            np.copyto(dst, src, casting="unsafe")
        pos += n
    if o1:
        _fill(a[r1], 0, o1, out[pos:])


def _pad_component(dt: np.dtype) -> int:
    """Size of one x87 long-double component of ``dt`` (0 when there is no padding)."""
    if _LD_PAD and dt.kind == "f" and dt.itemsize == _LD.itemsize:
        return dt.itemsize
    if _LD_PAD and dt.kind == "c" and dt.itemsize == 2 * _LD.itemsize:
        return _LD.itemsize
    return 0


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The module's worker pool (one thread besides the caller's), created on first use
    and anew in a forked child."""
    global _pool
    from concurrent.futures import ThreadPoolExecutor  # imported with the first large array: a small one never needs it

    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_N_THREADS - 1, thread_name_prefix="seedreg-fingerprint")
        return _pool


@forks.after_fork
def _drop_parents_pool() -> None:
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


# -- values -----------------------------------------------------------------------------

class _Encoder:
    """Streams the canonical value encoding into one BLAKE3 hasher."""

    def __init__(self) -> None:
        self._h = blake3.blake3(_MAGIC + _U32(ENCODING_VERSION) + b"V")
        self._buf = bytearray()
        self._active: set[int] = set()

    def hexdigest(self) -> str:
        self._h.update(self._buf)
        self._buf.clear()
        return self._h.hexdigest()

    def _blob(self, tag: bytes, data: Any, size: int) -> None:
        self._buf += tag + _U64(size)
        if size > 1 << 16:  # big payloads go straight to the hasher, uncopied
            self._h.update(self._buf)
            self._buf.clear()
            self._h.update(data)
        else:
            self._buf += data

    def encode(self, obj: object, depth: int) -> None:
        buf = self._buf
        if len(buf) > 1 << 16:
            self._h.update(buf)
            buf.clear()
        kind = type(obj)  # the common exact types first; subclasses take the general branches below
        if kind is str:
            data = obj.encode("utf-8", "surrogatepass")  # type: ignore[attr-defined]
            self._blob(b"S", data, len(data))
        elif kind is int:
            size = obj.bit_length() // 8 + 1  # type: ignore[attr-defined]
            buf += b"I" + _U64(size) + obj.to_bytes(size, "little", signed=True)  # type: ignore[attr-defined]
        elif kind is float:
            buf += b"D" + _F64(obj)
        elif kind is dict or kind is list or kind is tuple:
            self._container(obj, depth)  # type: ignore[arg-type]
        elif obj is None:
            buf += b"N"
        elif isinstance(obj, (np.ndarray, np.generic)):
            buf += b"X" + bytes.fromhex(_array_fingerprint(obj).hexdigest)
        elif isinstance(obj, bool):
            buf += b"T" if obj else b"F"
        elif isinstance(obj, int):  # a subclass (an IntEnum): its value, as the exact int branch writes it
            self.encode(int(obj), depth)
        elif isinstance(obj, float):
            buf += b"D" + _F64(obj)
        elif isinstance(obj, complex):
            buf += b"C" + struct.pack("<dd", obj.real, obj.imag)
        elif isinstance(obj, str):  # a subclass: its characters, as the exact str branch writes them
            self.encode(str.__str__(obj), depth)
        elif isinstance(obj, (bytes, bytearray)):
            self._blob(b"Y", obj, len(obj))
        elif isinstance(obj, memoryview):
            self._blob(b"Y", obj.cast("B") if obj.c_contiguous else obj.tobytes(), obj.nbytes)
        elif isinstance(obj, (list, tuple, dict)):
            self._container(obj, depth)
        elif (pd := sys.modules.get("pandas")) is not None and isinstance(
                obj, (pd.Series, pd.DataFrame, pd.Index)):
            self._pandas(pd, obj, depth)
        else:
            hint = " (convert it to a sorted list)" if isinstance(obj, (set, frozenset)) else ""
            raise UnsupportedTypeError(
                f"cannot fingerprint object of type {type(obj).__name__!r}{hint}: {_SUPPORTED}"
            )

    def _container(self, obj: list[Any] | tuple[Any, ...] | dict[Any, Any], depth: int) -> None:
        if id(obj) in self._active:
            raise UnsupportedTypeError(
                f"cannot fingerprint a self-referencing {type(obj).__name__}: it contains itself"
            )
        if depth >= _MAX_DEPTH:
            raise UnsupportedTypeError(f"cannot fingerprint data nested over {_MAX_DEPTH} deep")
        self._active.add(id(obj))
        if isinstance(obj, dict):
            bad = [k for k in obj if not isinstance(k, str)]
            if bad:
                raise UnsupportedTypeError(
                    f"cannot fingerprint a dict with a {type(bad[0]).__name__!r} key "
                    f"({bad[0]!r}): dict keys must be str"
                )
            self._buf += b"M" + _U64(len(obj))
            for data, value in sorted([(key.encode("utf-8", "surrogatepass"), value) for key, value in obj.items()],
                                      key=_first):  # keys in the order of their UTF-8 bytes
                self._blob(b"S", data, len(data))
                self.encode(value, depth + 1)
        else:
            self._buf += b"L" + _U64(len(obj))
            for item in obj:
                self.encode(item, depth + 1)
        self._active.discard(id(obj))

    def _pandas(self, pd: Any, obj: Any, depth: int) -> None:
        if isinstance(obj, pd.DataFrame):
            self._buf += b"PD"
            self._pandas(pd, obj.index, depth)
            self._pandas(pd, obj.columns, depth)
            self._buf += _U64(obj.shape[1])
            for j in range(obj.shape[1]):
                self._column(pd, obj.iloc[:, j], depth)
        elif isinstance(obj, pd.Series):
            self._buf += b"PS"
            self.encode(obj.name, depth + 1)
            self._pandas(pd, obj.index, depth)
            self._column(pd, obj, depth)
        else:
            self._buf += b"PI"
            self.encode(list(obj.names), depth + 1)
            self._buf += _U64(obj.nlevels)
            for level in range(obj.nlevels):
                self._column(pd, obj.get_level_values(level), depth)

    def _column(self, pd: Any, col: Any, depth: int) -> None:
        """One Series' or Index's values, by dtype (see the module docstring)."""
        dt = col.dtype
        if isinstance(dt, np.dtype) and dt != np.dtype(object):
            self.encode(col.to_numpy(), depth + 1)
        elif dt == np.dtype(object) or isinstance(dt, pd.StringDtype):
            self.encode(col.to_numpy(dtype=object, na_value=None), depth + 1)
        elif isinstance(dt, pd.CategoricalDtype):
            cat = col.array
            self._buf += b"K" + (b"T" if cat.ordered else b"F")
            self._pandas(pd, cat.categories, depth)
            self.encode(np.asarray(cat.codes), depth + 1)
        elif isinstance(dt, pd.DatetimeTZDtype):
            self._buf += b"Z"
            self.encode(str(dt), depth + 1)
            self.encode(col.array.tz_convert("UTC").tz_localize(None).to_numpy(), depth + 1)
        elif isinstance(getattr(dt, "numpy_dtype", None), np.dtype) and dt.numpy_dtype != np.dtype(object):
            self._buf += b"E"
            self.encode(str(dt), depth + 1)
            self.encode(np.asarray(col.isna(), dtype=bool), depth + 1)
            self.encode(col.to_numpy(dtype=dt.numpy_dtype, na_value=dt.numpy_dtype.type(0)),
                        depth + 1)
        else:
            raise UnsupportedTypeError(
                f"cannot fingerprint a pandas column of dtype {str(dt)!r}: supported are numpy "
                "dtypes, object/str columns of str, bytes or missing values, category, "
                "nullable Int/Float/boolean and tz-aware datetimes; convert it with .astype()"
            )
