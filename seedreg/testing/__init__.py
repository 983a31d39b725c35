"""The pytest plugin's parts (``pytest --seedreg``); pytest loads it from :mod:`seedreg.pytest_plugin`.

- :mod:`~seedreg.testing.identity`: a test's full node id, its seed, how to select it again;
- :mod:`~seedreg.testing.invocation`: the session's command line, what a replay keeps of it;
- :mod:`~seedreg.testing.isolation`: wider-scope setup and teardown, run outside the test's record;
- :mod:`~seedreg.testing.session`: one run per test; :mod:`~seedreg.testing.replaying`: one test replayed.
"""
