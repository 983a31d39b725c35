"""Seeding (DESIGN §1): what a with-block does to np.random, run.rng and random, and what it records."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import seedreg
from seedreg.errors import InvalidSeedError, UnknownRunError


def python_seed_of(ss: np.random.SeedSequence) -> int:
    """The documented int ``random.seed`` gets for a sequence or SeedSequence seed."""
    return int.from_bytes(ss.generate_state(4, np.uint32).astype("<u4").tobytes(), "little")


def legacy_from(ss: np.random.SeedSequence) -> np.random.RandomState:
    return np.random.RandomState(np.random.MT19937(ss))


# -- int seeds below 2**32: the classic streams --------------------------------------------


def test_legacy_randint_matches_np_random_seed():
    np.random.seed(101)
    expected = np.random.randint(1, 100, 5)
    np.random.seed(0)  # make sure the block, not the line above, set the state
    with seedreg.run("x", seed=101):
        got = np.random.randint(1, 100, 5)
    np.testing.assert_array_equal(got, expected)


def test_legacy_permutation_matches_np_random_seed():
    np.random.seed(101)
    expected = np.random.permutation(50)
    with seedreg.run("x", seed=101):
        got = np.random.permutation(50)
    np.testing.assert_array_equal(got, expected)


def test_rng_is_default_rng_of_the_seed():
    expected = np.random.default_rng(101).normal(size=8)
    with seedreg.run("x", seed=101) as run:
        got = run.rng.normal(size=8)
    assert isinstance(run.rng, np.random.Generator)
    np.testing.assert_array_equal(got, expected)


def test_python_random_matches_random_seed():
    random.seed(101)
    expected = [random.random() for _ in range(3)]
    random.seed(5)
    with seedreg.run("x", seed=101):
        got = [random.random() for _ in range(3)]
    assert got == expected


def test_int_seed_is_recorded(registry_path: Path):
    with seedreg.run("x", seed=101) as run:
        pass
    assert run.seed == 101 and run.seed_source == "given"
    record = seedreg.Registry().get(run.id)
    assert record.seed == 101
    assert record.seed_kind == "int"
    assert record.seed_source == "given"
    assert record.spawn_key == ()
    assert record.parent is None


# -- large int seeds: MT19937(SeedSequence(seed)) for the legacy state ----------------------


@pytest.mark.parametrize("seed", [2**32, 2**100 + 7, 2**128 - 1])
def test_large_seed_seeds_legacy_through_seed_sequence(seed: int):
    ss = np.random.SeedSequence(seed)
    expected_legacy = legacy_from(ss).randint(0, 2**31, 6)
    expected_rng = np.random.default_rng(seed).integers(0, 2**62, 4)
    random.seed(seed)
    expected_py = random.random()
    with seedreg.run("big", seed=seed) as run:
        legacy = np.random.randint(0, 2**31, 6)
        drawn = run.rng.integers(0, 2**62, 4)
        py = random.random()
    np.testing.assert_array_equal(legacy, expected_legacy)
    np.testing.assert_array_equal(drawn, expected_rng)
    assert py == expected_py
    record = seedreg.Registry().get(run.id)
    assert record.seed == seed and record.seed_text == str(seed)


def test_seed_just_below_2_32_still_uses_np_random_seed():
    np.random.seed(2**32 - 1)
    expected = np.random.randint(0, 1000, 5)
    with seedreg.run("x", seed=2**32 - 1):
        got = np.random.randint(0, 1000, 5)
    np.testing.assert_array_equal(got, expected)


# -- sequence seeds ------------------------------------------------------------------------


def test_sequence_seed_is_passed_to_np_random_seed_unchanged():
    seed = [3, 101]
    np.random.seed(seed)
    expected_legacy = np.random.randint(0, 1000, 6)
    expected_rng = np.random.default_rng(seed).random(4)
    random.seed(python_seed_of(np.random.SeedSequence(seed)))
    expected_py = random.random()
    with seedreg.run("worker", seed=seed) as run:
        legacy = np.random.randint(0, 1000, 6)
        drawn = run.rng.random(4)
        py = random.random()
    np.testing.assert_array_equal(legacy, expected_legacy)
    np.testing.assert_array_equal(drawn, expected_rng)
    assert py == expected_py
    assert run.seed == (3, 101)
    record = seedreg.Registry().get(run.id)
    assert record.seed == (3, 101)
    assert record.seed_kind == "sequence"
    assert record.seed_text == ["3", "101"]


def test_sequence_seed_accepts_tuples_and_arrays():
    with seedreg.run("x", seed=(1, 2)) as a:
        first = np.random.random(3)
    with seedreg.run("x", seed=np.array([1, 2], dtype=np.uint32)) as b:
        second = np.random.random(3)
    assert a.seed == b.seed == (1, 2)
    np.testing.assert_array_equal(first, second)


def test_sequence_seed_with_a_large_part_seeds_legacy_through_seed_sequence():
    seed = [2**40, 1]
    expected = legacy_from(np.random.SeedSequence(seed)).random(4)
    with seedreg.run("x", seed=seed) as run:
        got = np.random.random(4)
        drawn = run.rng.random(2)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(drawn, np.random.default_rng(seed).random(2))
    assert seedreg.Registry().get(run.id).seed == (2**40, 1)


# -- SeedSequence seeds --------------------------------------------------------------------


def test_seed_sequence_with_spawn_key():
    child = np.random.SeedSequence(101).spawn(3)[2]
    twin = np.random.SeedSequence(101, spawn_key=(2,))  # MT19937 only reads its state
    expected_legacy = legacy_from(twin).randint(0, 10**6, 5)
    expected_rng = np.random.default_rng(twin).random(3)
    random.seed(python_seed_of(twin))
    expected_py = random.random()
    with seedreg.run("child", seed=child) as run:
        legacy = np.random.randint(0, 10**6, 5)
        drawn = run.rng.random(3)
        py = random.random()
    np.testing.assert_array_equal(legacy, expected_legacy)
    np.testing.assert_array_equal(drawn, expected_rng)
    assert py == expected_py
    record = seedreg.Registry().get(run.id)
    assert record.seed == 101
    assert record.spawn_key == (2,)
    assert record.seed_kind == "seedsequence"
    assert record.to_json()["spawn_key"] == [2]


def test_seed_sequence_always_seeds_legacy_through_mt19937():
    # Even a small entropy: a SeedSequence is never handed to np.random.seed.
    ss = np.random.SeedSequence(7)
    expected = legacy_from(np.random.SeedSequence(7)).random(3)
    np.random.seed(7)
    classic = np.random.random(3)
    with seedreg.run("x", seed=ss):
        got = np.random.random(3)
    np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(got, classic)


def test_seed_sequence_with_sequence_entropy():
    ss = np.random.SeedSequence([5, 6])
    with seedreg.run("x", seed=ss) as run:
        drawn = run.rng.random(2)
    np.testing.assert_array_equal(drawn, np.random.default_rng(np.random.SeedSequence([5, 6])).random(2))
    record = seedreg.Registry().get(run.id)
    assert record.seed == (5, 6) and record.seed_kind == "seedsequence"


def test_seed_sequence_with_other_pool_size_is_refused(registry_path: Path):
    with pytest.raises(InvalidSeedError):
        seedreg.run("x", seed=np.random.SeedSequence(1, pool_size=8))
    assert not registry_path.exists()


# -- NumPy integer scalars, None -----------------------------------------------------------


@pytest.mark.parametrize("seed", [np.int64(5), np.uint32(5), np.uint64(5)])
def test_numpy_integer_seeds_are_ints(seed):
    np.random.seed(5)
    expected = np.random.random(3)
    with seedreg.run("x", seed=seed) as run:
        got = np.random.random(3)
    np.testing.assert_array_equal(got, expected)
    assert run.seed == 5 and type(run.seed) is int
    assert seedreg.Registry().get(run.id).seed == 5


def test_zero_dimensional_integer_array_is_an_int():
    np.random.seed(np.array(6))
    expected = np.random.random(3)
    with seedreg.run("x", seed=np.array(6)) as run:
        got = np.random.random(3)
    np.testing.assert_array_equal(got, expected)
    assert run.seed == 6 and type(run.seed) is int


def test_no_seed_records_generated_entropy_and_replays_from_it():
    with seedreg.run("unseeded") as run:
        legacy = np.random.random(4)
        drawn = run.rng.random(4)
        py = random.random()
    record = seedreg.Registry().get(run.id)
    assert record.seed_source == "generated"
    assert isinstance(record.seed, int) and 0 <= record.seed < 2**128
    assert record.seed == run.seed
    with seedreg.run("again", seed=record.seed) as again:
        np.testing.assert_array_equal(np.random.random(4), legacy)
        np.testing.assert_array_equal(again.rng.random(4), drawn)
        assert random.random() == py
    assert seedreg.Registry().get(again.id).rng_digest == record.rng_digest


def test_two_unseeded_runs_get_different_seeds():
    with seedreg.run("a") as a:
        pass
    with seedreg.run("b") as b:
        pass
    assert a.seed != b.seed


# -- invalid seeds -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seed",
    [-1, 2**128, True, np.bool_(False), 1.5, 2.0, np.float64(3.0), "7", b"7", [], [1, -1], [1, 2**128],
     [1.5], [[1]], object(), {"a": 1}, 1 + 2j, np.array(1.5), np.array(True), np.array([[1, 2]]),
     np.array([], dtype=np.int64), (x for x in [1])],
    ids=lambda value: type(value).__name__ if " at 0x" in repr(value) else repr(value),
)
def test_invalid_seeds_are_refused_before_anything_is_written(seed, registry_path: Path):
    with pytest.raises(InvalidSeedError) as caught:
        seedreg.run("x", seed=seed)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value)  # a message, not a bare exception
    assert not registry_path.exists()


def test_largest_seed_is_accepted():
    with seedreg.run("x", seed=2**128 - 1) as run:
        pass
    assert seedreg.Registry().get(run.id).seed == 2**128 - 1


# -- global states are restored --------------------------------------------------------------


def _next_draws() -> tuple[np.ndarray, float]:
    return np.random.random(3), random.random()


def _expected_after(seed: int) -> tuple[np.ndarray, float]:
    np.random.seed(seed)
    random.seed(seed)
    return _next_draws()


def test_global_states_are_restored_on_exit():
    expected_np, expected_py = _expected_after(42)
    np.random.seed(42)
    random.seed(42)
    with seedreg.run("x", seed=101):
        np.random.random(10)
        random.random()
    got_np, got_py = _next_draws()
    np.testing.assert_array_equal(got_np, expected_np)
    assert got_py == expected_py


def test_global_states_are_restored_when_the_block_raises():
    expected_np, expected_py = _expected_after(42)
    np.random.seed(42)
    random.seed(42)
    with pytest.raises(RuntimeError, match="boom"):
        with seedreg.run("x", seed=101):
            np.random.random(10)
            random.random()
            raise RuntimeError("boom")
    got_np, got_py = _next_draws()
    np.testing.assert_array_equal(got_np, expected_np)
    assert got_py == expected_py


def test_global_states_are_restored_after_a_large_seed():
    # The legacy state was replaced through set_state (MT19937(SeedSequence)): put back too.
    expected_np, expected_py = _expected_after(3)
    np.random.seed(3)
    random.seed(3)
    with seedreg.run("x", seed=2**64):
        np.random.random(10)
    got_np, got_py = _next_draws()
    np.testing.assert_array_equal(got_np, expected_np)
    assert got_py == expected_py


def test_nested_blocks_seed_and_restore():
    np.random.seed(1)
    random.seed(1)
    outer_expected = np.random.random(6)
    outer_py = [random.random() for _ in range(2)]
    np.random.seed(2)
    random.seed(2)
    inner_expected = np.random.random(3)
    inner_py = random.random()

    with seedreg.run("outer", seed=1) as outer:
        first = np.random.random(3)
        py_first = random.random()
        with seedreg.run("inner", seed=2, parent=outer.id) as inner:
            np.testing.assert_array_equal(np.random.random(3), inner_expected)
            assert random.random() == inner_py
            np.testing.assert_array_equal(inner.rng.random(2), np.random.default_rng(2).random(2))
        # the outer stream continues as if the inner block never drew
        second = np.random.random(3)
        py_second = random.random()
    np.testing.assert_array_equal(np.concatenate([first, second]), outer_expected)
    assert [py_first, py_second] == outer_py
    records = {r.experiment: r for r in seedreg.Registry().runs()}
    assert records["inner"].parent == outer.id
    assert records["inner"].status == records["outer"].status == "completed"


# -- spawn and child runs --------------------------------------------------------------------


def test_spawn_matches_seed_sequence_spawn():
    with seedreg.run("root", seed=101) as run:
        children = run.spawn(3)
        more = run.spawn(2)
    expected = np.random.SeedSequence(101).spawn(5)
    got = children + more
    assert [c.spawn_key for c in got] == [e.spawn_key for e in expected] == [(i,) for i in range(5)]
    for child, want in zip(got, expected):
        assert child.entropy == want.entropy == 101
        np.testing.assert_array_equal(child.generate_state(4), want.generate_state(4))


def test_spawn_of_a_sequence_seed():
    with seedreg.run("root", seed=[4, 9]) as run:
        (child,) = run.spawn(1)
    want = np.random.SeedSequence([4, 9]).spawn(1)[0]
    np.testing.assert_array_equal(child.generate_state(4), want.generate_state(4))


def test_child_run_records_parent_and_spawn_key():
    with seedreg.run("root", seed=101) as root:
        children = root.spawn(2)
        ids = []
        for child in children:
            with seedreg.run("worker", seed=child, parent=root.id) as worker:
                draws = worker.rng.random(3)
                np.testing.assert_array_equal(draws, np.random.default_rng(child).random(3))
                ids.append(worker.id)
        # a Run object is accepted as parent too
        with seedreg.run("worker", seed=root.spawn(1)[0], parent=root) as third:
            pass
    registry = seedreg.Registry()
    for index, run_id in enumerate(ids + [third.id]):
        record = registry.get(run_id)
        assert record.parent == root.id
        assert record.spawn_key == (index,)
        assert record.seed == 101
        assert record.seed_kind == "seedsequence"
        assert record.block_index == -1  # children are not root blocks
    assert registry.get(root.id).block_index >= 0


def test_child_of_an_unknown_parent_is_refused():
    with seedreg.run("root", seed=1):
        pass
    with pytest.raises(UnknownRunError):
        with seedreg.run("orphan", seed=2, parent="f" * 32):
            pass
    assert [r.experiment for r in seedreg.Registry().runs()] == ["root"]
