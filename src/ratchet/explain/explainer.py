"""Explain a loaded model's predictions: word scores toward a class, by IG (exact for the linear model) or occlusion.

What each model kind gets (``method="ig"``):

- a fine-tune or the embedding kind: Integrated Gradients (gradients.py), in probability space;
- the TF-IDF linear model: its exact contributions (linear.py), in logit space (score = intercept
  + the word contributions);
- an ensemble (p = sum_i w_i p_i): each member in probability space, weighted by w_i and added.
  Exact: the weighting (the ensemble is linear in its members' probabilities), so the scores add up
  to p(text) - sum_i w_i p_i(member's baseline), up to each member's IG error. Approximate: a
  linear member's probability-space scores, which are its exact logit contributions rescaled by
  (p(text) - p(empty text)) / (z(text) - z(empty text)): the softmax has no exact split by word,
  the rescaling keeps each word's share of the logit and makes the member's scores add up.
- a routed model (chunk's pair): the member that reads the text explains it, as that member would;
  where the folder mixes both members on long texts (``long_weight`` below 1), both explain such a
  text, weighted like an ensemble's members (each with the folder's temperature folded into its own:
  exact without one, an approximation where calibrate put one on the mixed folder).

``method="occlusion"`` deletes one word at a time and scores the drop in the target's
(calibrated) probability, for every kind alike.

A multi-label model's labels do not compete: each has its own sigmoid probability, and a label is
explained on that probability (IG: the scores add up to p(label | text) - p(label | baseline); the
one-vs-rest linear model: its exact contributions to the label's log-odds). The default target
explains every label of the predicted set, one Explanation per (text, label); a text whose set is
empty explains its most probable label, so every row gets at least one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ratchet.errors import RatchetError
from ratchet.explain.gradients import DEFAULT_STEPS, MAX_STEPS, adds_up, integrated_gradients
from ratchet.explain.linear import linear_contributions
from ratchet.explain.result import IG, METHODS, OCCLUSION, Explanation
from ratchet.explain.words import without_words, word_spans

PREDICTED = "predicted"


@dataclass
class _Scores:
    scores: np.ndarray
    value: float
    baseline_value: float
    space: str
    truncated_words: int = 0


class Explainer:
    """Word attributions for one loaded predictor (``load_predictor``'s DecidedPredictor)."""

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor
        self.labels = list(predictor.labels)
        self._modules: dict[int, Any] = {}  # id(predictor) -> its TorchClassifier, built once

    def target_id(self, target: Any, predicted: int) -> int:
        if target is None or target == PREDICTED:
            return predicted
        for index, label in enumerate(self.labels):
            if str(label) == str(target):
                return index
        names = ", ".join(str(label) for label in self.labels)
        raise RatchetError(f"--target {target!r} is not a label of this model: use predicted or one of {names}")

    def explain(
        self,
        texts: list[str],
        method: str = IG,
        target: Any = PREDICTED,
        steps: int = DEFAULT_STEPS,
        on_row: Callable[[int], None] | None = None,
        max_steps: int = MAX_STEPS,
    ) -> list[Explanation]:
        """One Explanation per text (already cleaned as the model reads it); IG starts at ``steps`` points and
        refines up to ``max_steps`` where its scores do not add up (see explain/gradients.py)."""
        if method not in METHODS:
            raise RatchetError(f"unknown explanation method {method!r}: use {' or '.join(METHODS)}")
        if self.predictor.meta.get("text_pair"):
            raise RatchetError("explain does not support text-pair models yet: explain a model trained on one text")
        if target not in (None, PREDICTED):
            self.target_id(target, 0)  # a bad label fails before any work
        probs = self.predictor.predict_probs(list(texts)) if texts else np.zeros((0, len(self.labels)))
        decided = self.predictor.predict_ids(probs) if len(probs) else []
        multilabel = bool(getattr(self.predictor, "multilabel", False))
        out = []
        for index, text in enumerate(texts):
            row_probs = probs[index]
            if multilabel:
                predicted_set, pairs = self._label_set_targets(target, decided[index], row_probs)
            else:
                predicted, predicted_set = int(decided[index]), None
                pairs = [(predicted, self.target_id(target, predicted))]
            for predicted, goal in pairs:
                found = self._explain_one(text, goal, float(row_probs[goal]), method, (steps, max_steps))
                spans = word_spans(text)
                explanation = Explanation(
                    text=text, words=[text[s:e] for s, e in spans], spans=spans,
                    scores=[float(v) for v in found.scores], label=self.labels[predicted], label_id=predicted,
                    probability=float(row_probs[predicted]), target=self.labels[goal],
                    target_probability=float(row_probs[goal]), method=method, space=found.space, value=found.value,
                    baseline_value=found.baseline_value, truncated_words=found.truncated_words,
                    notes=_integral_notes(method, found), row=index, predicted_labels=predicted_set,
                )  # fmt: skip
                out.append(explanation)
            if on_row is not None:
                on_row(1)
        return out

    def _label_set_targets(
        self, target: Any, decided: np.ndarray, probs: np.ndarray
    ) -> tuple[list[Any], list[tuple[int, int]]]:
        """A multi-label row's predicted set and its (label, target) pairs, each label explaining itself: the
        target given, else every predicted label, else (an empty set) the most probable label."""
        chosen = [int(j) for j in np.flatnonzero(decided)]
        explained = [self.target_id(target, 0)] if target not in (None, PREDICTED) else chosen
        return [self.labels[j] for j in chosen], [(goal, goal) for goal in explained or [int(np.argmax(probs))]]

    def _explain_one(self, text: str, goal: int, probability: float, method: str, steps: tuple[int, int]) -> _Scores:
        if method == OCCLUSION:
            return self._occlusion(text, goal, probability)
        return self._attribute(self.predictor, text, goal, steps, top=True)

    def _occlusion(self, text: str, target: int, full: float) -> _Scores:
        spans = word_spans(text)
        variants = [without_words(text, spans, {i}) for i in range(len(spans))]
        probs = self.predictor.predict_probs(variants)[:, target] if variants else np.zeros(0)
        return _Scores(full - np.asarray(probs, dtype=np.float64), full, full, "drop")

    def _attribute(self, predictor: Any, text: str, target: int, steps: tuple[int, int], top: bool = False) -> _Scores:
        """Scores of ``predictor`` (a DecidedPredictor: its temperature applies); ``top``: the model asked
        for, whose linear kind stays in logit space; members are put in probability space."""
        from ratchet.models.ensemble import EnsemblePredictor
        from ratchet.models.linear_folder import LinearPredictor
        from ratchet.models.routed import RoutedPredictor

        base = predictor.base
        if isinstance(base, RoutedPredictor):  # the member(s) that read the text explain it
            readers = [(_with_outer_temperature(member, predictor), w) for member, w in base.members_for(text)]
            if len(readers) == 1:
                return self._attribute(readers[0][0], text, target, steps, top=top)
            return _weighted([self._attribute(member, text, target, steps) for member, _ in readers],
                             [w for _, w in readers])  # fmt: skip
        temperature = float(predictor.decision.temperature)
        if isinstance(base, EnsemblePredictor):
            weights = base.meta.get("weights") or [1.0 / len(base.members)] * len(base.members)
            return _weighted([self._attribute(member, text, target, steps) for member in base.members], weights)
        if isinstance(base, LinearPredictor):
            found = linear_contributions(base.model, text, target)
            logit = _Scores(found.scores + found.unassigned / max(len(found.scores), 1), found.score,
                            found.intercept, "logit")  # fmt: skip
            return logit if top else _to_probability(predictor, text, target, logit)
        key = id(base)
        if key not in self._modules:
            from ratchet.explain.torch_models import torch_classifier

            self._modules[key] = torch_classifier(base, temperature)
        module = self._modules[key]
        if module is None:
            raise RatchetError(f"explain cannot read a model of kind {base.meta.get('kind')!r}: upgrade ratchet")
        found = integrated_gradients(module, text, target, *steps)
        return _Scores(found.scores, found.value, found.baseline_value, "probability", found.truncated_words)


def _weighted(parts: list[_Scores], weights: list[float]) -> _Scores:
    """Probability-space scores of a weighted sum of models' probabilities: each part weighted and added."""
    pairs = list(zip(weights, parts, strict=True))
    return _Scores(
        np.asarray(sum(w * p.scores for w, p in pairs), dtype=np.float64), sum(w * p.value for w, p in pairs),
        sum(w * p.baseline_value for w, p in pairs), "probability", max(p.truncated_words for p in parts),
    )  # fmt: skip


def _with_outer_temperature(member: Any, routed: Any) -> Any:
    """``member`` with the routed folder's own temperature folded into its own: softmax(log softmax(z / T_m) / T_o)
    is softmax(z / (T_m T_o)) (and likewise for sigmoids), so the member then explains what predict reports."""
    from ratchet.predictor import DecidedPredictor

    outer = float(routed.decision.temperature)
    if outer == 1.0:
        return member
    combined = member.decision.with_(temperature=float(member.decision.temperature) * outer)
    return DecidedPredictor(member.base, combined)


def _integral_notes(method: str, found: _Scores) -> list[str]:
    """A warning where IG's scores still miss the change they should add up to after refinement: the model
    turns over in a sliver of the path (a saturated model), so the ranking holds better than the sizes."""
    if method != IG or found.space != "probability":
        return []
    change = found.value - found.baseline_value
    total = float(np.sum(found.scores))
    if adds_up(total, change):
        return []
    return [
        f"the scores add up to {total:+.3f} of a {change:+.3f} probability change even with the most IG steps: "
        "the model turns over abruptly between the empty text and this one, so trust the ranking more than the sizes"
    ]


def _to_probability(predictor: Any, text: str, target: int, logit: _Scores) -> _Scores:
    """A linear member's exact logit contributions rescaled to its probability change (see the module docstring)."""
    p_text, p_empty = (float(v) for v in predictor.predict_probs([text, ""])[:, target])
    moved = logit.value - logit.baseline_value
    scale = (p_text - p_empty) / moved if abs(moved) > 1e-12 else 0.0
    return _Scores(logit.scores * scale, p_text, p_empty, "probability")
