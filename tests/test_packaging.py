"""The wheel ships the migrations: a non-editable install creates databases from anywhere; and
pyproject's explicit package list names every subpackage and its data files."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO


def _setuptools() -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def _package_roots(config: dict[str, Any]) -> dict[str, Path]:
    """Each top of a package tree (``seedreg``, and the directories ``package-dir`` maps in) and its directory."""
    return {"seedreg": REPO / "seedreg", **{name: REPO / d for name, d in config.get("package-dir", {}).items()}}


def _walk(config: dict[str, Any]) -> dict[str, Path]:
    """Every directory of the package trees (no caches) under the dotted name setuptools gives it."""
    found: dict[str, Path] = {}
    for top, root in _package_roots(config).items():
        for directory in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
            rel = directory.relative_to(root).parts
            if "__pycache__" in rel or any(part.startswith(".") for part in rel):
                continue
            found[".".join((top, *rel))] = directory
    return found


def missing_subpackages(config: dict[str, Any]) -> list[str]:
    """The directories with an ``__init__.py`` that ``packages`` does not list."""
    listed = set(config["packages"])
    return sorted(name for name, d in _walk(config).items() if (d / "__init__.py").is_file() and name not in listed)


def unshipped_data(config: dict[str, Any]) -> list[str]:
    """The files (not Python sources) no listed package's ``package-data`` patterns take."""
    listed, data = set(config["packages"]), config.get("package-data", {})
    return sorted(
        str(f.relative_to(REPO))
        for name, d in _walk(config).items() for f in d.iterdir()
        if f.is_file() and f.suffix not in (".py", ".pyc")
        and not (name in listed and any(fnmatch.fnmatch(f.name, pattern) for pattern in data.get(name, ())))
    )


def test_every_subpackage_is_listed_in_pyproject():
    config = _setuptools()
    assert missing_subpackages(config) == [], "add these to [tool.setuptools] packages in pyproject.toml"
    # and the check itself notices a missing one
    assert missing_subpackages({**config, "packages": [p for p in config["packages"] if p != "seedreg.db"]}) == [
        "seedreg.db"]


def test_every_listed_package_exists():
    config = _setuptools()
    assert sorted(set(config["packages"]) - _walk(config).keys()) == []


def test_every_data_file_is_shipped():
    config = _setuptools()
    assert unshipped_data(config) == [], "list these in [tool.setuptools.package-data] in pyproject.toml"
    without_templates = {**config, "package-data": {k: v for k, v in config["package-data"].items()
                                                    if k != "seedreg.ui.templates.parts"}}
    assert "seedreg/ui/templates/parts/run.html" in unshipped_data(without_templates)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(REPO)],
        check=True, capture_output=True, text=True, timeout=600,
    )
    return next(out.glob("seedreg-*.whl"))


@pytest.mark.slow
def test_wheel_contains_the_migrations_and_env(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "seedreg/migrations/env.py" in names
    assert "seedreg/migrations/script.py.mako" in names
    assert any(n.startswith("seedreg/migrations/versions/0001_") for n in names)
    assert "seedreg/py.typed" in names


@pytest.mark.slow
def test_non_editable_install_creates_a_registry_from_another_directory(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)],
                   check=True, capture_output=True, text=True, timeout=900)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = elsewhere / "exp.py"
    script.write_text(
        "import numpy as np, seedreg\n"
        "with seedreg.run('wheel', seed=101) as run:\n"
        "    run.log('x', np.random.randint(1, 100, 5))\n"
        "print(run.id)\n"
    )
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([str(python), str(script)], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert (elsewhere / "seedreg.db").is_file()
    listed = subprocess.run([str(venv / "bin" / "seedreg"), "show", run_id[:8]], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    assert run_id in listed.stdout and "completed" in listed.stdout
    origin = subprocess.run([str(python), "-c", "import seedreg.db.schema as s; print(s.migrations_location())"],
                            cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert "site-packages" in origin.stdout
