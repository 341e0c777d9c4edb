"""IG completeness on every tiny family, exact linear contributions, word aggregation, the planted word."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ratchet.explain.gradients import DEFAULT_STEPS, TorchClassifier, integrated_gradients
from ratchet.explain.linear import linear_contributions
from ratchet.explain.words import only_words, overlap_weights, without_words, word_spans
from ratchet.models.linear import LinearTextModel
from ratchet.models.load import load_for_classification
from ratchet.models.tiny import toy_dataset

TEXT = "this drug was really good, it made me feel better after a week"


def _trained(folder, n_labels: int, epochs: int = 6, lr: float = 1e-2, rows: int = 96):
    """A tiny model trained on texts whose label is their cue word (a random head barely moves the probability)."""
    torch.manual_seed(0)
    texts, labels = toy_dataset(rows, seed=3, n_labels=n_labels)
    model, tokenizer = load_for_classification(str(folder), ["bad", "good", "okay"][:n_labels])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for start in range(0, len(texts), 16):
            batch = tokenizer(texts[start : start + 16], padding=True, return_tensors="pt")
            batch.pop("token_type_ids", None) if "token_type_ids" not in tokenizer.model_input_names else None
            loss = torch.nn.functional.cross_entropy(model(**batch).logits, torch.as_tensor(labels[start : start + 16]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval(), tokenizer


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5", "sbert"])
def test_ig_scores_add_up_to_the_probability_change(family: str, tiny_model_dir) -> None:
    model, tokenizer = _trained(tiny_model_dir(family), 3, epochs=1)  # one epoch: moved, not saturated
    clf = TorchClassifier(model, tokenizer, max_length=64)
    moved = 0.0
    for target in range(3):
        found = integrated_gradients(clf, TEXT, target, DEFAULT_STEPS)
        delta = found.value - found.baseline_value
        moved = max(moved, abs(delta))
        assert len(found.scores) == len(word_spans(TEXT))
        assert found.scores.sum() == pytest.approx(delta, abs=1e-5 + 0.05 * abs(delta))
    assert moved > 1e-4  # the check above compared real changes, not two zeros


def test_ig_value_is_the_models_probability(tiny_model_dir) -> None:
    model, tokenizer = _trained(tiny_model_dir("sbert"), 2, epochs=1)
    clf = TorchClassifier(model, tokenizer, max_length=64)
    found = integrated_gradients(clf, TEXT, 1, 4)
    with torch.no_grad():
        probs = torch.softmax(model(**tokenizer([TEXT], return_tensors="pt")).logits, -1)
    assert found.value == pytest.approx(float(probs[0, 1]), abs=1e-5)


@pytest.mark.parametrize("n_labels", [2, 3])
def test_linear_contributions_are_exact(n_labels: int) -> None:
    texts, labels = toy_dataset(120, seed=0, n_labels=n_labels)
    model = LinearTextModel().fit(texts, labels, n_labels)
    for text in ("the drug was good, really good!", "bad dose - well-being after a week", "okay"):
        scores = model.classifier_.decision_function(model.features([text]))[0]
        logits = [-scores, scores] if n_labels == 2 else list(scores)  # binary: the first class's log-odds is -z
        for target in range(n_labels):
            found = linear_contributions(model, text, target)
            assert found.unassigned == 0.0
            assert found.scores.sum() + found.intercept == pytest.approx(float(logits[target]), abs=1e-9)
            assert len(found.scores) == len(word_spans(text))


def test_linear_gives_nothing_to_words_outside_its_features() -> None:
    texts, labels = toy_dataset(120, seed=0)
    model = LinearTextModel().fit(texts, labels, 2)
    found = linear_contributions(model, "good zzqx", 1)
    assert found.scores[1] == 0.0  # no n-gram of "zzqx" is in the vocabulary
    assert found.scores[0] > 0.5  # "good" is class 1's cue


def test_sub_tokens_sum_to_their_word() -> None:
    # "unhelpful" read as three pieces, "," as one, a GPT-2 piece " drug" with its space, a special token, a lone space.
    words = word_spans("unhelpful, drug")  # [(0, 9), (9, 10), (11, 15)]
    pieces = [(0, 0), (0, 2), (2, 6), (6, 9), (9, 10), (10, 15), (10, 11)]
    weights = overlap_weights(pieces, words)
    np.testing.assert_allclose(weights.sum(axis=1), [0, 1, 1, 1, 1, 1, 1])
    token_scores = np.array([0.0, 0.1, 0.2, 0.3, -0.05, 0.4, 0.01])
    np.testing.assert_allclose(token_scores @ weights, [0.6, -0.05, 0.41])


def test_removing_and_keeping_words() -> None:
    text = "great drug , no side effects"
    spans = word_spans(text)
    assert without_words(text, spans, {0, 4}) == "drug , no effects"
    assert only_words(text, spans, {0, 4}) == "great side"


def test_planted_word_comes_first() -> None:
    """The TF-IDF model trained on texts whose label is decided by one cue word ranks that word first,
    by its exact contributions and by occlusion through the Explainer."""
    from ratchet.explain.explainer import Explainer
    from ratchet.models.decision import Decision
    from ratchet.models.linear_folder import LinearPredictor
    from ratchet.predictor import DecidedPredictor

    texts, labels = toy_dataset(160, seed=3, n_labels=3)
    model = LinearTextModel().fit(texts, labels, 3)
    explainer = Explainer(DecidedPredictor(LinearPredictor(model, ["bad", "good", "okay"], {}), Decision()))
    test_texts, test_labels = toy_dataset(12, seed=4, n_labels=3)
    for method in ("ig", "occlusion"):
        for e, label in zip(explainer.explain(test_texts, method), test_labels, strict=True):
            assert e.label == ("bad", "good", "okay")[label]
            assert e.top(1)[0][0] == e.label, (method, e.text, e.scores)


@pytest.mark.parametrize("family", ["bert", "sbert"])
def test_planted_word_comes_first_in_a_transformer(family: str, tiny_model_dir) -> None:
    """A tiny transformer trained on texts whose label is their cue word: wherever the text moves the probability
    from the all-padding baseline (where it does not, IG has nothing to attribute: its scores add up to that
    change), IG ranks the cue word first in most rows, far above chance (about 1 in 8 words).

    Not in every row: a tiny model this sure reads some words together, and one rounding difference (1 or 2
    threads) moved the tiny BERT's ranking in 2 of 8 such rows. At lr 1e-2 it became a step function of its
    input (probability 0.003 -> 0.95 within 1/2000 of the path), which no quadrature integrates: lr 3e-3."""
    model, tokenizer = _trained(tiny_model_dir(family), 3, epochs=6, lr=3e-3)
    clf = TorchClassifier(model, tokenizer, max_length=64)
    names = ("bad", "good", "okay")
    texts, labels = toy_dataset(24, seed=4, n_labels=3)
    checked = first = 0
    for text, label in zip(texts, labels, strict=True):
        found = integrated_gradients(clf, text, int(label), DEFAULT_STEPS)
        change = found.value - found.baseline_value
        # The scores explain the whole change: a model this sure can turn over in a sliver of the path,
        # which 32 points missed on CI (scores summing to 0.001 of a 0.5 change); IG refines until they add up.
        assert found.completeness_error <= 1e-3 + 0.05 * abs(change), (text, found.steps)
        if change < 0.5:
            continue
        spans = word_spans(text)
        top = spans[int(np.argmax(found.scores))]
        checked += 1
        first += text[top[0] : top[1]] == names[label]
    assert checked >= 3  # the cue was learned for enough rows that the check means something
    assert first >= 0.7 * checked, (first, checked)


def test_scores_that_do_not_add_up_carry_a_note(monkeypatch) -> None:
    """Where refinement gives up (a step-like model), the explanation says its sizes are not to be trusted."""
    import ratchet.explain.explainer as explainer_module
    from ratchet.explain.explainer import Explainer
    from ratchet.explain.gradients import WordAttribution

    class _Predictor:
        def __init__(self) -> None:
            self.labels, self.meta = ["no", "yes"], {}
            self.base = SimpleNamespace(meta={})
            self.decision = SimpleNamespace(temperature=1.0)

        def predict_probs(self, texts):
            return np.tile([0.1, 0.9], (len(texts), 1))

        def predict_ids(self, probs):
            return probs.argmax(axis=1)

    sums = {"add up": [0.5, 0.3], "miss": [0.001, 0.0]}
    for case, scores in sums.items():
        found = WordAttribution(np.asarray(scores), value=0.9, baseline_value=0.1, truncated_words=0, steps=512)
        monkeypatch.setattr(explainer_module, "integrated_gradients", lambda *args, _found=found: _found)
        predictor = _Predictor()
        explainer = Explainer(predictor)
        explainer._modules[id(predictor.base)] = object()  # a readable module; the patched IG ignores it
        (explained,) = explainer.explain(["good pill"])
        if case == "add up":
            assert explained.notes == []
        else:
            assert "+0.001 of a +0.800 probability change" in explained.notes[0]
