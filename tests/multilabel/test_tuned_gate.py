"""The gate judges label sets at per-label thresholds cross-tuned on the judged rows, both sides alike."""

from __future__ import annotations

import numpy as np
import pytest
from tuned_gate_data import label_sets, low_ranker, near_half, noise, write_valid

from ratchet.artifacts import ArtifactStore
from ratchet.gate import AS_GIVEN, SETTLING, TUNED, JudgedTruth
from ratchet.models.decision import HOLDOUT_FOLDS, Decision, cross_fitted, fit_thresholds, stratified_folds
from ratchet.params import GateParams

GATE = GateParams(metric="micro_f1", n_bootstrap=500)
SEED = 0


@pytest.fixture
def judged(tmp_path):
    truth = label_sets()
    store = ArtifactStore()
    store.put("data.valid", write_valid(tmp_path / "valid.parquet", truth))
    return JudgedTruth(), store, truth


def test_a_well_ranked_model_below_half_loses_at_half_and_wins_at_tuned_thresholds(judged) -> None:
    truth_judge, store, truth = judged
    reference, candidate = near_half(truth), low_ranker(truth)
    at_half = truth_judge.judge(store, reference, candidate, GATE, SEED, at=AS_GIVEN)
    assert not at_half.kept and at_half.after == 0.0 and 0.7 < at_half.before < 0.85
    tuned = truth_judge.judge(store, reference, candidate, GATE, SEED, at=TUNED)
    assert tuned.kept and tuned.after == 1.0 and tuned.before < 0.9
    assert "micro_f1 at cross-tuned thresholds" in tuned.reason


def test_a_model_worse_at_every_threshold_is_still_rejected(judged) -> None:
    truth_judge, store, truth = judged
    worse = truth_judge.judge(store, near_half(truth), noise(truth), GATE, SEED, at=TUNED)
    assert not worse.kept and worse.gain < -0.2
    reversed_ = truth_judge.judge(store, low_ranker(truth), near_half(truth), GATE, SEED, at=TUNED)
    assert not reversed_.kept and reversed_.before == 1.0


def test_tuned_scores_are_what_decide_would_ship(judged) -> None:
    """The gate cuts and tunes as decide does, so once decide ships its thresholds the score does not move."""
    truth_judge, store, truth = judged
    probs = near_half(truth).astype(np.float32)
    folds = stratified_folds(truth, HOLDOUT_FOLDS, SEED)
    decides = cross_fitted(truth, probs, folds, lambda y, p: Decision(thresholds=fit_thresholds(y, p, "micro_f1")))
    rows = np.ones(len(truth), dtype=bool)
    assert np.array_equal(truth_judge.cross_tuned(store, probs, rows, "micro_f1", SEED), decides)
    assert truth_judge.score(store, probs, "micro_f1", TUNED, SEED) == truth_judge.score(store, decides, "micro_f1")


def test_settling_judges_the_reference_at_half(judged) -> None:
    """decide's question: its cross-fitted thresholds against the same model at 0.5, neither tuned again."""
    truth_judge, store, truth = judged
    raw = low_ranker(truth)
    rows = np.ones(len(truth), dtype=bool)
    thresholds = truth_judge.cross_tuned(store, raw, rows, "micro_f1", SEED)
    settled = truth_judge.judge(store, raw, thresholds, GATE, SEED, at=SETTLING)
    assert settled.kept and settled.before == 0.0 and settled.after == 1.0
    assert "reference at 0.5, candidate at its cross-fitted thresholds" in settled.reason


def test_log_loss_reads_the_probabilities_themselves(judged) -> None:
    truth_judge, store, truth = judged
    log_loss = GateParams(metric="neg_log_loss", n_bootstrap=500)
    assert not truth_judge.tunes(store, "neg_log_loss") and truth_judge.tunes(store, "micro_f1")
    tuned = truth_judge.judge(store, near_half(truth), low_ranker(truth), log_loss, SEED, at=TUNED)
    plain = truth_judge.judge(store, near_half(truth), low_ranker(truth), log_loss, SEED, at=AS_GIVEN)
    assert (tuned.before, tuned.after, tuned.reason) == (plain.before, plain.after, plain.reason)


def test_single_label_runs_are_judged_as_before(tmp_path) -> None:
    import pandas as pd

    y = np.random.default_rng(0).integers(0, 3, 120)
    path = tmp_path / "valid.parquet"
    pd.DataFrame({"text": ["t"] * len(y), "label_id": y}).to_parquet(path)
    store = ArtifactStore()
    store.put("data.valid", path)
    truth_judge = JudgedTruth()
    probs = np.random.default_rng(1).dirichlet(np.ones(3), len(y))
    assert not truth_judge.tunes(store, "macro_f1")
    assert truth_judge.score(store, probs, "macro_f1", TUNED, SEED) == truth_judge.score(store, probs, "macro_f1")


def test_rows_of_one_fold_are_judged_at_half_and_the_reason_says_so(judged) -> None:
    """A budget that ran one fold leaves nothing to cross-tune on: both sides at 0.5, and not called tuned."""
    truth_judge, store, truth = judged
    one_fold = stratified_folds(truth, HOLDOUT_FOLDS, SEED) == 0
    reference, candidate = near_half(truth), low_ranker(truth).astype(np.float64)
    candidate[~one_fold] = np.nan  # the folds the budget did not run
    decision = truth_judge.judge(store, reference, candidate, GATE, SEED, at=TUNED)
    as_given = truth_judge.judge(store, reference, candidate, GATE, SEED, at=AS_GIVEN)
    assert (decision.before, decision.after, decision.n) == (as_given.before, as_given.after, one_fold.sum())
    assert "micro_f1 at 0.5 (the judged rows lie in one fold" in decision.reason
    assert "cross-tuned" not in decision.reason


def test_blend_weighs_label_sets_at_tuned_thresholds_as_the_gate_will_judge_them() -> None:
    """A perfect ranker below 0.5 blended into a model near 0.5: at 0.5 every weight on it loses labels, at the
    thresholds the gate tunes it is what helps. blend must choose the weight the gate will reward."""
    from ratchet.evaluation.metrics import score
    from ratchet.steps.blend import WEIGHTS, best_weight

    truth = label_sets()
    baseline, model = low_ranker(truth), near_half(truth)
    weight = best_weight(truth, baseline, model, "micro_f1")
    assert weight >= 0.5
    at_half = [float(score("micro_f1", truth, w * baseline + (1 - w) * model)) for w in WEIGHTS]
    assert at_half[0] > at_half[list(WEIGHTS).index(weight)]  # scored at 0.5, the same weight would lose
    assert best_weight(truth, model, noise(truth), "micro_f1") == 1.0  # noise adds nothing at any threshold
