"""The per-user cache of what is installed (seedreg/installed.py), exercised across real processes: the
second process reads it, a changed site folder's mtime makes it stale, a corrupt or unwritable one is
ignored. Each test has its own cache folder (``SEEDREG_CACHE_DIR``)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import pytest
from helpers import run_python

from seedreg import installed

#: Prints what a block would record from the cache, and importlib.metadata's own view beside it.
REPORT = """\
import json
from importlib import metadata
from seedreg import installed
from seedreg.recording.environment import environment
from seedreg.seed import library_seeders
view = {}
for dist in metadata.distributions():
    view.setdefault(installed.normalise(dist.metadata["Name"]), dist.version)
print(json.dumps({
    "packages": environment().packages, "metadata": dict(sorted(view.items())),
    "platform": environment().platform,
    "seeders": sorted([ep.name, ep.value] for ep in library_seeders.entry_points()),
    "metadata_seeders": sorted([ep.name, ep.value] for ep in metadata.entry_points(group="seedreg.seeders")),
}))
"""

PAST = 1_600_000_000  # an mtime long ago: a site folder written by the test is then old enough to be cached


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(installed.CACHE_ENV, str(folder))
    return folder


def report(tmp_path: Path, **env: str) -> dict:
    script = tmp_path / "report.py"
    script.write_text(REPORT)
    return json.loads(run_python(script, env=env).stdout)


def cache_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("installed-*.json"))


def site_folder(tmp_path: Path) -> Path:
    """A folder named like an environment's site-packages, on ``PYTHONPATH``, last modified long ago."""
    site = tmp_path / "env" / "site-packages"
    site.mkdir(parents=True)
    os.utime(site, (PAST, PAST))
    return site


def install(site: Path, name: str, version: str, seeder: str | None = None) -> None:
    """What an installer leaves: a ``NAME-VERSION.dist-info`` folder (with entry points when given)."""
    dist = site / f"{name}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if seeder:
        (dist / "entry_points.txt").write_text(f"[seedreg.seeders]\n{seeder}\n")


def test_the_first_process_writes_the_cache_and_the_second_reads_it(tmp_path: Path, cache: Path):
    first = report(tmp_path)
    assert first["packages"] == first["metadata"]  # the recorded list is importlib.metadata's view
    assert first["packages"]["numpy"] and first["packages"]["seedreg"]
    assert first["seeders"] == first["metadata_seeders"] and first["platform"] == platform.platform()
    [file] = cache_files(cache)
    doc = json.loads(file.read_text())
    assert doc["format"] == installed.FORMAT and doc["entry_points"]["seedreg.seeders"] == first["metadata_seeders"]
    # What the second process records comes from the file while every site folder's mtime matches it:
    # a package (and a seeder) only the file names proves it was read.
    listed = next(found for _, _, found in doc["sites"] if "numpy" in found)
    listed["only-in-the-cache"] = "1.0"
    doc["entry_points"]["seedreg.seeders"].append(["cachedlib", "cachedlib_seeder:Seeder"])
    file.write_text(json.dumps(doc))
    second = report(tmp_path)
    assert second["packages"] == {**first["metadata"], "only-in-the-cache": "1.0"}
    assert ["cachedlib", "cachedlib_seeder:Seeder"] in second["seeders"]
    assert cache_files(cache) == [file]


def test_installing_or_removing_a_distribution_makes_the_cache_stale(tmp_path: Path, cache: Path):
    site = site_folder(tmp_path)
    env = {"PYTHONPATH": str(site)}
    assert "fakepkg" not in report(tmp_path, **env)["packages"]
    [file] = cache_files(cache)
    assert [str(site), PAST * 10**9, {}] in json.loads(file.read_text())["sites"]

    install(site, "fakepkg", "1.0", seeder="fakepkg = fakepkg_seeder:Seeder")  # changes the folder's mtime
    after = report(tmp_path, **env)
    assert after["packages"]["fakepkg"] == "1.0" and after["packages"] == after["metadata"]
    assert ["fakepkg", "fakepkg_seeder:Seeder"] in after["seeders"]

    os.utime(site, (PAST + 1, PAST + 1))  # old enough to be cached again: the next process rewrites the file
    assert report(tmp_path, **env)["packages"]["fakepkg"] == "1.0"
    assert [str(site), (PAST + 1) * 10**9, {"fakepkg": "1.0"}] in json.loads(file.read_text())["sites"]

    (site / "fakepkg-1.0.dist-info" / "METADATA").unlink()
    (site / "fakepkg-1.0.dist-info" / "entry_points.txt").unlink()
    (site / "fakepkg-1.0.dist-info").rmdir()  # uninstalled
    gone = report(tmp_path, **env)
    assert "fakepkg" not in gone["packages"] and "fakepkg" not in dict(gone["seeders"])


def test_a_site_folder_modified_just_now_is_not_cached(tmp_path: Path, cache: Path):
    site = tmp_path / "env" / "site-packages"
    site.mkdir(parents=True)
    install(site, "fresh", "2.0")  # an install that may still be under way
    assert report(tmp_path, PYTHONPATH=str(site))["packages"]["fresh"] == "2.0"
    assert cache_files(cache) == []


@pytest.mark.parametrize("content", [b"", b"\xff\xfe not json", b"[1, 2]", b'{"format": 1, "sites": "x"}',
                                     b'{"format": 1, "sites": [[1, 2, 3]], "entry_points": [], "platform": 7}',
                                     b"[" * 100_000])
def test_a_corrupt_cache_file_is_ignored_and_replaced(tmp_path: Path, cache: Path, content: bytes):
    expected = report(tmp_path)
    [file] = cache_files(cache)
    file.write_bytes(content)
    again = report(tmp_path)
    assert again == expected and again["packages"] == again["metadata"]
    assert json.loads(file.read_text())["format"] == installed.FORMAT


def test_an_unusable_cache_folder_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be\n")
    monkeypatch.setenv(installed.CACHE_ENV, str(blocker / "cache"))
    done = report(tmp_path)
    assert done["packages"] == done["metadata"] and done["seeders"] == done["metadata_seeders"]


def test_a_distribution_outside_the_site_folders_is_read_live(tmp_path: Path, cache: Path):
    """The script's folder and ``PYTHONPATH`` are listed in every process; a plugin there is found at once."""
    report(tmp_path)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    install(plugins, "localplugin", "0.3", seeder="localplugin = localplugin_seeder:Seeder")
    done = report(tmp_path, PYTHONPATH=str(plugins))
    assert done["packages"]["localplugin"] == "0.3" and done["packages"] == done["metadata"]
    assert ["localplugin", "localplugin_seeder:Seeder"] in done["seeders"]


def test_the_cache_folder_defaults_to_the_users_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv(installed.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert installed.cache_dir() == str(tmp_path / "xdg" / "seedreg")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert installed.cache_dir() == str(tmp_path / "home" / ".cache" / "seedreg")



def test_a_source_trees_unversioned_egg_info_makes_entry_points_live(tmp_path: Path, cache: Path):
    """``python -c`` in a source tree: its ``NAME.egg-info`` (no version in the name) is on ``sys.path`` too."""
    report(tmp_path)
    tree = tmp_path / "tree"
    egg = tree / "treeplugin.egg-info"
    egg.mkdir(parents=True)
    (egg / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: treeplugin\nVersion: 0.1\n")
    (egg / "entry_points.txt").write_text("[seedreg.seeders]\ntreeplugin = treeplugin_seeder:Seeder\n")
    done = report(tmp_path, PYTHONPATH=str(tree))
    assert ["treeplugin", "treeplugin_seeder:Seeder"] in done["seeders"] and done["seeders"] == done["metadata_seeders"]


def source_tree(tmp_path: Path, seeders: str) -> Path:
    """A project folder with its ``NAME.egg-info`` (as an editable install leaves it), all written long ago."""
    tree = tmp_path / "tree"
    egg = tree / "treeplugin.egg-info"
    egg.mkdir(parents=True, exist_ok=True)
    (egg / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: treeplugin\nVersion: 0.1\n")
    (egg / "entry_points.txt").write_text(f"[seedreg.seeders]\n{seeders}\n")
    for path in (egg / "entry_points.txt", egg):
        os.utime(path, (PAST, PAST))
    return tree


def test_a_source_trees_entry_points_are_kept_for_its_layout_and_a_change_there_is_seen(tmp_path: Path, cache: Path):
    """A script run from a project's folder: entry points are read over the whole path once, then from the file
    while that folder's distributions and their entry_points.txt keep their modification times."""
    tree = source_tree(tmp_path, "treeplugin = treeplugin_seeder:Seeder")
    env = {"PYTHONPATH": str(tree)}
    first = report(tmp_path, **env)
    assert ["treeplugin", "treeplugin_seeder:Seeder"] in first["seeders"] and first["seeders"] == first["metadata_seeders"]
    [file] = cache_files(cache)
    doc = json.loads(file.read_text())
    [layout] = doc["beside"].values()
    layout["seedreg.seeders"].append(["cachedtree", "cachedtree_seeder:Seeder"])  # only the file names it
    file.write_text(json.dumps(doc))
    assert ["cachedtree", "cachedtree_seeder:Seeder"] in report(tmp_path, **env)["seeders"]

    source_tree(tmp_path, "treeplugin = treeplugin_seeder:Seeder\nother = other_seeder:Seeder")
    os.utime(tree / "treeplugin.egg-info" / "entry_points.txt", (PAST + 1, PAST + 1))  # edited, long ago
    changed = report(tmp_path, **env)
    assert ["other", "other_seeder:Seeder"] in changed["seeders"] and changed["seeders"] == changed["metadata_seeders"]

    (tree / "treeplugin.egg-info" / "entry_points.txt").unlink()
    os.utime(tree / "treeplugin.egg-info", (PAST + 2, PAST + 2))
    gone = report(tmp_path, **env)
    assert "treeplugin" not in dict(gone["seeders"]) and gone["seeders"] == gone["metadata_seeders"]


def test_a_source_tree_written_just_now_is_read_live_and_not_kept(tmp_path: Path, cache: Path):
    tree = source_tree(tmp_path, "treeplugin = treeplugin_seeder:Seeder")
    os.utime(tree / "treeplugin.egg-info" / "entry_points.txt")  # now: an install may still be writing it
    done = report(tmp_path, PYTHONPATH=str(tree))
    assert ["treeplugin", "treeplugin_seeder:Seeder"] in done["seeders"]
    assert all("beside" not in json.loads(file.read_text()) for file in cache_files(cache))
