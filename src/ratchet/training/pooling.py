"""Training on documents read in several rows (windows): each document's loss taken on its rows' mean logits.

A window of a long text carries its text's label, but a window that reads only the middle of a news
story or a post's signature may say nothing of it. Trained row by row, every window must predict the
label alone, so the model learns to guess from such windows. Trained on the mean of the document's
window logits (what the ``mean`` pooling predicts with: chunking.aggregate), a document already right
stops pushing its uninformative windows, and the window that says the label can speak loudest: the
gradient of each window's logits is the document's (probabilities - target) over its window count.
(Multiple-instance learning with mean pooling, as in hierarchical document classifiers; nothing new
to train and nothing new to ship: prediction pools the windows as before.) The price: it learns more
slowly, since a document's prediction moves by the mean of what its windows learn; chunk.loss says where
that cost more than it bought (not chunk's default).

Rows of a document are marked by ``Encoded.groups`` (their document's index); batches then hold whole
documents (``plan_document_batches``), still within the token budget, so the pooling sees every window
of a document at once; a document too long for one batch is learnt in pieces that fit.
"""

from __future__ import annotations

import numpy as np
import torch

from ratchet.training.batching import padded_length


def plan_document_batches(
    lengths: np.ndarray,
    groups: np.ndarray,
    *,
    max_tokens: int,
    batch_size: int,
    seed: int | None = None,
    epoch: int = 0,
    pad_multiple: int = 1,
) -> list[np.ndarray]:
    """Row indices of each batch, every document's rows in one batch: ``plan_batches``'s packing with a
    document as the unit (its length its longest row's, its size its row count). A document whose rows exceed
    the budget alone (``batch_size`` rows, ``max_tokens`` padded tokens) is cut into consecutive pieces that
    fit, each learnt as a document of its own, so memory stays bounded whatever a text's length.
    ``seed=None``: sorted order, no shuffling."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) == 0:
        return []
    cap = int(lengths.max())
    units: list[np.ndarray] = []  # a document's rows, or a piece of them
    for rows in _rows_by_document(np.asarray(groups, dtype=np.int64)):
        width = padded_length(int(lengths[rows].max()), pad_multiple, cap)
        most = max(1, min(batch_size, max_tokens // max(width, 1)))
        units.extend(rows[i : i + most] for i in range(0, len(rows), most))
    unit_length = np.array([int(lengths[rows].max()) for rows in units], dtype=np.int64)
    unit_size = np.array([len(rows) for rows in units], dtype=np.int64)
    # Sorted by (length, size): every epoch packs the same sequence of shapes into as many batches (the
    # schedule counts on it); only units of equal shape trade places, and the batch order is shuffled.
    rng = None if seed is None else np.random.default_rng([seed, epoch])
    perm = np.arange(len(units)) if rng is None else rng.permutation(len(units))
    order = perm[np.lexsort((unit_size[perm], unit_length[perm]))]
    batches: list[np.ndarray] = []
    current: list[int] = []
    count = 0
    for unit in order.tolist():  # ascending length: the batch's width is its newest unit's
        width = padded_length(int(unit_length[unit]), pad_multiple, cap)
        size = int(unit_size[unit])
        if current and (count + size > batch_size or (count + size) * width > max_tokens):
            batches.append(np.concatenate([units[u] for u in current]))
            current, count = [], 0
        current.append(unit)
        count += size
    if current:
        batches.append(np.concatenate([units[u] for u in current]))
    if rng is not None:
        batches = [batches[j] for j in rng.permutation(len(batches))]
    return batches


def _rows_by_document(groups: np.ndarray) -> list[np.ndarray]:
    """Each document's row indices, in row order, documents in ascending ``groups`` order."""
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    return np.split(order, bounds)


def batch_groups(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each row's document numbered 0..k-1 within the batch, the first row of each of those k documents)."""
    _, first, local = np.unique(np.asarray(groups), return_index=True, return_inverse=True)
    return local.astype(np.int64), first.astype(np.int64)


def pooled_logits(logits: torch.Tensor, local: torch.Tensor, n_docs: int) -> torch.Tensor:
    """(n_docs, n_labels) mean of each document's row logits (``local``: each row's document, 0..n_docs-1)."""
    sums = torch.zeros(n_docs, logits.shape[-1], dtype=logits.dtype, device=logits.device)
    sums.index_add_(0, local, logits)
    counts = torch.bincount(local, minlength=n_docs).clamp_min(1).to(logits.dtype)
    return sums / counts[:, None]


def pooled_probs(probs: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each document's softmax of its rows' mean logits, the first row of each document), documents in
    ascending ``groups`` order: a validation set of windows scored as the documents it holds, pooled as the
    ``mean`` aggregation pools a shipped model's windows."""
    from ratchet.chunking.aggregate import aggregate

    local, first = batch_groups(groups)
    return aggregate(probs, local, len(first), "mean"), first
