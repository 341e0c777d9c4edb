import itertools

import numpy as np
import pytest
import torch
from tiny_fixtures import FAST_FIT, FakeProgress

from ratchet.config import TrainParams
from ratchet.training.inference import predict_probs
from ratchet.training.loop import fit
from ratchet.training.optim import build_scheduler, class_weights, classification_loss


def run(t, tmp_path, sample_weights=None, deadline=None, progress=None, labels=None, **overrides):
    # Every layer trains: predictions are compared to the fit's own to 1e-6 (frozen layers: test_training_frozen).
    params = TrainParams(**{**FAST_FIT, "epochs": 4.0, "patience": 10, **overrides})
    return fit(
        t["model"], t["train"], t["train_labels"] if labels is None else labels, t["valid"], t["valid_labels"],
        params, device="cpu", seed=0, checkpoint_dir=tmp_path / "ckpt", pad_id=t["pad_id"],
        sample_weights=sample_weights, deadline=deadline, progress=progress,
    )  # fmt: skip


@pytest.mark.parametrize("family", ["bert", "sbert", "gpt2", "t5"])
def test_fit_learns_the_toy_task(task, tmp_path, family):
    t = task(family)
    result = run(t, tmp_path)
    assert result.best_score >= 0.9
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.5
    assert result.valid_probs.shape == (len(t["valid"]), 2)
    assert [h["step"] for h in result.history] == sorted({h["step"] for h in result.history})
    tel = result.telemetry
    assert tel["tokens_per_s"] > 0 and tel["samples_per_s"] > 0 and tel["peak_rss_mb"] > 0
    assert 0.0 <= tel["padding_waste"] < 0.2  # length buckets: little padding even on a toy set
    assert tel["real_tokens"] == int(t["train"].lengths.sum()) * 4  # 4 epochs, every row once per epoch
    assert tel["est_mfu"] is None and tel["peak_cuda_mb"] is None  # CPU: no honest peak to divide by
    # the model holds the best weights: predicting again reproduces the best checkpoint's probabilities
    again = predict_probs(t["model"], t["valid"], device="cpu", max_tokens=1024, batch_size=64, pad_id=t["pad_id"])
    np.testing.assert_allclose(again, result.valid_probs, atol=1e-6)


def test_early_stopping_restores_the_best_weights(task, tmp_path):
    t = task()
    # validation labels are the opposite of the training signal: the more it learns, the worse it scores
    t["valid_labels"] = 1 - t["valid_labels"]
    result = run(t, tmp_path, epochs=10.0, patience=2, evals_per_epoch=2, learning_rate=5e-3)
    scores = [h["valid_macro_f1"] for h in result.history]
    best = int(np.argmax(scores))
    assert result.stopped_early and result.steps < 80
    assert len(scores) == best + 3  # patience 2: two evaluations without gain after the best
    assert result.best_score == scores[best]
    again = predict_probs(t["model"], t["valid"], device="cpu", max_tokens=1024, batch_size=64, pad_id=t["pad_id"])
    np.testing.assert_allclose(again, result.valid_probs, atol=1e-6)
    f1_of_returned = result.history[best]["valid_macro_f1"]
    assert f1_of_returned > scores[-1]


def test_deadline_in_the_past_stops_before_any_step(task, tmp_path):
    import time

    t = task()
    result = run(t, tmp_path, deadline=time.time() - 1)
    assert result.stopped_by_deadline and result.steps == 0 and not result.stopped_early
    assert result.valid_probs.shape == (len(t["valid"]), 2)


def test_zero_sample_weights_silence_corrupted_rows(task, tmp_path):
    t = task("gpt2", n_train=400)
    rng = np.random.default_rng(0)
    corrupted = rng.random(len(t["train"])) < 0.6
    labels = np.where(corrupted, 1 - t["train_labels"], t["train_labels"])
    weights = np.where(corrupted, 0.0, 1.0).astype(np.float32)
    weighted = run(t, tmp_path / "w", sample_weights=weights, labels=labels)
    unweighted = run(task("gpt2", n_train=400), tmp_path / "u", labels=labels)
    assert weighted.best_score >= 0.9
    assert unweighted.best_score < weighted.best_score


def test_grad_accumulation_halves_the_optimizer_steps(task, tmp_path):
    one = run(task("gpt2"), tmp_path / "a", epochs=4.0)
    two = run(task("gpt2"), tmp_path / "b", epochs=4.0, grad_accum=2)
    assert two.steps == round(one.steps / 2)
    assert two.telemetry["real_tokens"] == one.telemetry["real_tokens"]  # same data seen, fewer updates
    assert two.best_score >= 0.8


def test_progress_shows_loss_throughput_and_epoch(task, tmp_path):
    progress = FakeProgress()
    result = run(task(), tmp_path, progress=progress, log_every=2)
    assert progress.total == progress.advanced == result.steps
    seen = progress.fields
    assert seen["loss"] > 0 and seen["tok_s"] > 0 and seen["epoch"] == pytest.approx(4.0, abs=0.01)


def test_on_evaluate_sees_each_entry_and_can_stop_training(task, tmp_path):
    entries = []

    class Pruned(Exception):
        pass

    def hook(entry):
        entries.append(entry)
        if len(entries) == 2:
            raise Pruned

    with pytest.raises(Pruned):
        fit(
            *(task()[k] for k in ("model", "train", "train_labels", "valid", "valid_labels")),
            TrainParams(**FAST_FIT, epochs=4.0), device="cpu", seed=0, checkpoint_dir=tmp_path, on_evaluate=hook,
        )  # fmt: skip
    assert [e["step"] for e in entries] == sorted({e["step"] for e in entries}) and len(entries) == 2
    assert {"valid_macro_f1", "train_loss", "valid_loss", "lr", "epoch"} <= set(entries[0])


def test_weighted_loss_matches_torch_cross_entropy():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    cw = torch.tensor([1.0, 2.0, 0.5])
    ours = classification_loss(logits, labels, torch.ones(6), class_weight=cw)
    ref = torch.nn.functional.cross_entropy(logits, labels, weight=cw)
    assert torch.allclose(ours, ref)
    sw = torch.tensor([1.0, 0.0, 2.0, 1.0, 1.0, 0.0])
    per_row = torch.nn.functional.cross_entropy(logits, labels, reduction="none", label_smoothing=0.1)
    expected = (per_row * sw).sum() / sw.sum()
    assert torch.allclose(classification_loss(logits, labels, sw, label_smoothing=0.1), expected)
    np.testing.assert_allclose(class_weights(np.array([0, 0, 0, 1]), 3), [2 / 3, 2.0, 1.0], rtol=1e-6)


def test_schedule_warms_up_then_decays_to_zero():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, total_steps=10, warmup_steps=4)
    rates = []
    for _ in range(10):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    rates.append(opt.param_groups[0]["lr"])
    assert rates[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert rates[-1] == 0.0 and all(a >= b for a, b in itertools.pairwise(rates[4:]))
