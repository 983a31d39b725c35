"""State a forked child must not inherit: one ``os.register_at_fork`` hook runs every reset.

Modules that hold per-process state (database engines, recorders, the heartbeat thread, the
fingerprint worker pool, cached process facts) register a reset with :func:`after_fork`; the
child runs them in the order they were registered, before any of its own code. What must be
done before a fork (commit the writes held back, which a forked worker's block may need: its
parent run) registers with :func:`before_fork`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

_resets: list[Callable[[], None]] = []
_preparations: list[Callable[[], None]] = []


def before_fork(prepare: Callable[[], None]) -> Callable[[], None]:
    """Run ``prepare`` in the parent just before every fork from now on; returns it."""
    _preparations.append(prepare)
    return prepare


def after_fork(reset: Callable[[], None]) -> Callable[[], None]:
    """Run ``reset`` in every child forked from now on; returns it, so it can decorate a function."""
    _resets.append(reset)
    return reset


def _before() -> None:
    for prepare in _preparations:
        prepare()


def _in_child() -> None:
    for reset in _resets:
        reset()


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(before=_before, after_in_child=_in_child)
