"""Python use of ratchet: ``ratchet.load`` (a trained model as a predictor) and ``ratchet.TextClassifier``.

Both predict exactly as ``ratchet predict`` does: the run's text cleaning, then the shipped
model, its calibration (``prob_`` = ``predict_proba``) and its class decisions (``predict``).
``TextClassifier`` is a scikit-learn estimator: ``fit`` runs the whole pipeline (in a temporary
run folder unless ``out`` is given), so ``clone``, ``cross_val_score`` and grid searches work.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ratchet.errors import RatchetError


class Predictor:
    """A trained model folder, loaded once: ``predict``, ``predict_proba``, ``classes_``."""

    def __init__(self, run_or_model: str | Path, device: str = "auto") -> None:
        from ratchet.config import CleanParams
        from ratchet.devices import resolve_device
        from ratchet.predict import model_dir_of
        from ratchet.predictor import load_predictor

        self.model_dir = model_dir_of(run_or_model)
        self._predictor = load_predictor(self.model_dir, device=resolve_device(device))
        meta = self._predictor.meta
        self._clean = CleanParams(**meta["clean"]) if "clean" in meta else CleanParams()
        self.classes_ = np.asarray(self._predictor.labels, dtype=object)
        self.text_pair = bool(meta.get("text_pair"))

    @property
    def meta(self) -> dict[str, Any]:
        """The model folder's ratchet.json: kind, backbone, recipe, max_length, cleaning."""
        return self._predictor.meta

    def predict_proba(self, texts: Iterable[Any], pairs: Iterable[Any] | None = None) -> np.ndarray:
        """One row per text, one column per entry of ``classes_``: calibrated probabilities."""
        from ratchet.data.clean import normalize_texts

        texts = _text_list(texts, "texts")
        if self.text_pair and pairs is None:
            raise RatchetError("this model reads text pairs: pass pairs=[...] with the second text of each row")
        if not self.text_pair and pairs is not None:
            raise RatchetError("this model does not read text pairs: call it with texts only")
        pair_list = None
        if pairs is not None:
            pair_list = normalize_texts(_text_list(pairs, "pairs"), self._clean)
            if len(pair_list) != len(texts):
                raise RatchetError(f"got {len(texts)} texts but {len(pair_list)} pairs: pass one pair per text")
        return self._predictor.predict_probs(normalize_texts(texts, self._clean), pair_list)

    @property
    def multilabel(self) -> bool:
        """True for a multi-label model: ``predict`` gives label sets, ``predict_proba`` independent sigmoids."""
        return bool(self._predictor.multilabel)

    @property
    def thresholds(self) -> list[float] | None:
        """Multi-label: each label's decision threshold (``classes_`` order; 0.5 where none was tuned); else None."""
        if not self.multilabel:
            return None
        tuned = self._predictor.decision.thresholds
        return [float(t) for t in tuned] if tuned is not None else [0.5] * len(self.classes_)

    def predict(self, texts: Iterable[Any], pairs: Iterable[Any] | None = None) -> np.ndarray | list[list[Any]]:
        """The predicted label of each text (the model's decision: class biases applied where it has them).

        A multi-label model returns one list of labels per text (in ``classes_`` order, empty where no label
        reaches its threshold), as ``ratchet predict`` writes them; ``predict_indicator`` gives the 0/1 matrix."""
        probs = self.predict_proba(texts, pairs)
        decided = self.decide_ids(probs)
        if np.ndim(decided) == 2:
            return [[self.classes_[j] for j in np.flatnonzero(row)] for row in decided]
        return self.classes_[decided] if len(probs) else self.classes_[:0]

    def predict_indicator(self, texts: Iterable[Any], pairs: Iterable[Any] | None = None) -> np.ndarray:
        """Multi-label: the (texts, labels) 0/1 matrix of the label sets, columns in ``classes_`` order (the
        per-label thresholds applied; scikit-learn's convention for label sets)."""
        if not self.multilabel:
            raise RatchetError("predict_indicator is for multi-label models: use predict for this model's labels")
        return np.asarray(self.decide_ids(self.predict_proba(texts, pairs)))

    def decide_ids(self, probs: np.ndarray) -> np.ndarray:
        """Class indices (into ``classes_``) decided from probabilities ``predict_proba`` returned."""
        return self._predictor.predict_ids(probs)

    def explain(
        self, texts: Iterable[Any], method: str = "ig", target: Any = "predicted", top: int = 5, steps: int = 32
    ) -> list[dict[str, Any]]:
        """Per text: ``words``, their ``scores`` toward ``target`` (the predicted label unless a label is given),
        the predicted ``label`` and its ``probability``, ``top_words`` and how the scores add up (``space``,
        ``value``, ``baseline_value``). ``method``: "ig" (Integrated Gradients; the TF-IDF model's exact
        contributions) or "occlusion" (each word deleted). See ``ratchet.explain``.

        A multi-label model gives one dict per (text, label explained): each predicted label (the most probable
        one for an empty set) or ``target``, with ``row`` (the text's index) and ``predicted_labels`` (the set)."""
        from ratchet.data.clean import normalize_texts
        from ratchet.explain.explainer import Explainer

        if self.meta.get("kind") == "export":
            raise RatchetError("explanations need the run's own model (an export folder holds ONNX graphs): "
                               "load the run instead")  # fmt: skip
        if getattr(self, "_explainer", None) is None:
            self._explainer = Explainer(self._predictor)  # keeps the differentiable modules between calls
        cleaned = normalize_texts(_text_list(texts, "texts"), self._clean)
        return [e.to_dict(top) for e in self._explainer.explain(cleaned, method, target, steps)]


def load(run_or_model: str | Path, device: str = "auto") -> Predictor:
    """The model a run shipped (``RUN`` or ``RUN/model``, or an export folder of ``ratchet export``, which
    runs with onnxruntime on the CPU), ready to predict."""
    return Predictor(run_or_model, device=device)


def _text_list(values: Iterable[Any], name: str) -> list[Any]:
    if isinstance(values, (str, bytes)):
        raise RatchetError(f"{name} must be a list of texts, not one string: wrap it, e.g. predict([text])")
    try:
        return list(values)
    except TypeError:
        raise RatchetError(f"{name} must be a list of texts, got {type(values).__name__}") from None


class TextClassifier(ClassifierMixin, BaseEstimator):
    """ratchet's whole pipeline as a scikit-learn classifier.

    ``fit(texts, labels)`` runs the preset (clean, split, baseline, train, ... evaluate) on the
    rows given, with a share of them sealed as the run's own test set, and loads what the run
    shipped. The run folder is ``out`` (a new folder: an existing run is refused, never wiped) or a
    temporary folder removed with the estimator.
    ``overrides`` are ``key=value`` settings as on the command line (``train.epochs=2``).

    scikit-learn's estimator classes are subclassed because they are its protocol (``clone``,
    tags, ``score``); nothing of ratchet's own behaviour is inherited.
    """

    def __init__(
        self,
        preset: str = "fast",
        budget: str | float | None = None,
        out: str | None = None,
        models: Sequence[str] = ("default",),
        steps: Sequence[str] | None = None,
        overrides: Sequence[str] = (),
        seed: int = 0,
        device: str = "auto",
        refit_all: bool = False,
        verbose: bool = False,
    ) -> None:
        self.preset = preset
        self.budget = budget
        self.out = out
        self.models = models
        self.steps = steps
        self.overrides = overrides
        self.seed = seed
        self.device = device
        self.refit_all = refit_all
        self.verbose = verbose

    def fit(self, X: Iterable[Any], y: Iterable[Any]) -> TextClassifier:
        import pandas as pd

        from ratchet.config import RunConfig, apply_overrides
        from ratchet.data.io import write_parquet
        from ratchet.pipeline import Pipeline
        from ratchet.reporting.progress import Progress

        texts, labels = _text_list(X, "X"), _labels_of(y)
        if len(texts) != len(labels):
            raise RatchetError(f"X has {len(texts)} texts but y has {len(labels)} labels: pass one label per text")
        self._workdir = tempfile.TemporaryDirectory(prefix="ratchet-fit-")  # holds the data file (and the run)
        work = Path(self._workdir.name)
        data = work / "train.parquet"
        write_parquet(data, pd.DataFrame({"text": [None if t is None else str(t) for t in texts], "label": labels}))
        out = Path(self.out) if self.out is not None else work / "run"
        config = RunConfig(
            data=str(data), out=str(out), models=tuple(self.models), budget=self.budget, preset=self.preset,
            steps=None if self.steps is None else tuple(self.steps), seed=self.seed, device=self.device,
            refit_all=self.refit_all,  # an existing ``out`` is refused, never wiped
        )  # fmt: skip
        config = apply_overrides(config, list(self.overrides))
        result = Pipeline.from_config(config, progress=Progress(enabled=self.verbose)).run()
        self.run_dir_ = result.run_dir
        self.ledger_ = result.ledger
        self.metrics_ = result.metrics
        self.predictor_ = Predictor(result.run_dir, device=self.device)
        self.classes_ = self.predictor_.classes_
        return self

    def _fitted(self) -> Predictor:
        predictor = getattr(self, "predictor_", None)
        if predictor is None:
            raise RatchetError("this TextClassifier is not fitted yet: call fit(texts, labels) first")
        return predictor

    def predict_proba(self, X: Iterable[Any]) -> np.ndarray:
        return self._fitted().predict_proba(X)

    def predict(self, X: Iterable[Any]) -> np.ndarray:
        """Labels; label sets as the 0/1 indicator matrix (scikit-learn's convention, so ``score`` and the
        multi-label metrics of sklearn.metrics work), columns in ``classes_`` order."""
        predictor = self._fitted()
        return predictor.predict_indicator(X) if predictor.multilabel else predictor.predict(X)


def _labels_of(y: Iterable[Any]) -> list[Any]:
    """One label per text, or (multi-label) one list of labels per text: list cells become label sets."""
    values = list(y) if not isinstance(y, np.ndarray) else list(y.ravel()) if y.ndim == 1 else None
    if values is not None and any(isinstance(v, (list, tuple, set)) for v in values):
        return [sorted(str(label) for label in v) if isinstance(v, (list, tuple, set)) else v for v in values]
    return list(np.asarray(y, dtype=object).ravel())
