"""Tiny models and the toy training task (no downloads): see tests/tiny_fixtures.py."""

from tiny_fixtures import _one_thread, task, tiny_dirs, toy  # noqa: F401  (fixtures, registered by import)
