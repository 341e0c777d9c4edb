"""One-vs-rest logistic regression for label sets: the TF-IDF baseline's multi-label classifier.

One binary logistic regression per label on the shared TF-IDF features, each label's probability
its own sigmoid (the labels of a row do not compete, unlike the softmax of one label per row).
The fitted state is just stacked coefficients and intercepts, so the model folder stores it as
the same ``coef`` / ``intercept`` / ``classes`` arrays as the multinomial model (data, no pickle).
"""

from __future__ import annotations

import numpy as np


class OneVsRestLogistic:
    """``fit`` returns self; learned state (coef_ (labels, features), intercept_ (labels,)) ends in ``_``."""

    def __init__(self, C: float = 2.0, class_weight: str | None = "balanced", seed: int = 0) -> None:
        self.C = C
        self.class_weight = class_weight
        self.seed = seed

    def fit(self, X, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> OneVsRestLogistic:
        from sklearn.linear_model import LogisticRegression

        Y = np.asarray(Y, dtype=np.int64)
        coef = np.zeros((Y.shape[1], X.shape[1]))
        intercept = np.zeros(Y.shape[1])
        for label in range(Y.shape[1]):
            column = Y[:, label]
            if column.min() == column.max():  # a label always (or never) on in these rows: its base rate
                rate = np.clip(column.mean(), 1e-4, 1 - 1e-4)
                intercept[label] = np.log(rate / (1 - rate))
                continue
            model = LogisticRegression(
                C=self.C, class_weight=self.class_weight, max_iter=1000, tol=1e-3, random_state=self.seed
            )
            model.fit(X, column, sample_weight=sample_weight)
            coef[label], intercept[label] = model.coef_[0], model.intercept_[0]
        self.coef_, self.intercept_ = coef, intercept
        self.classes_ = np.arange(Y.shape[1], dtype=np.int64)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """(rows, labels) independent sigmoid probabilities."""
        logits = np.asarray(X @ self.coef_.T) + self.intercept_
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
