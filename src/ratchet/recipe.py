"""The recipe: which steps run, in which order, built from a RunConfig (a preset, or --steps, plus
--ensemble and --refit-all).

Steps are built from these names by step_builders.py; the checks before anything runs are in recipe_check.py.
"""

from __future__ import annotations

from ratchet.config import RunConfig
from ratchet.errors import RatchetError
from ratchet.presets import PRESET_STEPS

STEP_NAMES: tuple[str, ...] = (
    "clean", "split", "baseline", "relabel", "select", "search", "adapt", "train", "chunk", "ensemble",
    "selftrain", "compress", "blend", "embed", "calibrate", "decide", "evaluate", "refit_all", "report",
)  # fmt: skip
"""Every step a recipe may name (step_builders.STEP_BUILDERS has one builder for each)."""


def _with_ensemble(names: tuple[str, ...], ensemble: bool) -> tuple[str, ...]:
    """--ensemble adds the ensemble step right after train (after chunk, which follows train, as in the presets
    that have ensemble), when the preset does not have it already."""
    if not ensemble or "ensemble" in names or "train" not in names:
        return names
    at = names.index("train") + 1
    if at < len(names) and names[at] == "chunk":
        at += 1
    return (*names[:at], "ensemble", *names[at:])


def _with_refit_all(names: tuple[str, ...], refit_all: bool) -> tuple[str, ...]:
    """--refit-all adds the refit_all step right after evaluate."""
    if not refit_all or "refit_all" in names or "evaluate" not in names:
        return names
    at = names.index("evaluate") + 1
    return (*names[:at], "refit_all", *names[at:])


def recipe_names(config: RunConfig) -> tuple[str, ...]:
    names = _with_refit_all(
        tuple(config.steps or _with_ensemble(PRESET_STEPS[config.preset], config.search.ensemble)), config.refit_all
    )
    unknown = [name for name in names if name not in STEP_NAMES]
    if unknown:
        raise RatchetError(f"unknown step {unknown[0]!r}: available steps are {', '.join(STEP_NAMES)}")
    return tuple(names)
