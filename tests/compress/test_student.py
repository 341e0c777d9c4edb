"""The student: which layers it keeps, that every family still runs and saves thinned, and the distillation loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import ratchet
from ratchet.compress.student import kept_layers, layer_lists, shrink, soft_labels
from ratchet.evaluation.significance import judge
from ratchet.models.load import load_classifier, load_for_classification, save_classifier
from ratchet.training.optim import classification_loss

LABELS = ["a", "b", "c"]


def test_kept_layers_are_evenly_spaced_with_first_and_last() -> None:
    assert kept_layers(6, 3) == [0, 2, 5]  # 0 holds T5's relative position bias; the last feeds the head
    assert kept_layers(12, 6) == [0, 2, 4, 7, 9, 11]
    assert kept_layers(6, 1) == [0]
    assert kept_layers(4, 4) == [0, 1, 2, 3] and kept_layers(2, 5) == [0, 1]


@pytest.mark.parametrize("family", ["bert", "sbert", "gpt2", "t5"])
def test_every_family_runs_and_reloads_thinned(tiny_model_dir, tmp_path: Path, family: str) -> None:
    model, tokenizer = load_for_classification(str(tiny_model_dir(family)), LABELS)
    before = [len(stack) for *_, stack in layer_lists(model)]
    total, kept = shrink(model, 0.5)
    assert before[0] == total and kept == max(1, round(total * 0.5)) < total
    # Each stack keeps half of its own layers (tiny T5: 2 encoder blocks -> 1; its 1 decoder block stays).
    expected = [max(1, round(n * 0.5)) for n in before]
    assert [len(stack) for *_, stack in layer_lists(model)] == expected
    save_classifier(model.eval(), tokenizer, LABELS, tmp_path / "student", {"max_length": 16})
    texts = ["good and useful", "bad, it broke after a day"]
    reloaded, *_ = load_classifier(tmp_path / "student")
    assert [len(stack) for *_, stack in layer_lists(reloaded)] == expected
    inputs = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():  # the saved config describes the thinned model: same logits after reloading
        expected = model(**inputs).logits
        torch.testing.assert_close(reloaded(**inputs).logits, expected)
    assert ratchet.load(tmp_path / "student").predict_proba(texts).shape == (2, 3)


def test_soft_labels_soften_and_keep_the_order() -> None:
    probs = np.array([[0.9, 0.08, 0.02]])
    soft = soft_labels(probs, 2.0)
    np.testing.assert_allclose(soft.sum(), 1.0, rtol=1e-6)
    assert soft[0, 0] < 0.9 and soft[0, 2] > 0.02 and list(np.argsort(-soft[0])) == [0, 1, 2]
    np.testing.assert_allclose(soft_labels(probs, 1.0), probs, rtol=1e-5)


def test_distillation_loss_is_soft_cross_entropy_times_t_squared() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    soft = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    weights = torch.ones(2)
    loss = classification_loss(logits, torch.tensor([0, 1]), weights, soft_targets=soft, temperature=2.0)
    expected = -(soft * torch.log_softmax(logits / 2.0, -1)).sum(-1).mean() * 4.0
    torch.testing.assert_close(loss, expected)
    # With one-hot targets at temperature 1 it is the usual cross-entropy.
    one_hot = torch.nn.functional.one_hot(torch.tensor([0, 1]), 3).float()
    hard = classification_loss(logits, torch.tensor([0, 1]), weights)
    torch.testing.assert_close(classification_loss(logits, torch.tensor([0, 1]), weights, soft_targets=one_hot), hard)


def test_non_inferiority_keeps_a_tie_and_rejects_a_real_loss() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    reference = np.eye(3)[np.where(rng.random(600) < 0.8, y, (y + 1) % 3)]
    # The same decisions: no loss at all, kept even though it is not better.
    same = judge(y, reference, reference.copy(), metric="macro_f1", min_gain=0.0, confidence=0.8, n_bootstrap=500,
                 seed=0, margin=0.005)  # fmt: skip
    assert same.kept and same.p_within == 1.0 and "P(loss <= 0.0050)=1.000" in same.reason
    # 60 more mistakes (about 0.1 macro-F1): far outside the margin.
    worse = reference.copy()
    right = np.flatnonzero(reference.argmax(1) == y)[:60]
    worse[right] = np.eye(3)[(y[right] + 1) % 3]
    lost = judge(y, reference, worse, metric="macro_f1", min_gain=0.0, confidence=0.8, n_bootstrap=500, seed=0,
                 margin=0.005)  # fmt: skip
    assert not lost.kept and lost.p_within < 0.01 and lost.reason.startswith("rejected")
    # Without a margin the usual question: a tie is not kept.
    assert not judge(y, reference, reference.copy(), metric="macro_f1", min_gain=0.0, confidence=0.8,
                     n_bootstrap=500, seed=0).kept  # fmt: skip
