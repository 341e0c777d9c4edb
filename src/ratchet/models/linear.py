"""TF-IDF (word 1-2-grams + character n-grams) with logistic regression: the floor and the fallback.

It trains in seconds on a CPU, so it is the number every later step must beat, a
candidate in ``select`` (when nothing beats it, it ships), and the model to use when
there is no GPU and little time. Its folder (written and read by ``linear_folder.py``,
data only, never a pickle) loads through ``ratchet.predictor.load_predictor`` exactly
like a transformer's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ratchet.errors import RatchetError


@dataclass(frozen=True)
class LinearParams:
    word_ngrams: tuple[int, int] = (1, 2)
    """Word n-gram range of the first TF-IDF block."""
    char_ngrams: tuple[int, int] = (2, 5)
    """Character n-gram range (within word boundaries): robust to typos, inflection and unseen words."""
    max_features: int = 200_000
    """Vocabulary cap per TF-IDF block: bounds memory on large corpora."""
    c_grid: tuple[float, ...] = (0.5, 2.0, 8.0, 32.0)
    """Inverse regularization strengths tried; the one with the best validation macro-F1 is kept."""
    class_weight: str | None = "balanced"
    """"balanced" weights classes by inverse frequency, which is what macro-F1 rewards."""


class LinearTextModel:
    """Featurizer + multinomial logistic regression. ``fit`` returns self; learned state ends in ``_``."""

    def __init__(self, params: LinearParams = LinearParams(), C: float = 2.0, seed: int = 0) -> None:
        self.params = params
        self.C = C
        self.seed = seed

    # -- features -----------------------------------------------------------------------------
    def fit_features(self, texts: Sequence[str], pairs: Sequence[str] | None = None):
        """Fit the vectorizers (once; every C of the grid reuses them) -> training matrix."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        # min_df=2 drops hapax n-grams on larger sets (noise, memory); tiny sets need every n-gram.
        min_df = 2 if len(texts) >= 1000 else 1
        p = self.params

        def vectorizers() -> list[Any]:
            return [
                TfidfVectorizer(
                    ngram_range=p.word_ngrams, sublinear_tf=True, min_df=min_df, max_features=p.max_features
                ),
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=p.char_ngrams, sublinear_tf=True, min_df=min_df,
                    max_features=p.max_features,
                ),
            ]  # fmt: skip

        # The second text of a pair gets its own vocabulary, so "word in premise" and
        # "word in hypothesis" stay distinct features.
        self.vectorizers_ = [vectorizers()] + ([vectorizers()] if pairs is not None else [])
        blocks = []
        for column, vecs in zip(self._columns(texts, pairs), self.vectorizers_, strict=True):
            blocks.extend(vec.fit_transform(column) for vec in vecs)
        return _hstack(blocks)

    def features(self, texts: Sequence[str], pairs: Sequence[str] | None = None):
        if (pairs is not None) != (len(self.vectorizers_) == 2):
            raise RatchetError("this linear model was trained with another text-pair setting: pass the same columns")
        blocks = []
        for column, vecs in zip(self._columns(texts, pairs), self.vectorizers_, strict=True):
            blocks.extend(vec.transform(column) for vec in vecs)
        return _hstack(blocks)

    @staticmethod
    def _columns(texts: Sequence[str], pairs: Sequence[str] | None) -> list[list[str]]:
        columns = [[str(t) for t in texts]]
        if pairs is not None:
            columns.append([str(t) for t in pairs])
        return columns

    # -- classifier ----------------------------------------------------------------------------
    def fit_classifier(self, X, label_ids: np.ndarray, n_labels: int, weights: np.ndarray | None = None):
        label_ids = np.asarray(label_ids, dtype=np.int64)
        self.classifier_ = self.new_classifier(multilabel=label_ids.ndim == 2)
        self.classifier_.fit(X, label_ids, sample_weight=weights)
        self.n_labels_ = int(n_labels)
        return self

    def new_classifier(self, multilabel: bool = False):
        """The unfitted LogisticRegression this model fits (load_linear_predictor fills in a saved one's arrays);
        label sets (``multilabel``): one binary logistic regression per label."""
        from sklearn.linear_model import LogisticRegression

        if multilabel:
            from ratchet.models.one_vs_rest import OneVsRestLogistic

            return OneVsRestLogistic(C=self.C, class_weight=self.params.class_weight, seed=self.seed)

        # lbfgs with a loose tolerance converges in a few dozen iterations on TF-IDF features;
        # the tolerance changes the validation score far less than C does.
        return LogisticRegression(
            C=self.C, class_weight=self.params.class_weight, max_iter=1000, tol=1e-3, random_state=self.seed
        )

    def fit(
        self,
        texts: Sequence[str],
        label_ids: np.ndarray,
        n_labels: int,
        pairs: Sequence[str] | None = None,
        weights: np.ndarray | None = None,
    ) -> LinearTextModel:
        return self.fit_classifier(self.fit_features(texts, pairs), label_ids, n_labels, weights)

    def proba_from_features(self, X) -> np.ndarray:
        """(n, n_labels) float32; labels absent from training get probability 0."""
        out = np.zeros((X.shape[0], self.n_labels_), dtype=np.float32)
        if X.shape[0] and self.multilabel:
            return self.classifier_.predict_proba(X)
        if X.shape[0]:
            out[:, self.classifier_.classes_] = self.classifier_.predict_proba(X)
        return out

    def predict_proba(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        return self.proba_from_features(self.features(texts, pairs))

    @property
    def multilabel(self) -> bool:
        from ratchet.models.one_vs_rest import OneVsRestLogistic

        return isinstance(getattr(self, "classifier_", None), OneVsRestLogistic)


def _hstack(blocks: list[Any]):
    from scipy.sparse import hstack

    return hstack(blocks, format="csr")


@dataclass
class LinearFit:
    model: LinearTextModel
    valid_probs: np.ndarray
    best_score: float
    grid: list[dict[str, float]] = field(default_factory=list)
    """One entry per C tried: C, valid_macro_f1, seconds."""
    seconds: float = 0.0


def fit_linear(
    train_texts: Sequence[str],
    train_labels: np.ndarray,
    valid_texts: Sequence[str],
    valid_labels: np.ndarray,
    n_labels: int,
    *,
    train_pairs: Sequence[str] | None = None,
    valid_pairs: Sequence[str] | None = None,
    weights: np.ndarray | None = None,
    params: LinearParams = LinearParams(),
    seed: int = 0,
    deadline: float | None = None,
) -> LinearFit:
    """Vectorize once, fit one classifier per C, keep the best on validation macro-F1.

    The grid stops early when ``deadline`` passes (at least one C is always fitted).
    """
    from ratchet.evaluation.metrics import score

    started = time.time()
    if not params.c_grid:
        raise RatchetError("linear c_grid is empty: give at least one C value")
    model = LinearTextModel(params, C=params.c_grid[0], seed=seed)
    X_train = model.fit_features(train_texts, train_pairs)
    X_valid = model.features(valid_texts, valid_pairs)
    best: tuple[float, float, Any, np.ndarray] | None = None
    grid = []
    for C in params.c_grid:
        if best is not None and deadline is not None and time.time() > deadline:
            break
        t0 = time.time()
        model.C = C
        model.fit_classifier(X_train, train_labels, n_labels, weights)
        probs = model.proba_from_features(X_valid)
        # label sets: C chosen by micro-F1, the multi-label gate's default
        metric = "micro_f1" if np.ndim(valid_labels) == 2 else "macro_f1"
        value = float(score(metric, np.asarray(valid_labels), probs)) if len(valid_labels) else 0.0
        grid.append({"C": C, "valid_macro_f1": value, "seconds": time.time() - t0})
        if best is None or value > best[0]:
            best = (value, C, model.classifier_, probs)
    assert best is not None
    model.C, model.classifier_ = best[1], best[2]
    return LinearFit(model, best[3], best[0], grid, time.time() - started)
