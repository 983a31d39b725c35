"""Library seeders (seedreg/library_seeders.py): PyTorch and TensorFlow seeded, restored, recorded and
digested when already imported; JAX keys from the run's SeedSequence; the ``seedreg.seeders``
entry-point group, exercised with a real plugin distribution on ``sys.path``."""

from __future__ import annotations

import json
import random
import sqlite3
import sys
import textwrap
import types
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import tomllib
from helpers import REPO, invoke, run_python

import seedreg
from seedreg.cli.render import render_run
from seedreg.fingerprints.encoding import fingerprint
from seedreg.seed import codec, library_seeders
from seedreg.seed.library_seeders import SeederError, library_seed

try:
    import torch
except ImportError:  # only the tests marked needs_torch skip; the entry-point and JAX tests still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (CI installs torch==2.13.0)")
#: The built-in seeders a block applies here: torch's when this process has imported it.
BUILTIN_APPLIED = {} if torch is None else {"torch": torch.__version__}


def seeders_column(path: Path, run_id: str) -> dict:
    with sqlite3.connect(path) as conn:
        return json.loads(conn.execute("SELECT seeders FROM runs WHERE id = ?", (run_id,)).fetchone()[0])


# -- PyTorch ------------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("seed", [0, 101, 2**32 + 7, 2**64 - 1])
def test_torch_stream_equals_manual_seed_then_the_same_calls(seed):
    torch.manual_seed(seed)
    expected = (torch.rand(4), torch.randn(3), torch.randint(0, 1000, (5,)), torch.randperm(10))
    torch.manual_seed(12345)  # the block, not the line above, must set the state
    with seedreg.run("torch", seed=seed):
        got = (torch.rand(4), torch.randn(3), torch.randint(0, 1000, (5,)), torch.randperm(10))
    for a, b in zip(got, expected):
        assert torch.equal(a, b)


@needs_torch
def test_torch_gets_the_low_64_bits_of_the_python_seed():
    big = 2**100 + 2**64 + 5
    with seedreg.run("big", seed=big):
        assert torch.initial_seed() == 5
    with seedreg.run("seq", seed=[3, 4]) as run:
        expected = codec.normalise([3, 4]).python_seed() & (2**64 - 1)
        assert torch.initial_seed() == expected == library_seed(run._seed)
    ss = np.random.SeedSequence(99, spawn_key=(2,))
    with seedreg.run("ss", seed=ss):
        words = ss.generate_state(2, np.uint32).astype("<u4")
        assert torch.initial_seed() == int.from_bytes(words.tobytes(), "little")


@needs_torch
def test_torch_state_is_restored_after_the_block_and_after_a_failure():
    torch.manual_seed(7)
    torch.rand(3)
    expected = torch.rand(5)
    torch.manual_seed(7)
    torch.rand(3)
    with seedreg.run("a", seed=1):
        torch.rand(100)
    with pytest.raises(ZeroDivisionError):
        with seedreg.run("b", seed=2):
            torch.randn(10)
            1 / 0
    assert torch.equal(torch.rand(5), expected)


@needs_torch
def test_nested_blocks_seed_and_restore_torch_in_turn():
    torch.manual_seed(1)
    outer_first, outer_second = torch.rand(2), torch.rand(2)
    torch.manual_seed(2)
    inner = torch.rand(2)
    with seedreg.run("outer", seed=1):
        a = torch.rand(2)
        with seedreg.run("inner", seed=2):
            b = torch.rand(2)
        c = torch.rand(2)
    assert torch.equal(a, outer_first) and torch.equal(b, inner) and torch.equal(c, outer_second)


@needs_torch
def test_run_records_the_torch_seeder_and_version(registry_path):
    with seedreg.run("rec", seed=3) as run:
        pass
    record = seedreg.Registry().get(run.id)
    assert record.seeders == {"applied": {"torch": torch.__version__}, "failed": {}, "not_seeded": {}}
    assert record.libraries["torch"] == torch.__version__
    assert record.to_json()["seeders"] == record.seeders
    assert seeders_column(registry_path, run.id)["applied"] == {"torch": torch.__version__}
    assert f"seeders     torch {torch.__version__}" in render_run(record)


@needs_torch
def test_rng_digest_covers_torch_draws_and_is_unchanged_without_seeders(monkeypatch):
    def digest(draws: int) -> str:
        with seedreg.run("d", seed=5) as run:
            torch.rand(draws)
        return seedreg.Registry().get(run.id).rng_digest

    assert digest(3) == digest(3)
    assert digest(3) != digest(4)  # only torch drew more: the digest still sees it
    monkeypatch.setenv("SEEDREG_NO_SEEDERS", "all")
    with seedreg.run("none", seed=5) as run:
        np.random.random(2)
        random.random()
        legacy = np.random.get_state(legacy=False)
        generator = run.rng.bit_generator.state
        version, internal, gauss = random.getstate()
    # exactly the pre-seeder formula: existing digests stay valid
    expected = fingerprint({"legacy": legacy, "generator": generator,
                            "random": [version, np.array(internal, dtype=np.uint64), gauss]})
    record = seedreg.Registry().get(run.id)
    assert record.rng_digest == str(expected)
    assert record.seeders["applied"] == {}
    assert record.seeders["not_seeded"] == {"torch": "seeder disabled by SEEDREG_NO_SEEDERS"}


@needs_torch
@pytest.mark.slow  # a subprocess importing torch
def test_torch_imported_after_the_block_started_is_reported(tmp_path):
    script = tmp_path / "late.py"
    script.write_text(textwrap.dedent("""
        import seedreg
        with seedreg.run("late", seed=1) as run:
            import torch
            torch.rand(2)
        print("RUN", run.id)
    """))
    run_id = run_python(script).stdout.split()[-1]
    record = seedreg.Registry().get(run_id)
    assert record.seeders["applied"] == {}
    assert record.seeders["not_seeded"] == {"torch": "imported after the block started"}
    shown = invoke("show", run_id)
    assert "! not seeded: torch (imported after the block started)" in shown.output


@needs_torch
@pytest.mark.slow  # a subprocess importing torch, then its replay
def test_replay_reproduces_a_torch_stream(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import torch
        import seedreg
        with seedreg.run("torch-train", seed=None) as run:   # a generated seed: the replay must reuse it
            weights = torch.randn(64, 8)
            run.log("weights", weights.numpy())
            run.log("batch", torch.randperm(100).numpy())
        print("RUN", run.id)
    """))
    run_id = run_python(script).stdout.split()[-1]
    result = invoke("replay", run_id, "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (block,) = report["blocks"]
    assert block["verdict"] == "identical"
    assert {o["name"]: o["state"] for o in block["outputs"]} == {"weights": "identical", "batch": "identical"}
    assert block["rng_digest"]["identical"]
    replay = seedreg.Registry().get(block["replay"])
    assert replay.seeders["applied"] == {"torch": torch.__version__}


# -- the entry-point group, with a real plugin distribution ------------------------------------


PLUGIN = '''
import numpy as np
import fakerng

class FakeSeeder:
    """Seeds fakerng.state; fakerng.FAIL names an operation to fail."""

    name = "fakerng"
    module = "fakerng"

    def _check(self, op):
        if fakerng.FAIL == op:
            raise RuntimeError(f"{op} exploded")

    def seed(self, seed):
        self._check("seed")
        fakerng.state = [seed.python_seed() % 1000]

    def save(self):
        self._check("save")
        return list(fakerng.state)

    def restore(self, state):
        self._check("restore")
        fakerng.state = list(state)

    def digest_state(self):
        self._check("digest")
        return np.array(fakerng.state, dtype=np.uint64)
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real distribution on sys.path registering ``fakerng = fakerng_seeder:FakeSeeder``."""
    site = tmp_path / "site"
    dist = site / "fakerng_seeder-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakerng-seeder\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[seedreg.seeders]\nfakerng = fakerng_seeder:FakeSeeder\nbroken = fakerng_seeder:Missing\n"
    )
    (site / "fakerng_seeder.py").write_text(PLUGIN)
    (site / "fakerng.py").write_text("__version__ = '0.1'\nstate = [0]\nFAIL = None\n")
    (site / "broken.py").write_text("")
    monkeypatch.syspath_prepend(str(site))
    for name in ("fakerng", "fakerng_seeder", "broken"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    library_seeders.entry_points.cache_clear()
    yield site
    for name in ("fakerng", "fakerng_seeder", "broken"):
        sys.modules.pop(name, None)
    library_seeders.entry_points.cache_clear()
    library_seeders.load.cache_clear()


def test_builtins_are_registered_in_pyproject_and_installed_metadata():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared["seedreg.seeders"] == library_seeders.BUILTIN
    assert declared["pytest11"] == {"seedreg": "seedreg.pytest_plugin"}
    installed = {ep.name: ep.value for ep in metadata.entry_points(group=library_seeders.GROUP)
                 if ep.value.startswith("seedreg.")}
    assert installed == library_seeders.BUILTIN, "reinstall seedreg (pip install -e .) to register its entry points"


def test_a_plugin_seeder_is_not_loaded_until_its_library_is_imported(plugin, registry_path):
    with seedreg.run("no-lib", seed=1) as run:
        pass
    assert "fakerng_seeder" not in sys.modules and "fakerng" not in sys.modules
    assert seedreg.Registry().get(run.id).seeders["applied"] == BUILTIN_APPLIED


def test_a_plugin_seeder_seeds_restores_digests_and_is_recorded(plugin):
    import fakerng

    fakerng.state = [42]
    digests = []
    for _ in range(2):
        with seedreg.run("lib", seed=1234) as run:
            assert fakerng.state == [codec.normalise(1234).python_seed() % 1000] == [234]
        digests.append(seedreg.Registry().get(run.id).rng_digest)
        assert fakerng.state == [42]
    with seedreg.run("lib", seed=1234) as run:
        fakerng.state = [235]  # drawing from the library changes the digest
    record = seedreg.Registry().get(run.id)
    assert digests[0] == digests[1] != record.rng_digest
    assert record.seeders["applied"] == {"fakerng": "0.1", **BUILTIN_APPLIED}


def test_a_seeder_failing_to_seed_restores_everything_and_records_a_failed_run(plugin):
    import fakerng

    fakerng.FAIL = "seed"
    np.random.seed(3)
    random.seed(3)
    if torch is not None:
        torch.manual_seed(3)
    expected = (np.random.random(), random.random(), torch.rand(1) if torch is not None else None)
    np.random.seed(3)
    random.seed(3)
    if torch is not None:
        torch.manual_seed(3)
    body_ran = False
    with pytest.raises(SeederError, match="seeder 'fakerng'.*failed to seed: RuntimeError: seed exploded") as caught:
        with seedreg.run("fails", seed=9):
            body_ran = True
    assert not body_ran
    assert caught.value.seeder == "fakerng" and isinstance(caught.value, seedreg.SeedregError)
    assert (np.random.random(), random.random()) == expected[:2]
    if torch is not None:
        assert torch.equal(torch.rand(1), expected[2])
    assert fakerng.state == [0]
    (record,) = seedreg.Registry().runs()
    assert record.status == "failed"
    assert "SeederError" in record.error and "seed exploded" in record.error
    assert record.seeders["failed"] == {"fakerng": str(caught.value)}
    assert "✗ failed: seeder 'fakerng'" in render_run(record)


def test_a_seeder_failing_to_restore_raises_after_restoring_the_rest(plugin):
    import fakerng

    np.random.seed(11)
    expected = np.random.random()
    np.random.seed(11)
    with pytest.raises(SeederError, match="could not restore the previous state: RuntimeError: restore exploded"):
        with seedreg.run("restore", seed=9) as run:
            fakerng.FAIL = "restore"
    assert np.random.random() == expected
    record = seedreg.Registry().get(run.id)
    assert record.status == "failed" and "restore exploded" in record.error
    assert list(record.seeders["failed"]) == ["fakerng"]


def test_a_seeder_failing_at_exit_of_a_failing_block_warns_and_keeps_the_error(plugin):
    import fakerng

    with pytest.warns(RuntimeWarning, match="could not digest its state"):
        with pytest.raises(KeyError):
            with seedreg.run("both", seed=9) as run:
                fakerng.FAIL = "digest"
                raise KeyError("body")
    record = seedreg.Registry().get(run.id)
    assert record.status == "failed" and "KeyError" in record.error


def test_a_broken_entry_point_is_reported_by_name(plugin, monkeypatch):
    import broken  # noqa: F401  (the library the broken entry point names is imported)

    with pytest.raises(SeederError, match=r"seeder 'broken' \(fakerng_seeder:Missing\) could not be loaded"):
        with seedreg.run("broken", seed=1):
            pass
    monkeypatch.setenv("SEEDREG_NO_SEEDERS", "broken")
    with seedreg.run("disabled", seed=1) as run:
        pass
    assert seedreg.Registry().get(run.id).seeders["not_seeded"] == {"broken": "seeder disabled by SEEDREG_NO_SEEDERS"}


def test_known_rng_libraries_without_a_seeder_are_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", types.ModuleType("cupy"))
    with seedreg.run("cupy", seed=1) as run:
        pass
    assert seedreg.Registry().get(run.id).seeders["not_seeded"] == {"cupy": "no seeder registered"}


def test_entry_points_are_read_once_per_process(monkeypatch, tmp_path):
    monkeypatch.setenv("SEEDREG_CACHE_DIR", str(tmp_path / "cache"))  # empty: read from the metadata, then cached
    calls = []
    real = metadata.entry_points

    def counting(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(library_seeders.metadata, "entry_points", counting)
    library_seeders.entry_points.cache_clear()
    try:
        for seed in range(3):
            with seedreg.run("cached", seed=seed):
                pass
    finally:
        library_seeders.entry_points.cache_clear()
    assert calls == [{"group": "seedreg.seeders"}]


# -- TensorFlow and JAX: run where installed -------------------------------------------------------


def test_tensorflow_stream_equals_set_seed_then_the_same_calls():
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed")
    tf.random.set_seed(101)
    expected = (tf.random.uniform([4]).numpy(), tf.random.normal([3]).numpy())
    tf.random.set_seed(5)
    with seedreg.run("tf", seed=101) as run:
        got = (tf.random.uniform([4]).numpy(), tf.random.normal([3]).numpy())
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    from tensorflow.python.eager import context

    assert context.global_seed() == 5  # restored
    assert seedreg.Registry().get(run.id).seeders["applied"]["tensorflow"] == tf.__version__


def test_jax_key_is_derived_from_the_run_seed_sequence():
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    with seedreg.run("jax", seed=101) as run:
        key = run.jax_key()
    word = int(np.random.SeedSequence(101).generate_state(1, np.uint32)[0])
    assert np.array_equal(jax.random.key_data(key), jax.random.key_data(jax.random.key(word)))
    if str(jax.random.key_impl(key)) == "threefry2x32":  # JAX's default: the word is the key's low half
        assert np.asarray(jax.random.key_data(key)).tolist() == [0, word]
    with seedreg.run("jax", seed=101) as again:
        assert np.array_equal(jax.random.key_data(again.jax_key()), jax.random.key_data(key))
    child = run.spawn(1)[0]
    with seedreg.run("jax-child", seed=child, parent=run) as worker:
        assert not np.array_equal(jax.random.key_data(worker.jax_key()), jax.random.key_data(key))


def test_jax_key_without_jax_is_a_clear_error():
    try:
        import jax  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("JAX is installed: this checks the error without it")
    with seedreg.run("nojax", seed=1) as run:
        with pytest.raises(seedreg.UsageError, match="needs JAX"):
            run.jax_key()
