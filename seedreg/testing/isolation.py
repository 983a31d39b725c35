"""Wider-scope setup and teardown run outside a test's record (seed scheme 2).

Package, module and class setup (``setup_module`` in a package's ``__init__.py``, the xunit
fixtures, ``setUpClass``) and fixtures of a scope wider than the function run while a test's
block is open, in whichever test first needs them. Each runs seeded with its own seed (from the
root seed and its own name, never the test's), and the test's RNG states (NumPy, ``random``,
seeded libraries) are put back afterwards, so a test's record does not depend on which tests
ran before it; teardown of wider scopes is treated the same, after the test's block closed.
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Callable
from typing import Any

import pytest

from seedreg.seed import codec


class Isolated:
    """Run code with its own seed, then put back every global RNG state it may have changed."""

    def __init__(self, seed: list[int]) -> None:
        self.seed = codec.normalise(seed)

    def __enter__(self) -> Isolated:
        from seedreg.seed import global_state, library_seeders  # NumPy: only once a session records

        self._saved = global_state.GlobalState.save()
        self._seeders = library_seeders.seed_libraries(self.seed)
        global_state.seed_globals(self.seed)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._seeders.restore()
        self._saved.restore()


def setup_collectors(item: pytest.Item, seed_of: Callable[[Any], list[int]]) -> None:
    """Set up the collectors above ``item`` not set up yet, each isolated; pytest's own setup of the item
    follows (and raises a collector's setup error again for every item below it)."""
    state = item.session._setupstate
    if item.parent in state.stack:  # the stack is one chain from the session: all of them are set up
        return
    for collector in item.listchain()[:-1]:
        if collector not in state.stack:
            with Isolated(seed_of(collector)):
                state.setup(collector)  # type: ignore[arg-type]  # it sets up a node's chain: any node


def teardown_item(item: pytest.Item) -> BaseException | None:
    """Tear down the item's own fixtures and xunit functions (not its collectors); the error, if any."""
    try:
        item.session._setupstate.teardown_exact(item.parent)  # type: ignore[arg-type]  # keeps the parent's chain
    except Exception as error:
        return error
    return None


def teardown_collectors(item: pytest.Item, nextitem: pytest.Item | None,
                        seed_of: Callable[[Any], list[int]]) -> list[BaseException]:
    """Tear down the collectors ``nextitem`` does not need, innermost first, each isolated."""
    state = item.session._setupstate
    parent = item.parent
    if nextitem is not None and nextitem.parent is parent and state.stack and next(reversed(state.stack)) is parent:
        return []  # the next test needs all of them (most tests)
    needed = nextitem.listchain() if nextitem is not None else []
    errors: list[BaseException] = []
    while state.stack:
        chain = list(state.stack)
        if chain == needed[: len(chain)]:
            break
        collector = chain[-1]
        with Isolated(seed_of(collector)):
            try:
                state.teardown_exact(collector.parent)  # type: ignore[arg-type]  # pops exactly this collector
            except Exception as error:
                errors.append(error)
    return errors


def raise_all(errors: list[BaseException]) -> None:
    """Raise one error as it is, several as a group (as pytest's own teardown does)."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        group = getattr(builtins, "BaseExceptionGroup", None) or importlib.import_module("exceptiongroup").BaseExceptionGroup
        raise group("errors during test teardown", errors)  # the backport pytest needs before Python 3.11


class FixtureIsolation:
    """``pytest_fixture_setup`` for wider-scope fixtures: set up and finalized with the fixture's own seed."""

    def __init__(self, seed_of: Callable[[pytest.FixtureRequest, str], list[int]]) -> None:
        self.seed_of = seed_of

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Any:
        if fixturedef.scope == "function":
            return (yield)
        seed = self.seed_of(request, fixturedef.argname)
        # Finalizers run last-in first-out: this pair brackets the fixture's own teardown.
        isolated = Isolated(seed)
        fixturedef.addfinalizer(lambda: isolated.__exit__())
        try:
            with Isolated(seed):
                return (yield)
        finally:
            fixturedef.addfinalizer(lambda: isolated.__enter__())
