"""Fingerprints: the value type with its chunk layout (digest, no NumPy) and the canonical
encoder that computes one from an object (encoding)."""
