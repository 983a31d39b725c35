"""Reading a registry: the Python API (facade: :class:`seedreg.Registry`), rows to records on a
connection (reads), filters (query), read-only SQL (sql) and per-experiment summaries (experiments)."""
