"""Training on documents read in several rows (windows): each document's loss taken on its rows' mean logits.

A window of a long text carries its text's label, but a window that reads only the middle of a news
story or a post's signature may say nothing of it. Trained row by row, every window must predict the
label alone, so the model learns to guess from such windows. Trained on the mean of the document's
window logits (what the ``mean`` pooling predicts with: chunking.aggregate), a document already right
stops pushing its uninformative windows, and the window that says the label can speak loudest: the
gradient of each window's logits is the document's (probabilities - target) over its window count.
(Multiple-instance learning with mean pooling, as in hierarchical document classifiers; nothing new
to train and nothing new to ship: prediction pools the windows as before.)

Rows of a document are marked by ``Encoded.groups`` (their document's index); batches then hold whole
documents (``plan_document_batches``), still within the token budget, so the pooling sees every window
of a document at once.
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
    """Row indices of each batch, every document's rows in one batch (``plan_batches``'s packing with a
    document as the unit: its length is its longest row's, its size its row count; a document larger than
    the budget is a batch of its own). ``seed=None``: sorted order, no shuffling."""
    lengths = np.asarray(lengths, dtype=np.int64)
    groups = np.asarray(groups, dtype=np.int64)
    if len(lengths) == 0:
        return []
    docs, inverse = np.unique(groups, return_inverse=True)
    doc_length = np.zeros(len(docs), dtype=np.int64)
    np.maximum.at(doc_length, inverse, lengths)
    doc_size = np.bincount(inverse, minlength=len(docs))
    rows_of = np.split(np.argsort(inverse, kind="stable"), np.cumsum(doc_size)[:-1])
    # Sorted by (length, windows): every epoch packs the same sequence of shapes into as many batches (the
    # schedule counts on it); only documents of equal shape trade places, and the batch order is shuffled.
    rng = None if seed is None else np.random.default_rng([seed, epoch])
    perm = np.arange(len(docs)) if rng is None else rng.permutation(len(docs))
    order = perm[np.lexsort((doc_size[perm], doc_length[perm]))]
    cap = int(lengths.max())
    batches: list[np.ndarray] = []
    current: list[int] = []
    count = 0
    for doc in order.tolist():  # ascending length: the batch's width is its newest document's
        width = padded_length(int(doc_length[doc]), pad_multiple, cap)
        size = int(doc_size[doc])
        if current and (count + size > batch_size or (count + size) * width > max_tokens):
            batches.append(np.concatenate([rows_of[d] for d in current]))
            current, count = [], 0
        current.append(doc)
        count += size
    if current:
        batches.append(np.concatenate([rows_of[d] for d in current]))
    if rng is not None:
        batches = [batches[j] for j in rng.permutation(len(batches))]
    return batches


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
    ascending ``groups`` order: a validation set of windows scored as the documents it holds."""
    local, first = batch_groups(groups)
    logs = np.log(np.maximum(np.asarray(probs, dtype=np.float64), 1e-12))
    sums = np.zeros((len(first), logs.shape[1]))
    np.add.at(sums, local, logs)
    mean = sums / np.bincount(local, minlength=len(first))[:, None]
    shifted = np.exp(mean - mean.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32), first
