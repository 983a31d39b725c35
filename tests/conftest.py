"""Every test runs in its own temporary directory with its own registry file."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def registry_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``SEEDREG_DB`` points at a fresh file, spool and cache are the test's own; the test runs in ``tmp_path``."""
    path = tmp_path / "registry.db"
    monkeypatch.setenv("SEEDREG_DB", str(path))
    monkeypatch.setenv("SEEDREG_SPOOL", str(tmp_path / "spool"))
    monkeypatch.setenv("SEEDREG_CACHE_DIR", str(tmp_path / "cache"))  # the package-list cache, per test
    monkeypatch.delenv("SEEDREG_REPLAY", raising=False)
    monkeypatch.delenv("SEEDREG_REPLAY_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    return path


POSTGRES_URL = os.environ.get("SEEDREG_TEST_POSTGRES_URL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests that use the ``backend`` fixture run on SQLite and on PostgreSQL."""
    if "backend" in metafunc.fixturenames:
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("backend", ["sqlite"] if only_sqlite else ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The registry backend of this test: the SQLite file, or a fresh PostgreSQL database."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        yield kind
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need SEEDREG_TEST_POSTGRES_URL (.ci/postgres.sh starts a server)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from seedreg.db import engines

    name = f"seedreg_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(POSTGRES_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("SEEDREG_DB", url)
    monkeypatch.setenv("SEEDREG_STORE", str(tmp_path / "store"))
    try:
        yield kind
    finally:
        engines.forget(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
