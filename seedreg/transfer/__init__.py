"""Moving runs between registries: the JSON-lines format (format), writing it (export), reading a
line (lines) and merging many (importer)."""
