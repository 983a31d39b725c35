"""The wheel ships the migrations: a non-editable install creates databases from anywhere."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import REPO


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
