"""Exceptions seedreg raises, all rooted at :class:`SeedregError`.

    SeedregError                  root: catch this to catch everything seedreg raises
    ├── InvalidSeedError          (also ValueError) a seed seedreg cannot record or apply
    ├── UnsupportedTypeError      (also TypeError) an object that cannot be fingerprinted
    ├── UnknownRunError           no run, or more than one, matches an id or prefix
    ├── RegistryNotFoundError     a reading command named a registry that does not exist
    ├── SchemaError               the database schema is older, newer or foreign
    ├── RegistryError             the database failed (locked too long, unreachable, …)
    ├── DuplicateNameError        (also ValueError) a name logged twice in one run
    ├── InvalidTagError           (also ValueError) a user tag whose key seedreg reserves
    ├── NotReplayableError        a run with no command to re-execute, or one that cannot start
    ├── SeederError               (also RuntimeError) a library seeder (torch, …) failed
    └── UsageError                (also ValueError) any other bad input from a user

Every error carries ``exit_code``: 2 for a user or input error (DESIGN §6), 1 for a failed check.
"""

from __future__ import annotations


class SeedregError(Exception):
    """Root of every error seedreg raises on purpose."""

    exit_code: int = 2


class InvalidSeedError(SeedregError, ValueError):
    """A seed that is not an int in [0, 2**128), a sequence of them, a SeedSequence or None."""


class UnsupportedTypeError(SeedregError, TypeError):
    """An object :func:`seedreg.fingerprint` has no canonical encoding for."""


class UnknownRunError(SeedregError, LookupError):
    """No run, or more than one run, matches the given id or prefix."""


class RegistryNotFoundError(SeedregError):
    """A command that only reads was pointed at a registry that does not exist."""


class SchemaError(SeedregError):
    """The database's schema is not the one this seedreg writes (older, newer or foreign)."""


class RegistryError(SeedregError):
    """The database could not be reached or written after retries."""


class DuplicateNameError(SeedregError, ValueError):
    """The same fingerprint name was logged twice in one run."""


class InvalidTagError(SeedregError, ValueError):
    """A user tag whose key begins with a prefix seedreg reserves (``seedreg.``, ``pytest.``, ``mlflow.``, ``wandb.``)."""


class NotReplayableError(SeedregError):
    """A run that cannot be replayed: recorded interactively, its cwd gone, its command unable to start."""


class SeederError(SeedregError, RuntimeError):
    """A library seeder failed to load, save, seed, digest or restore; ``seeder`` names it."""

    def __init__(self, message: str, seeder: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.seeder = seeder
        self.failures = failures if failures is not None else {seeder: message}


class UsageError(SeedregError, ValueError):
    """Bad input from a user: a malformed filter, URL, parameter value, …"""
