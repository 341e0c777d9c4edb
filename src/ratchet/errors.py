"""The one exception users see: bad input, reported as a single line with the fix."""

from __future__ import annotations


class RatchetError(Exception):
    """A problem with the user's input or run folder.

    The CLI prints ``error: <message>`` and exits with code 2, no traceback, so
    every message must name the problem *and* the fix in one line.
    """


class SealedArtifactError(RatchetError):
    """A step asked for the sealed test split: only ``evaluate`` may read it."""
