"""Replay: re-executing a run (runner) and comparing an original with its replay, or any two runs
(compare). The seeds inside a replayed process are :mod:`seedreg.recording.substitution`'s."""
