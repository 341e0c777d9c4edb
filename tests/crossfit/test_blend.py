"""blend: a weight chosen without peeking, a weighted ensemble that predicts what was judged."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from ratchet_testing import FAST_TRAIN, synthetic_rows, write_train_test

from ratchet.models.ensemble import load_ensemble_predictor, save_ensemble
from ratchet.models.linear import LinearTextModel
from ratchet.models.linear_folder import save_linear
from ratchet.shipping import a_model_of_kind
from ratchet.steps.blend import best_weight

LABELS = ["negative", "neutral", "positive"]
WEIGHT = 0.4


def test_the_weight_favours_the_better_model_and_ties_keep_the_fine_tune() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    good = np.eye(3)[y] * 0.6 + 0.4 / 3
    noisy = np.eye(3)[rng.integers(0, 3, 400)] * 0.6 + 0.4 / 3
    assert best_weight(y, good, noisy, "macro_f1") >= 0.6  # the baseline is the better one here
    assert best_weight(y, noisy, good, "macro_f1") == 0.0  # the fine-tune alone is best: no weight
    assert best_weight(y, good, good.copy(), "macro_f1") == 0.0  # no reason to change: the smaller weight


def test_a_weighted_ensemble_folder_weighs_its_members(tmp_path) -> None:
    rows = synthetic_rows(60, seed=61)
    texts, y = [r["review"] for r in rows], np.array([LABELS.index(r["sentiment"]) for r in rows])
    members = []
    for i, c in enumerate((0.1, 10.0)):
        save_linear(LinearTextModel(C=c).fit(texts, y, 3), LABELS, tmp_path / f"m{i}", {"backbone": "linear"})
        members.append(tmp_path / f"m{i}")
    save_ensemble(members, tmp_path / "blend", weights=[0.7, 0.3])
    predictor = load_ensemble_predictor(tmp_path / "blend")
    parts = [member.predict_probs(texts[:9]) for member in predictor.members]
    np.testing.assert_allclose(predictor.predict_probs(texts[:9]), 0.7 * parts[0] + 0.3 * parts[1], rtol=1e-6)


# -- a fine-tune the rule rejected, blended with the baseline -------------------------------------------------------
def _run_with_train_rejected(tiny_model_dir, tmp_path, monkeypatch, folds: str) -> tuple[Path, dict]:
    """A tiny run (clean, split, baseline, train, blend, embed, evaluate) whose rule rejects train and keeps blend, so
    that what blend proposes and ships can be checked whatever the tiny model's accuracy. The rule itself has
    its own tests: here only the verdicts are forced, every number stays the real one."""
    from ratchet.cli import main
    from ratchet.fsutil import read_json
    from ratchet.gate import JudgedTruth

    real_judge = JudgedTruth.judge
    verdicts = iter([False, True])  # train, then blend: the only gated steps of this recipe

    def forced(self, *args, **kwargs):
        decision = real_judge(self, *args, **kwargs)
        return dataclasses.replace(decision, kept=next(verdicts))

    monkeypatch.setattr(JudgedTruth, "judge", forced)
    # A fixed weight, so that a tiny model's accuracy cannot give one side no weight (best_weight has its tests).
    monkeypatch.setattr("ratchet.steps.blend.best_weight", lambda *args: WEIGHT)
    data, test = write_train_test(tmp_path, 90, 24, seed=5)
    out = tmp_path / "run"
    settings = [s for s in FAST_TRAIN if not s.startswith("gate.folds")]
    steps = "clean,split,baseline,train,blend,embed,evaluate"  # the presets' order: embed after blend
    args = ["run", str(data), "--test", str(test), "--out", str(out), "--model", str(tiny_model_dir("bert")),
            "--steps", steps, "--quiet", *settings, f"gate.folds={folds}"]  # fmt: skip
    assert main(args) == 0
    return out, {e["step"]: e for e in read_json(out / "ledger.json")}


def _blended_by_fold(out: Path, folds: np.ndarray, weights: list[float]) -> np.ndarray:
    baseline = np.load(out / "steps" / "03-baseline" / "judged_probs.npy")
    finetune = np.load(out / "steps" / "04-train" / "valid_probs.npy")  # the rejected candidate's judged probs
    expected = np.empty_like(finetune)
    for fold, w in zip(np.unique(folds), weights, strict=True):
        held = folds == fold
        expected[held] = w * baseline[held] + (1 - w) * finetune[held]
    return expected


def test_a_rejected_cross_fitted_fine_tune_is_blended_from_the_cache_and_refit_when_kept(
    tiny_model_dir, tmp_path, monkeypatch
) -> None:
    from ratchet.fsutil import read_json
    from ratchet.predictor import load_predictor

    out, ledger = _run_with_train_rejected(tiny_model_dir, tmp_path, monkeypatch, "3")
    assert ledger["train"]["status"] == "rejected"
    blend = read_json(out / "steps" / "05-blend" / "manifest.json")["metrics"]
    assert ledger["blend"]["status"] == "kept" and "read back from the run's fit cache" in blend["fine_tune"]
    # The paid-for fine-tune's blend had the first look; embed, the fallback for a run that ships the baseline,
    # stands aside without embedding anything.
    assert ledger["embed"]["status"] == "skipped"
    assert "would ship is an ensemble model, not the baseline" in ledger["embed"]["note"]
    # Judged on the cached out-of-fold fits, each fold with the weight chosen on the others.
    folds = np.array(read_json(out / "data" / "folds.json")["fold_of"])
    expected = _blended_by_fold(out, folds, blend["fold_weights"])
    np.testing.assert_allclose(np.load(out / "steps" / "05-blend" / "valid_probs.npy"), expected, rtol=1e-5)
    # Shipped: the fine-tune refit on every pool row (as train would have shipped it) beside the baseline.
    pool = len(folds)
    assert blend["fine_tune_refit"]["refit"]["rows"] == pool
    model = read_json(out / "model" / "ratchet.json")
    assert blend["baseline_weight"] == WEIGHT and blend["fold_weights"] == [WEIGHT] * 3
    assert model["kind"] == "ensemble" and model["weights"] == pytest.approx([1 - WEIGHT, WEIGHT])
    members = [read_json(out / "model" / "members" / str(i) / "ratchet.json")["kind"] for i in range(2)]
    assert members == ["transformer", "linear"]
    assert read_json(out / "metrics.json")["test"]["n"] == 24
    assert load_predictor(out / "model").predict_probs(["a text"]).shape == (1, 3)


def test_a_rejected_holdout_fine_tune_is_blended_as_train_saved_it(tiny_model_dir, tmp_path, monkeypatch) -> None:
    from ratchet.fsutil import read_json

    out, ledger = _run_with_train_rejected(tiny_model_dir, tmp_path, monkeypatch, "holdout")
    assert ledger["train"]["status"] == "rejected"
    blend = read_json(out / "steps" / "05-blend" / "manifest.json")["metrics"]
    assert ledger["blend"]["status"] == "kept" and "fine_tune_refit" not in blend
    # The judged fine-tune is the one that ships: train's own early-stopped model, byte for byte.
    shipped = out / "model" / "members" / "0" / "model.safetensors"
    assert shipped.read_bytes() == (out / "steps" / "04-train" / "model" / "model.safetensors").read_bytes()


def test_without_a_fine_tune_in_the_fit_cache_blend_trains_nothing_and_says_why(tiny_model_dir, tmp_path) -> None:
    """The baseline ships and no step fitted a transformer: blend reads the cache only, so it skips."""
    from ratchet.cli import main
    from ratchet.fsutil import read_json

    data, test = write_train_test(tmp_path, 90, 24, seed=5)
    out = tmp_path / "run"
    args = ["run", str(data), "--test", str(test), "--out", str(out), "--model", str(tiny_model_dir("bert")),
            "--steps", "clean,split,baseline,blend,evaluate", "--quiet", *FAST_TRAIN]  # fmt: skip
    assert main(args) == 0
    blend = {e["step"]: e for e in read_json(out / "ledger.json")}["blend"]
    assert blend["status"] == "skipped" and "holds no fine-tune to blend it with" in blend["note"]
    assert not (out / "cache" / "fits").exists() or not any((out / "cache" / "fits").iterdir())


def test_a_rejected_fine_tune_is_not_blended_when_its_refit_would_overrun_the_budget() -> None:
    from ratchet.crossfit.results import CrossFit, FoldFit
    from ratchet.steps.blend import refit_out_of_time

    folds = [FoldFit(np.zeros((1, 3)), seconds=s) for s in (10.0, 12.0, 14.0)]
    fit = CrossFit("train", np.zeros((3, 3)), folds, 3)
    assert refit_out_of_time(fit, None) is None  # no budget
    assert refit_out_of_time(fit, 100.0) is None
    reason = refit_out_of_time(fit, 5.0)
    assert reason == "a kept blend would refit the fine-tune (about 16 s), and the budget has 5 s left"


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [
        ("ensemble", "an ensemble model"),
        ("onnx", "an onnx model"),
        ("linear", "a linear model"),
        ("routed", "a routed model"),
    ],
)
def test_skip_messages_name_the_shipped_kind_with_its_article(kind, phrase):
    assert a_model_of_kind(kind) == phrase
