"""Seeds as a dimension (DESIGN §9): runs that differ only in their seed, grouped, and their results' spread."""
