"""Replay: the seed substitution inside a replayed process (substitution), re-executing a run
(runner), and comparing an original with its replay or any two runs (compare)."""
