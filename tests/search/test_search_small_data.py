"""The balanced and best presets do not search where judging is cross-fitted (small data); a named search does."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ratchet.artifacts import ArtifactStore
from ratchet.budget_plan import step_budget
from ratchet.config import RunConfig
from ratchet.crossfit.folds import crossfit_plan, holdout_plan
from ratchet.step_builders import build_steps
from ratchet.steps.search import SearchStep, SearchStepParams


def steps_of(tmp_path: Path, **settings) -> dict:
    config = RunConfig(data="d.csv", out=str(tmp_path / "run"), models=("m",), **settings)
    return {step.name: step for step in build_steps(config)}


def folds_store(tmp_path: Path, crossfit: bool) -> ArtifactStore:
    labels = np.array([0, 1] * 10)
    plan = crossfit_plan(labels, np.arange(20), 16, 5, 0) if crossfit else holdout_plan(16, 4, 0)
    path = tmp_path / f"folds-{crossfit}.json"
    plan.save(path)
    store = ArtifactStore()
    store.put("data.folds", path)
    return store


def test_the_presets_search_skips_small_data_a_named_one_does_not(tmp_path: Path) -> None:
    assert steps_of(tmp_path, preset="balanced")["search"].params.small_data is False
    assert steps_of(tmp_path, preset="best")["search"].params.small_data is False
    recipe = ("clean", "split", "baseline", "search", "train", "evaluate")
    assert steps_of(tmp_path, preset="balanced", steps=recipe)["search"].params.small_data is True  # named
    assert steps_of(tmp_path, preset="best", steps=recipe)["search"].params.small_data is True


def test_search_foresees_its_skip_only_where_judging_is_cross_fitted(tmp_path: Path) -> None:
    balanced = SearchStep(SearchStepParams(model="m", small_data=False))
    named = SearchStep(SearchStepParams(model="m"))

    def why(step: SearchStep, store: ArtifactStore) -> str | None:
        return step.foreseen_skip(store.view(step.name, step.requires, step.optional))

    crossfit, holdout = folds_store(tmp_path, True), folds_store(tmp_path, False)
    assert why(balanced, crossfit).startswith("judging is cross-fitted (few labeled rows)")
    assert "name search in --steps" in why(balanced, crossfit)
    assert why(balanced, holdout) is None  # many rows: a validation split large enough to search on
    assert why(named, crossfit) is None and why(named, holdout) is None
    assert why(balanced, ArtifactStore()) is None  # before split nothing tells


def test_the_budget_gives_a_search_that_will_not_run_no_share(tmp_path: Path) -> None:
    steps = steps_of(tmp_path, preset="balanced")
    order = [steps[name] for name in ("select", "search", "train")]
    plan = step_budget(order, 0, folds_store(tmp_path, True), run_deadline=700.0, now=0.0)
    assert set(plan.not_counted) == {"search"}
    assert plan.seconds == 700.0 * 0.2 / (0.2 + 0.5)
    assert step_budget(order, 0, folds_store(tmp_path, False), 700.0, 0.0).not_counted == {}
