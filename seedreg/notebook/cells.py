"""The code cells of an ``.ipynb`` file: their digest, read once per file change (path, mtime, size).

A notebook's digest covers its code cells' sources in file order, not the file's bytes, which
change with every save of outputs: ``blake3:`` of the JSON array of the sources, each without
trailing newlines (as IPython stores what it ran). Each cell also gets a short digest (64-bit
BLAKE3, 16 hex digits: what a block's row stores once per cell its kernel ran), the one a kernel's
execution history is compared with (:func:`source_digest`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import blake3


def normalise(source: str | list[str]) -> str:
    """A cell's source as a kernel runs and remembers it: lines joined, trailing newlines dropped."""
    text = "".join(source) if isinstance(source, list) else source
    return text.rstrip("\n")


def source_digest(source: str) -> str:
    """The 64-bit BLAKE3 (16 hex digits) of one cell's normalised source."""
    return blake3.blake3(normalise(source).encode("utf-8", "surrogatepass")).hexdigest(length=8)


@dataclass(frozen=True)
class CodeCells:
    """A notebook's code cells in file order: the notebook digest and one digest per cell."""

    digest: str
    digests: tuple[str, ...]
    #: Indexes of the code cells a kernel runs (a blank cell never reaches its history), and their digests.
    runnable: tuple[int, ...]
    runnable_digests: list[str]
    first_lines: tuple[str, ...]


def first_line(source: str, limit: int = 200) -> str:
    """The first non-blank line of a cell, stripped and clipped to ``limit`` characters."""
    for line in source.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def parse(text: str | bytes) -> CodeCells:
    """The code cells of a notebook's JSON text (nbformat 4); ValueError when it is not one."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError("not a Jupyter notebook (nbformat 4): no list of cells")
    sources = [normalise(cell.get("source") or "") for cell in data["cells"]
               if isinstance(cell, dict) and cell.get("cell_type") == "code"]
    encoded = json.dumps(sources, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    digests = tuple(source_digest(source) for source in sources)
    runnable = tuple(i for i, source in enumerate(sources) if source.strip())
    return CodeCells(
        digest="blake3:" + blake3.blake3(encoded).hexdigest(), digests=digests, runnable=runnable,
        runnable_digests=[digests[i] for i in runnable], first_lines=tuple(first_line(source) for source in sources),
    )


_cache: dict[str, tuple[tuple[int, int], CodeCells]] = {}


def read(path: str) -> CodeCells | None:
    """The code cells of the notebook at ``path``, re-read only when its mtime or size changed;
    None when it is not a readable notebook file."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = (stat.st_mtime_ns, stat.st_size)
    hit = _cache.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    try:
        with open(path, "rb") as handle:
            found = parse(handle.read())
    except (OSError, ValueError):
        return None
    _cache[path] = (key, found)
    return found
