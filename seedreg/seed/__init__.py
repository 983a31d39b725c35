"""Seeds: the value and its stored form, without NumPy (codec); seeding the process-wide states of
NumPy and ``random`` (global_state); deep-learning libraries, by entry point (library_seeders)."""
