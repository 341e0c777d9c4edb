"""Which weights a fit returns, and which validation rows it watches on the way.

Kept out of the training loop so that the loop reads top to bottom: the loop evaluates and
checkpoints, this decides at the end what the fit hands back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ratchet.training import checkpoint as ckpt

if TYPE_CHECKING:
    from ratchet.training.state import LoopState

MONITOR_MAX = 2000
"""Validation rows watched during training at most; the chosen weights are then scored on all of them."""


def monitor_rows(labels: np.ndarray) -> np.ndarray | None:
    """A fixed stratified sample of a large validation set (None: watch every row)."""
    if len(labels) <= MONITOR_MAX:
        return None
    from ratchet.training.plan import stratified_subsample

    return stratified_subsample(labels, MONITOR_MAX, seed=0)


def multilabel_fit_scores(truth: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """(micro average precision, mean binary cross-entropy) of label-set predictions: what a multi-label fit
    watches and selects its weights by. Average precision needs no threshold: F1 at 0.5 stays 0 for the first
    epochs (every sigmoid starts below 0.5 on rare labels), which would stop training early, and the
    thresholds are tuned afterwards (decide) on the ranking this score measures."""
    from sklearn.metrics import average_precision_score

    from ratchet.evaluation.multilabel_metrics import row_binary_log_loss

    present = np.asarray(truth).sum(axis=0) > 0
    if not present.any():
        return 0.0, float(row_binary_log_loss(truth, probs).mean())
    score = float(average_precision_score(truth[:, present], probs[:, present], average="micro"))
    return score, float(row_binary_log_loss(truth, probs).mean())


def choose_weights(
    state: LoopState, evaluate, model, checkpoint_dir: Path, *, select_best: bool, watch_valid: bool,
    whole_set_differs: bool, n_labels: int,
) -> None:  # fmt: skip
    """Leave ``model`` holding the weights the fit returns, with their validation probabilities in ``state``.

    A refit returns its final weights unjudged. Weights changed since the last evaluation (the deadline came
    between two, or a cross-fitted fold's final weights) are evaluated first, so no trained step is thrown
    away unjudged. select_best keeps the best evaluation's weights, the current ones if they are the best.
    When a sample of a large validation set was watched, the returned weights are scored on the whole set.
    """
    if not watch_valid:
        state.best_score, state.best_probs = float("nan"), np.zeros((0, n_labels), np.float32)
        return
    if state.last_eval_step != state.step or state.last_probs is None:
        state.last_probs, state.last_score, _ = evaluate()
        state.last_eval_step = state.step
        if select_best and state.last_score > state.best_score:
            state.best_score, state.best_probs, state.best_file = state.last_score, state.last_probs, None
    if select_best and state.best_file is not None and state.best_score > state.last_score:
        model.load_state_dict(ckpt.load_best(checkpoint_dir, state.best_file))
    elif not select_best or state.best_file is None or state.last_score >= state.best_score:
        state.best_score, state.best_probs = state.last_score, state.last_probs
    if whole_set_differs:
        state.best_probs, state.best_score, _ = evaluate(full=True)


def note_evaluation(state: LoopState, score: float, probs: np.ndarray, *, select_best: bool) -> bool:
    """Record an evaluation in ``state`` (the best so far, early stopping's count); True when the weights
    just evaluated are the best so far and must be saved. Without select_best (a cross-fitted fold) the
    rows are only watched: nothing is chosen on them."""
    state.last_score, state.last_probs = score, probs
    if not select_best:
        return False
    if score > state.best_score:
        state.best_score, state.best_probs, state.bad_evals = score, probs, 0
        state.best_file = ckpt.best_name(state.step)
        return True
    state.bad_evals += 1
    return False
