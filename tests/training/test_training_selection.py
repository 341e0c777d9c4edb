"""What a fit hands back: no trained step thrown away unjudged, the best weights kept, the whole set scored."""

from __future__ import annotations

import numpy as np
import pytest

from ratchet.training import selection
from ratchet.training.selection import MONITOR_MAX, choose_weights, monitor_rows
from ratchet.training.state import LoopState


class FakeModel:
    def __init__(self) -> None:
        self.loaded: list[object] = []

    def load_state_dict(self, state: object) -> None:
        self.loaded.append(state)


def evaluator(score: float, calls: list[bool]):
    def evaluate(full: bool = False):
        calls.append(full)
        return np.full((3, 2), score, np.float32), score, 0.5

    return evaluate


@pytest.fixture(autouse=True)
def fake_best(monkeypatch) -> None:
    monkeypatch.setattr(selection.ckpt, "load_best", lambda folder, name: f"weights of {name}")


def state_after(step: int, last_eval: int, best: float, last: float) -> LoopState:
    state = LoopState(fingerprint="x", step=step, best_score=best, best_file=f"best-{last_eval}.pt",
                      last_score=last, last_eval_step=last_eval)  # fmt: skip
    state.best_probs = state.last_probs = np.zeros((3, 2), np.float32)
    return state


def test_a_deadline_between_evaluations_judges_the_current_weights_and_keeps_them_when_better(tmp_path) -> None:
    model, calls = FakeModel(), []
    state = state_after(step=15, last_eval=10, best=0.5, last=0.5)
    choose_weights(state, evaluator(0.7, calls), model, tmp_path, select_best=True, watch_valid=True,
                   whole_set_differs=False, n_labels=2)  # fmt: skip
    assert calls == [False] and state.best_score == 0.7 and state.best_file is None and model.loaded == []


def test_current_weights_worse_than_the_best_restore_the_best(tmp_path) -> None:
    model, calls = FakeModel(), []
    state = state_after(step=15, last_eval=10, best=0.6, last=0.6)
    choose_weights(state, evaluator(0.4, calls), model, tmp_path, select_best=True, watch_valid=True,
                   whole_set_differs=False, n_labels=2)  # fmt: skip
    assert model.loaded == ["weights of best-10.pt"] and state.best_score == 0.6


def test_an_evaluated_end_needs_no_second_evaluation_and_a_sampled_set_is_scored_whole(tmp_path) -> None:
    model, calls = FakeModel(), []
    state = state_after(step=20, last_eval=20, best=0.6, last=0.6)
    choose_weights(state, evaluator(0.65, calls), model, tmp_path, select_best=True, watch_valid=True,
                   whole_set_differs=True, n_labels=2)  # fmt: skip
    assert calls == [True] and state.best_score == 0.65  # only the whole-set evaluation of the kept weights


def test_a_large_validation_set_is_watched_through_a_fixed_stratified_sample() -> None:
    labels = np.array([0] * 9000 + [1] * 1000)
    rows = monitor_rows(labels)
    assert rows is not None and abs(len(rows) - MONITOR_MAX) <= 2
    assert np.bincount(labels[rows]).tolist() == [1800, 200]
    np.testing.assert_array_equal(rows, monitor_rows(labels))  # the same rows at every evaluation
    assert monitor_rows(labels[:500]) is None
