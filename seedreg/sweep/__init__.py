"""``seedreg sweep``: a command run once per seed, every root block taking that seed (DESIGN §9)."""
