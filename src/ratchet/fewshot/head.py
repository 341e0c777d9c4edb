"""A scikit-learn logistic regression, moved into the Linear layer of the mean-pooling classifier.

Multinomial logistic regression predicts softmax(X W^T + b); the classifier computes
softmax(Linear(mean-pooled X)) - the same function once W and b are copied over. Binary
regression keeps one weight row w (p(second class) = sigmoid(w.x + b)), which is
softmax([0, w.x + b]): the first class gets a zero row. A class absent from the fitted rows
(a fold that drew none of its few rows) gets a zero row and a bias far below the others, so
its probability is ~0, as the regression would say.
"""

from __future__ import annotations

import numpy as np
import torch

ABSENT_BIAS = -30.0
"""Logit offset of a class the regression never saw: exp(-30) ~ 1e-13 of the probability mass."""


def linear_weights(coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, n_labels: int):
    """(weight (n_labels, d), bias (n_labels,)) whose softmax equals the regression's predict_proba."""
    coef = np.asarray(coef, dtype=np.float64)
    intercept = np.asarray(intercept, dtype=np.float64)
    classes = np.asarray(classes, dtype=np.int64)
    if len(classes) == 2 and coef.shape[0] == 1:  # binary: one row for the second class
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    weight = np.zeros((n_labels, coef.shape[1]))
    bias = np.full(n_labels, float(intercept.min()) + ABSENT_BIAS)
    weight[classes] = coef
    bias[classes] = intercept
    return weight, bias


def transplant(regression, linear: torch.nn.Linear) -> None:
    """Copy a fitted sklearn LogisticRegression (classes are label ids) into ``linear`` in place."""
    weight, bias = linear_weights(regression.coef_, regression.intercept_, regression.classes_, linear.out_features)
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(weight, dtype=linear.weight.dtype))
        linear.bias.copy_(torch.as_tensor(bias, dtype=linear.bias.dtype))
