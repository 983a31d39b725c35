"""The typed record of an environment: interpreter, platform, packages; shared by the runs recorded in it.

Its own module, apart from :mod:`seedreg.records`: a with-block records environments but reads no
runs, and the run record's dataclass is the costliest of a first block's imports.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The fields of an environment as the ``environments`` table and export lines hold them, its digest first.
ENVIRONMENT_FIELDS = ("digest", "python_version", "python_implementation", "platform", "machine", "numpy_version",
                      "blas", "packages")


@dataclass(frozen=True)
class EnvironmentRecord:
    """Interpreter, platform and installed packages: one environment, shared by every run recorded in it."""

    python_version: str
    python_implementation: str
    platform: str
    machine: str
    numpy_version: str | None
    blas: str | None
    packages: dict[str, str] = field(default_factory=dict)

    @functools.cached_property
    def packages_json(self) -> str:
        """The packages as stored: JSON with sorted keys."""
        return json.dumps(self.packages, sort_keys=True, separators=(",", ":"))

    @functools.cached_property
    def digest(self) -> str:
        """What identifies the environment (equal environments share one row): BLAKE3 of its fields."""
        import blake3

        parts = [self.python_version, self.python_implementation, self.platform, self.machine,
                 self.numpy_version or "", self.blas or "", self.packages_json]
        return blake3.blake3("\x00".join(parts).encode()).hexdigest()

    def as_row(self) -> dict[str, Any]:
        """The fields of :data:`ENVIRONMENT_FIELDS` as stored and exported (packages as JSON text)."""
        return {"digest": self.digest, "python_version": self.python_version,
                "python_implementation": self.python_implementation, "platform": self.platform,
                "machine": self.machine, "numpy_version": self.numpy_version, "blas": self.blas,
                "packages": self.packages_json}

    def to_json(self) -> dict[str, Any]:
        """The environment as JSON output shows it: :meth:`as_row` with the packages as an object."""
        return {**self.as_row(), "packages": self.packages}


def environment_record(row: Mapping[str, Any], prefix: str = "") -> EnvironmentRecord:
    """An ``environments`` row, or an export line's environment, as its record (columns named
    ``prefix`` + field); raises TypeError or ValueError when its packages are not JSON text."""
    return EnvironmentRecord(
        python_version=row[prefix + "python_version"], python_implementation=row[prefix + "python_implementation"],
        platform=row[prefix + "platform"], machine=row[prefix + "machine"],
        numpy_version=row[prefix + "numpy_version"], blas=row[prefix + "blas"],
        packages=json.loads(row[prefix + "packages"]),
    )
