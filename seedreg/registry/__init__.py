"""Reading a registry: the Python API (facade: :class:`seedreg.Registry`), row-to-record reads (reads),
the records it returns (records), filters (query), read-only SQL (sql) and summaries (experiments)."""
