"""Tamper evidence: record digests and the chain (chain), checking it (audit), and deletions
kept as chained tombstones (deletion)."""
