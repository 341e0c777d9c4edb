"""Out-of-fold probabilities: each training row scored by a model that never saw it.

Label-error detection needs, for every training row, what a model *not trained on
that row* believes its label is; otherwise the model has memorized the (possibly
wrong) label. K-fold cross-fitting gives that. Two learners:

- fast: logistic regression on fixed features (frozen-encoder embeddings or TF-IDF),
  seconds for thousands of rows;
- thorough: K fine-tuned copies of the backbone (``ratchet.training.loop.fit``),
  each trained on K-1 folds with early stopping on the validation split.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.config import TrainParams

C_GRIDS = {"embeddings": (0.01, 0.1, 1.0), "tfidf": (1.0, 3.0, 10.0)}
"""Inverse regularization strengths tried for the fast learner per feature kind (standardized dense
embeddings need strong regularization, sparse TF-IDF little); picked on training folds only."""
SELECT_C_MAX_ROWS = 50_000
"""Above this many rows, C is picked on one fold instead of all of them (time)."""


def fold_ids(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per row, stratified; classes smaller than ``folds`` are spread as far as they go."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        # Continue the fold cycle across classes so that fold sizes stay balanced.
        out[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)
    return out


def _scale(x_train: Any, *others: Any) -> list[Any]:
    """Standardize dense features (embeddings) on training statistics; sparse TF-IDF stays as it is."""
    if not isinstance(x_train, np.ndarray):
        return [x_train, *others]
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0) + 1e-6
    return [(x - mean) / std for x in (x_train, *others)]


def fit_predict(
    x_train: Any,
    y_train: np.ndarray,
    x_eval: Any,
    n_labels: int,
    *,
    C: float,
    weights: np.ndarray | None = None,
    balanced: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """Fit logistic regression, return (n_eval, n_labels) probabilities (0 for classes unseen in training)."""
    from sklearn.linear_model import LogisticRegression

    out = np.zeros((x_eval.shape[0], n_labels), dtype=np.float32)
    present = np.unique(y_train)
    if len(present) == 1:  # a fold that holds one class only: nothing to fit, that class is certain
        out[:, present[0]] = 1.0
        return out
    x_train, x_eval = _scale(x_train, x_eval)
    model = LogisticRegression(
        C=C, max_iter=500, tol=1e-3, class_weight="balanced" if balanced else None, random_state=seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at the loose tolerance is expected and harmless
        model.fit(x_train, y_train, sample_weight=weights)
    out[:, model.classes_] = model.predict_proba(x_eval)
    return out


def _log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-7, None)).mean())


def linear_oof(
    x: Any,
    labels: np.ndarray,
    n_labels: int,
    *,
    folds: int,
    seed: int,
    weights: np.ndarray | None = None,
    kind: str = "embeddings",
) -> tuple[np.ndarray, dict[str, Any]]:
    """(n, n_labels) out-of-fold probabilities of logistic regression, C picked by out-of-fold log loss."""
    grid = C_GRIDS[kind]
    started = time.time()
    fold = fold_ids(labels, folds, seed)

    def run(C: float, only: list[int] | None = None) -> np.ndarray:
        probs = np.zeros((len(labels), n_labels), dtype=np.float32)
        for k in only if only is not None else range(folds):
            held = fold == k
            if not held.any():
                continue
            w = None if weights is None else weights[~held]
            probs[held] = fit_predict(x[~held], labels[~held], x[held], n_labels, C=C, weights=w, seed=seed)
        return probs

    if len(labels) <= SELECT_C_MAX_ROWS:
        results = {C: run(C) for C in grid}
        losses = {C: _log_loss(labels, p) for C, p in results.items()}
        best = min(losses, key=losses.__getitem__)
        probs = results[best]
    else:
        held = fold == 0
        losses = {C: _log_loss(labels[held], run(C, [0])[held]) for C in grid}
        best = min(losses, key=losses.__getitem__)
        probs = run(best)
    detail = {"C": best, "log_loss_by_C": {str(C): round(v, 4) for C, v in losses.items()}}
    detail["seconds"] = round(time.time() - started, 2)
    return probs, detail


def finetune_oof(
    model_name: str,
    labels_list: list[Any],
    train: Any,
    valid: Any,
    params: TrainParams,
    *,
    folds: int,
    seed: int,
    device: str,
    work_dir: Path,
    deadline: float | None = None,
    progress: Any = None,
) -> tuple[np.ndarray, dict[str, Any]] | None:
    """Out-of-fold probabilities from ``folds`` fine-tuned models; None when the deadline would pass.

    ``train`` and ``valid`` are ``ratchet.data.frames.Split``. Each fold model stops early on the
    validation split (whose labels it never changes). After the first fold the total time is
    projected; if it overruns ``deadline`` the thorough path is abandoned.
    """
    import torch

    from ratchet.models.load import load_for_classification
    from ratchet.training.encode import encode
    from ratchet.training.inference import predict_probs
    from ratchet.training.loop import fit

    started = time.time()
    names = [str(label) for label in labels_list]
    fold = fold_ids(train.label_ids, folds, seed)
    probs = np.zeros((len(train), len(names)), dtype=np.float32)
    tokenizer = None
    encoded = valid_enc = None
    scores = []
    for k in range(folds):
        held = np.flatnonzero(fold == k)
        kept = np.flatnonzero(fold != k)
        torch.manual_seed(seed + k)
        model, tok = load_for_classification(model_name, names, dropout=params.dropout)
        if tokenizer is None:
            tokenizer = tok
            encoded = encode(tok, train.texts, train.pairs, params.max_length)
            valid_enc = encode(tok, valid.texts, valid.pairs, params.max_length)
        assert encoded is not None and valid_enc is not None
        fitted = fit(
            model, encoded.subset(kept), train.label_ids[kept], valid_enc, valid.label_ids, params,
            device=device, seed=seed + k, checkpoint_dir=work_dir / f"fold{k}", progress=progress,
            deadline=_fold_deadline(started, deadline, k, folds),
            sample_weights=None if train.weights is None else train.weights[kept],
            pad_id=tokenizer.pad_token_id or 0,
        )  # fmt: skip
        probs[held] = predict_probs(model, encoded.subset(held), device=device, pad_id=tokenizer.pad_token_id or 0)
        scores.append(fitted.best_score)
        per_fold = (time.time() - started) / (k + 1)
        if deadline is not None and k + 1 < folds and time.time() + per_fold * (folds - k - 1) > deadline:
            return None
    detail = {"fold_valid_macro_f1": [round(s, 4) for s in scores], "seconds": round(time.time() - started, 2)}
    return probs, detail


FOLDS_SHARE = 0.8
"""Share of the time to the deadline that the fine-tuned folds may use (the rest: cleanlab, the gate)."""


def _fold_deadline(started: float, deadline: float | None, k: int, folds: int) -> float | None:
    """Fold k must finish by its slice of the time: one slow fold cannot eat the others' time."""
    if deadline is None:
        return None
    return started + (deadline - started) * FOLDS_SHARE * (k + 1) / folds
