"""What is installed (distributions, entry points) and the platform string, cached per user across processes.

A run records them once per process; read afresh they cost a new process about 10 ms (a listing of
every ``sys.path`` folder, every ``entry_points.txt``, a ``uname -p`` subprocess for the platform), so
they are kept in one small JSON file per environment and read back in a fraction of a millisecond.

How a stale cache is detected:

- The file is ``installed-<key>.json`` in ``$SEEDREG_CACHE_DIR`` (default ``$XDG_CACHE_HOME/seedreg``,
  else ``~/.cache/seedreg``); ``<key>`` hashes ``sys.prefix``, ``sys.executable`` and the site folders.
- The *site folders* are the ``sys.path`` entries inside ``sys.prefix``/``sys.base_prefix`` or named
  ``site-packages``/``dist-packages``: where installers put distributions. The file keeps each one's
  modification time (ns) with the distributions found in it. Installing, upgrading or uninstalling
  adds or removes a ``*.dist-info`` (or ``*.egg-info``) folder there, which changes that folder's
  mtime: one mtime that differs, or another list of site folders, makes the file stale, and it is
  rebuilt and rewritten. A folder modified in the last 2 s is not cached (an install still under way
  could change it again within the same mtime tick).
- The other entries (the script's folder, ``PYTHONPATH``, ``''``) are listed in every process. When one
  holds a distribution (a source tree's ``NAME.egg-info``: ``python -c`` or a script in a project's
  folder), entry points are read from :mod:`importlib.metadata` over the whole path, and kept for that
  layout: keyed by each such folder's place on ``sys.path`` and the modification times of its
  distribution folders and their ``entry_points.txt`` (a few layouts per environment).
- The platform string is kept with ``os.uname()``, the C library's version and ``sys.executable``.
- Written atomically (a temporary file renamed over it). A file that cannot be read, parsed or written
  is ignored: the values are then computed as without a cache, never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from importlib import metadata
from typing import Any, TypeGuard

FORMAT = 1
CACHE_ENV = "SEEDREG_CACHE_DIR"
_RECENT_NS = 2_000_000_000  # a site folder modified this recently is not cached
_SITE_NAMES = ("site-packages", "dist-packages")
_SUFFIXES = (".dist-info", ".egg-info")
_DIST_RE = re.compile(r"^(?P<name>.+?)-(?P<version>[^-]+?)\.(?:dist-info|egg-info)$")


def normalise(name: str) -> str:
    """A distribution's name as the registry stores it (PEP 503: lower case, runs of ``-_.`` as ``-``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def cache_dir() -> str:
    """The folder of the cache file: ``$SEEDREG_CACHE_DIR``, else ``$XDG_CACHE_HOME/seedreg`` or ``~/.cache/seedreg``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "seedreg")


def listing(folder: str) -> dict[str, str]:
    """The distributions in one folder, read from the ``*.dist-info``/``*.egg-info`` names (no metadata parsed)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return {}
    found: dict[str, str] = {}
    for name in names:
        if name.endswith(_SUFFIXES) and (match := _DIST_RE.match(name)):
            found.setdefault(normalise(match["name"]), match["version"])
    return found


def _mtime(folder: str) -> int | None:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return None


class _View:
    """``sys.path`` now (each entry's folder, and whether it is a site folder) and the cache file of its site folders."""

    def __init__(self) -> None:
        roots = {os.path.abspath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
        self.entries: list[tuple[str, bool]] = []
        for entry in sys.path:
            if not isinstance(entry, str):
                continue
            folder = os.path.abspath(entry or ".")
            site = os.path.basename(folder) in _SITE_NAMES or any(
                folder == root or folder.startswith(root + os.sep) for root in roots)
            self.entries.append((folder, site))
        self.key: list[list[Any]] = [[folder, _mtime(folder)] for folder, site in self.entries if site]
        name = json.dumps([FORMAT, sys.prefix, sys.executable, [folder for folder, _ in self.key]])
        self.file = os.path.join(cache_dir(), f"installed-{hashlib.sha256(name.encode()).hexdigest()[:16]}.json")
        self.doc = _read(self.file)
        self.sites = _cached_sites(self.doc, self.key)  # None: stale or absent

    def site_listings(self, write: bool = True) -> list[dict[str, str]]:
        """Each site folder's distributions: from the file, or listed now (and the file rewritten)."""
        if self.sites is None:
            self.sites = [listing(folder) for folder, _ in self.key]
            self.doc = {"format": FORMAT, "platform": self.doc.get("platform"),
                        "sites": [[*key, found] for key, found in zip(self.key, self.sites, strict=True)]}
            if write:
                self.write()
        return self.sites

    def beside(self) -> list[list[Any]] | None:
        """The distributions outside the site folders (the script's, ``PYTHONPATH``), as what a cached answer
        is kept under: each folder that holds one, its place on ``sys.path``, and per distribution folder
        (an unversioned ``*.egg-info`` of a source tree too) its mtime and its ``entry_points.txt``'s.
        ``[]`` when there are none; None when they cannot be cached (an ``.egg``, a file just modified)."""
        found: list[list[Any]] = []
        now = time.time_ns()
        for place, (folder, site) in enumerate(self.entries):
            if site:
                continue
            if folder.endswith(".egg"):
                return None
            try:
                names = sorted(name for name in os.listdir(folder) if name.endswith(_SUFFIXES))
            except OSError:
                continue
            if not names:
                continue
            dists: list[list[Any]] = []
            for name in names:
                path = os.path.join(folder, name)
                mtimes = (_mtime(path), _mtime(os.path.join(path, "entry_points.txt")))
                if any(mtime is not None and now - mtime < _RECENT_NS for mtime in mtimes):
                    return None  # being written: the next process caches it
                dists.append([name, *mtimes])
            found.append([place, folder, dists])
        return found

    def write(self) -> None:
        """Replace the file atomically; skipped while a site folder was just modified; failures are ignored."""
        now = time.time_ns()
        if any(mtime is not None and now - mtime < _RECENT_NS for _, mtime in self.key):
            return
        folder = os.path.dirname(self.file)
        try:
            os.makedirs(folder, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=".installed-", suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    json.dump(self.doc, out, separators=(",", ":"))
                os.replace(temporary, self.file)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError:
            pass


def _read(path: str) -> dict[str, Any]:
    """The cache file's contents; ``{}`` when it is missing, unreadable, corrupt or of another format."""
    try:
        with open(path, encoding="utf-8") as handle:
            doc = json.load(handle)
    except Exception:  # unreadable, not JSON, not UTF-8, nested too deep: a cache is only ever a shortcut
        return {}
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else {}


def _cached_sites(doc: dict[str, Any], key: list[list[Any]]) -> list[dict[str, str]] | None:
    """The file's listings when it describes exactly these site folders at these mtimes; else None."""
    sites = doc.get("sites")
    if not isinstance(sites, list) or len(sites) != len(key):
        return None
    found = []
    for item, (folder, mtime) in zip(sites, key, strict=True):
        if not (isinstance(item, list) and len(item) == 3 and item[0] == folder and item[1] == mtime
                and isinstance(item[2], dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in item[2].items())):
            return None
        found.append(item[2])
    return found


def packages() -> dict[str, str]:
    """Each distribution on ``sys.path`` with its version, the first one found winning (as imports do); sorted."""
    view = _View()
    sites = iter(view.site_listings())
    found: dict[str, str] = {}
    for folder, site in view.entries:
        for name, version in (next(sites) if site else listing(folder)).items():
            found.setdefault(name, version)
    return dict(sorted(found.items()))


def entry_points(group: str) -> tuple[metadata.EntryPoint, ...]:
    """What ``importlib.metadata.entry_points(group=group)`` returns, read from the cache while it is fresh.

    The file keeps the groups under ``entry_points`` for the site folders alone, and under ``beside``
    per layout (:meth:`_View.beside`) when distributions outside them are on the path too.
    """
    view = _View()
    beside = view.beside()
    if beside is None:
        return tuple(metadata.entry_points(group=group))
    layout = json.dumps(beside) if beside else None
    groups = _layout_groups(view.doc, layout) if view.sites is not None else None
    cached = groups.get(group) if groups is not None else None
    if _entry_point_items(cached):
        return tuple(metadata.EntryPoint(name, value, group) for name, value in cached)
    found = tuple(metadata.entry_points(group=group))
    view.site_listings(write=False)  # a stale file is rebuilt first: what it held of any layout is gone
    groups = {**(_layout_groups(view.doc, layout) or {}), group: [[ep.name, ep.value] for ep in found]}
    if layout is None:
        view.doc["entry_points"] = groups
    else:
        layouts = view.doc.get("beside")
        others = [(key, value) for key, value in (layouts.items() if isinstance(layouts, dict) else ())
                  if key != layout and isinstance(value, dict)]
        view.doc["beside"] = {**dict(others[-(_LAYOUTS - 1):]), layout: groups}  # the newest others, then this one
    view.write()
    return found


#: How many layouts with distributions outside the site folders one cache file keeps (the newest).
_LAYOUTS = 8


def _layout_groups(doc: dict[str, Any], layout: str | None) -> dict[str, Any] | None:
    """The cached groups of a layout (None: the site folders alone), or None when the file has none."""
    if layout is None:
        groups = doc.get("entry_points")
    else:
        layouts = doc.get("beside")
        groups = layouts.get(layout) if isinstance(layouts, dict) else None
    return groups if isinstance(groups, dict) else None


def _entry_point_items(cached: Any) -> TypeGuard[list[list[str]]]:
    """Whether a cached group is a list of ``[name, value]`` pairs of strings."""
    return isinstance(cached, list) and all(isinstance(item, list) and len(item) == 2
                                            and all(isinstance(part, str) for part in item) for item in cached)


def platform_text() -> str:
    """``platform.platform()``, which on Linux runs ``uname -p``; kept while the machine and interpreter are the same."""
    import platform

    if not hasattr(os, "uname"):
        return platform.platform()
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        libc = ""
    key = [*os.uname(), libc, sys.executable, sys.version]
    view = _View()
    cached = view.doc.get("platform")
    if isinstance(cached, list) and len(cached) == 2 and cached[0] == key and isinstance(cached[1], str):
        return cached[1]
    text = platform.platform()
    if not view.doc:
        view.doc = {"format": FORMAT}
    view.doc["platform"] = [key, text]
    view.write()
    return text
