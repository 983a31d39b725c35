"""Fingerprints: the value type with its chunk layout (digest, no NumPy), the canonical encoder that
computes one from an object (encoding), and the data store of arrays kept by digest (kept_arrays)."""
