"""Who a test is: its full node id (module path included, under ``--pyargs`` too), its seed, and
the command-line argument that selects it again from the session's directory."""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

import pytest

_WORDS = struct.Struct("<4I")


def node_seed(root: int, nodeid: str) -> list[int]:
    """The seed of test ``nodeid`` under root seed ``root``: ``[root, *4 LE uint32 of BLAKE3(nodeid)[:16]]``."""
    from blake3 import blake3

    return [root, *_WORDS.unpack(blake3(nodeid.encode("utf-8")).digest(length=16))]


def _fs_node(node: pytest.Item | pytest.Collector) -> pytest.File | pytest.Directory | None:
    """The file or directory collector a node belongs to (itself when it is one)."""
    found: pytest.Item | pytest.Collector | None = node
    while found is not None and not isinstance(found, (pytest.File, pytest.Directory)):
        found = found.parent
    return found


class Identity:
    """Names nodes the same way whatever the node ids pytest made (``--pyargs`` makes them relative
    to the argument, or empty): by path from the root directory, else from the ``sys.path`` entry
    the module was found on (``sklearn/utils/tests/test_random.py::test_x``)."""

    def __init__(self, config: pytest.Config) -> None:
        self.rootpath = Path(config.rootpath).resolve()
        self.invocation_dir = Path(config.invocation_params.dir).resolve()
        self.pyargs = bool(config.option.pyargs)
        # sys.path as the session started (before pytest inserts test directories), longest first.
        entries = {Path(entry or os.getcwd()).resolve() for entry in sys.path if os.path.isdir(entry or ".")}
        self.search = sorted(entries, key=lambda p: len(p.parts), reverse=True)
        self._paths: dict[Path, tuple[str, bool]] = {}
        self._selections: dict[Path, str] = {}

    def _path_id(self, path: Path) -> tuple[str, bool]:
        """``(name, from_sys_path)``: the path from the root directory, else from a ``sys.path`` entry, else absolute."""
        known = self._paths.get(path)
        if known is None:
            real = path.resolve()
            if real == self.rootpath:
                known = ("", False)
            elif real.is_relative_to(self.rootpath):
                known = (real.relative_to(self.rootpath).as_posix(), False)
            else:
                base = next((entry for entry in self.search if real.is_relative_to(entry)), None)
                known = (real.relative_to(base).as_posix(), True) if base else (real.as_posix(), False)
            self._paths[path] = known
        return known

    def full_id(self, node: pytest.Item | pytest.Collector) -> str:
        """The node's id with its module path: pytest's node id whenever the file is under the root directory."""
        fs = _fs_node(node)
        if fs is None:  # the session
            return node.nodeid
        name, _ = self._path_id(fs.path)
        return name + node.nodeid[len(fs.nodeid):]

    def selection(self, item: pytest.Item) -> str:
        """The argument that selects ``item`` when pytest runs from the session's directory."""
        fs = _fs_node(item)
        if fs is None:
            return item.nodeid
        prefix = self._selections.get(fs.path)
        if prefix is None:
            prefix = self._selections[fs.path] = self._file_argument(fs.path)
        return prefix + item.nodeid[len(fs.nodeid):]

    def _file_argument(self, path: Path) -> str:
        """A file from the session's directory; else, under ``--pyargs``, its module; else its absolute path."""
        real = path.resolve()
        if real.is_relative_to(self.invocation_dir):
            return real.relative_to(self.invocation_dir).as_posix() or "."
        name, from_sys_path = self._path_id(path)
        if self.pyargs and from_sys_path and name.endswith(".py"):
            return name[: -len(".py")].removesuffix("/__init__").replace("/", ".")
        return real.as_posix()

    def setup_key(self, node: pytest.Item | pytest.Collector) -> str:
        """What seeds a collector's own setup and teardown (``setup_module`` of a package, …)."""
        return f"setup:{self.full_id(node)}"

    def fixture_key(self, request: pytest.FixtureRequest, argname: str) -> str:
        """What seeds a wider-scope fixture: its name and the node of its scope, not the test that needed it."""
        return f"fixture:{self.full_id(request.node)}::{argname}"
