"""What a fingerprint is: an algorithm-tagged digest, plus per-chunk digests for arrays.

This module does not import NumPy, so reading fingerprints back (``seedreg list``) stays
fast; computing them is :func:`seedreg.fingerprint` (``seedreg.fingerprints.encoding``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

ALGORITHM = "blake3"
ENCODING_VERSION = 1
DIGEST_SIZE = 32

_KIB = 1024
_MIB = 1024 * _KIB
_FP_TEXT = re.compile(r"([a-z][a-z0-9_-]*):([0-9a-fA-F]+)")


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """A digest plus what is needed to say where array data diverged.

    ``kind`` is ``"ndarray"`` (arrays and numpy scalars: dtype, shape and per-chunk digests
    are set), ``"value"`` (everything else) or ``"unknown"`` (parsed from text).
    """

    algorithm: str
    hexdigest: str
    kind: str
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    chunk_elems: int | None = None
    chunks: bytes | None = None

    def __post_init__(self) -> None:
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if self.chunks is not None:
            object.__setattr__(self, "chunks", bytes(self.chunks))
            if len(self.chunks) % DIGEST_SIZE:
                raise ValueError("chunks must be a concatenation of 32-byte digests")

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hexdigest}"

    def __repr__(self) -> str:
        extra = "" if self.kind != "ndarray" else (
            f", dtype={self.dtype!r}, shape={self.shape!r}, n_chunks={self.n_chunks}"
        )
        return f"Fingerprint({str(self)!r}, kind={self.kind!r}{extra})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Fingerprint, str)):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))

    @property
    def n_chunks(self) -> int:
        """Number of per-chunk digests held (0 when none are known)."""
        return len(self.chunks) // DIGEST_SIZE if self.chunks else 0

    def chunk_digest(self, i: int) -> bytes:
        """The 32-byte digest of chunk ``i``."""
        if not 0 <= i < self.n_chunks:
            raise IndexError(f"chunk {i} out of range for {self.n_chunks} chunks")
        return self.chunks[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE]  # type: ignore[index]

    @classmethod
    def parse(cls, text: str) -> Fingerprint:
        """Read ``"<algorithm>:<hex>"`` (as stored or printed); chunk details are unknown."""
        m = _FP_TEXT.fullmatch(text.strip()) if isinstance(text, str) else None
        if m is None or len(m.group(2)) % 2:
            raise ValueError(f"not a fingerprint (expected '<algorithm>:<hex>'): {text!r}")
        algorithm, hexdigest = m.group(1), m.group(2).lower()
        if algorithm == ALGORITHM and len(hexdigest) != 2 * DIGEST_SIZE:
            raise ValueError(f"a {ALGORITHM} fingerprint has 64 hex digits: {text!r}")
        return cls(algorithm, hexdigest, "unknown")


def chunk_elems_for(nbytes: int, itemsize: int) -> int:
    """Elements per chunk: a fixed function of the array's size, chunks element-aligned.

    Chunk bytes: the largest power of two <= nbytes/64, clamped to [64 KiB, 1 MiB], for
    arrays up to 256 MiB (one chunk below 64 KiB, >= 64 chunks from 4 MiB); above 256 MiB
    the smallest power of two >= nbytes/256 (at most 256 chunks).
    """
    if nbytes <= 256 * _MIB:
        pow2 = 1 << ((nbytes // 64).bit_length() - 1) if nbytes >= 64 else 0
        chunk = min(max(pow2, 64 * _KIB), _MIB)
    else:
        chunk = 1 << (-(-nbytes // 256) - 1).bit_length()
    return max(1, chunk // max(itemsize, 1))


def chunk_range(fp: Fingerprint, i: int) -> tuple[int, int]:
    """Flat C-order element range ``[start, stop)`` covered by chunk ``i`` of ``fp``."""
    if fp.shape is None or not fp.chunk_elems:
        raise ValueError(f"{fp!r} carries no chunk layout")
    if not 0 <= i < fp.n_chunks:
        raise IndexError(f"chunk {i} out of range for {fp.n_chunks} chunks")
    size = math.prod(fp.shape)
    return i * fp.chunk_elems, min((i + 1) * fp.chunk_elems, size)


def first_differing_chunk(recorded: Fingerprint, new: Fingerprint) -> int | None:
    """Index of the first chunk whose digest differs, when both are arrays with the same
    dtype/shape/chunking; None otherwise or when identical."""
    same_layout = (
        recorded.algorithm == new.algorithm
        and recorded.shape is not None
        and (recorded.dtype, recorded.shape, recorded.chunk_elems)
        == (new.dtype, new.shape, new.chunk_elems)
        and recorded.chunks is not None
        and new.chunks is not None
        and len(recorded.chunks) == len(new.chunks)
    )
    if not same_layout or recorded == new:
        return None
    for i in range(recorded.n_chunks):
        if recorded.chunk_digest(i) != new.chunk_digest(i):
            return i
    return None
