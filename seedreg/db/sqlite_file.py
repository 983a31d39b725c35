"""Is a SQLite registry's path a database file? Checked before an engine opens it.

SQLite itself says only "file is not a database" (without the path) for a text file, and
"unable to open database file" for a directory; this says which path, and what it is.
"""

from __future__ import annotations

from seedreg.db import engines
from seedreg.errors import RegistryError

#: The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"


def check_sqlite_file(url: str) -> None:
    """Raise RegistryError when ``url``'s SQLite path is a directory or a file that is not SQLite.

    A missing file (created later, or refused by a reading command) and an empty one (a new
    database) pass; server URLs are not checked.
    """
    path = engines.sqlite_path(url)
    if path is None:
        return
    try:
        if path.is_dir():
            raise RegistryError(f"could not open the registry: {path} is a directory, not a database file")
        if not path.exists():
            if not path.parent.is_dir():
                raise RegistryError(f"could not open the registry {path}: the folder {path.parent} does not exist")
            return
        if engines.has_engine(url):
            # Opened already. Closing any descriptor of the file would drop this process's
            # POSIX locks on it, which its SQLite connections hold: another process could then
            # take the database for unused and delete its WAL under them ("disk I/O error").
            return
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise RegistryError(f"could not open the registry {path}: {error.strerror or error}") from None
    if head and head != SQLITE_HEADER:
        raise RegistryError(f"could not open the registry: {path} is not a database (it is not a SQLite file)")
