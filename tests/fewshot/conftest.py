"""Tiny models built once per session from the toy task's texts (no downloads): see tests/tiny_fixtures.py."""

from tiny_fixtures import _one_thread, tiny_dirs, toy  # noqa: F401  (fixtures, registered by import)
