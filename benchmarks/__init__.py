"""Benchmarks and measurements, each run as ``.venv/bin/python -m benchmarks.NAME`` (its docstring says what it
measures). ``scenes`` and ``live_server`` serve the tests as well; nothing here depends on the tests' modules.
Not part of the installed package."""
