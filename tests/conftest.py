"""Every test runs in its own temporary directory with its own registry file."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def registry_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``SEEDREG_DB`` points at a fresh file; the test runs in ``tmp_path``."""
    path = tmp_path / "registry.db"
    monkeypatch.setenv("SEEDREG_DB", str(path))
    monkeypatch.delenv("SEEDREG_REPLAY", raising=False)
    monkeypatch.delenv("SEEDREG_REPLAY_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    return path

