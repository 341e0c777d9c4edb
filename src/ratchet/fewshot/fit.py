"""One SetFit-style fit: contrastive fine-tuning of the encoder on drawn pairs, then a logistic head.

Phase 1 trains the encoder so that the cosine similarity of two texts' mean-pooled embeddings
approaches 1 for a same-class pair and 0 otherwise (sentence-transformers' CosineSimilarityLoss,
SetFit's default). Phase 2 embeds every training row with the tuned encoder and fits a
multinomial logistic regression on the embeddings, whose weights become the classifier's Linear
layer (head.py). The embeddings of both phases come from ``MeanPoolingClassifier.pool``, the very
function the shipped model runs, so what was fitted is what ships.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ratchet.errors import RatchetError
from ratchet.fewshot.params import FewShotParams

if TYPE_CHECKING:
    from ratchet.finetuning.finetune import TaskData
    from ratchet.training.encode import Encoded

EMBED_TOKENS = 8192
"""Token budget of an inference batch when embedding the training rows."""


@dataclass
class FewShotFit:
    model: Any
    """The MeanPoolingClassifier: tuned encoder, the regression in its Linear layer (on the CPU, eval mode)."""
    tokenizer: Any
    valid_probs: np.ndarray
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


def mean_pooling_backbone(backbone: str) -> bool:
    """Whether ``backbone`` is read through mean pooling (a sentence-embedding checkpoint).

    Only those are few-shot candidates: SetFit's gain comes from starting in an embedding space
    where cosine similarity already means something, which a checkpoint trained for mean-pooled
    sentence embeddings has and a plain masked-language model's mean (or [CLS]) does not; and the
    head must be a Linear over the mean for the regression to ship as is (a Hugging Face head has
    its own dense + tanh pooler in front).
    """
    from ratchet.models.load import head_for
    from ratchet.models.pooled import MEAN
    from ratchet.models.source import resolve_model_path

    try:
        return head_for(resolve_model_path(backbone)) == MEAN
    except RatchetError:
        return False


def fit_fewshot(
    backbone: str,
    data: TaskData,
    params: FewShotParams,
    *,
    device: str,
    seed: int,
    deadline: float | None = None,
) -> FewShotFit:
    """Fit on ``data.train``; probabilities on ``data.valid`` (may be empty) from the finished model."""
    import torch

    from ratchet.fewshot.head import transplant
    from ratchet.fewshot.pairs import draw_pairs
    from ratchet.models.load import load_for_classification
    from ratchet.models.pooled import MeanPoolingClassifier
    from ratchet.training.encode import encode
    from ratchet.training.inference import predict_probs
    from ratchet.training.plan import TooLittleTime

    if deadline is not None and time.time() >= deadline:
        raise TooLittleTime("no time left for a few-shot fit")
    started = time.time()
    torch.manual_seed(seed)  # dropout in the contrastive phase
    model, tokenizer = load_for_classification(backbone, [str(label) for label in data.labels], head="mean")
    if not isinstance(model, MeanPoolingClassifier):  # pragma: no cover - head="mean" always builds one
        raise RatchetError(f"{backbone} did not load with a mean-pooling head")
    pad_id = tokenizer.pad_token_id or 0
    train_enc = encode(tokenizer, data.train.texts, data.train.pairs, params.max_length)
    labels = np.asarray(data.train.label_ids, dtype=np.int64)
    pairs = draw_pairs(labels, pairs_per_row=params.pairs_per_row, max_pairs=params.max_pairs, seed=seed)
    target = torch.device(device)
    model.to(target)
    steps, stopped = _contrastive(model, backbone, train_enc, pairs, params, target, pad_id, seed, deadline)
    contrastive_seconds = time.time() - started

    model.eval()
    embeddings = embed(model, train_enc, target, pad_id)
    regression = _fit_head(embeddings, labels, params.head_c, seed)
    transplant(regression, model.classifier)
    valid_enc = encode(tokenizer, data.valid.texts, data.valid.pairs, params.max_length)
    probs = predict_probs(model, valid_enc, device=target, pad_id=pad_id)
    model.to("cpu")
    info = {
        "pairs": len(pairs),
        "positive_pairs": int(pairs.target.sum()),
        "steps": steps,
        "stopped_by_deadline": stopped,
        "contrastive_seconds": round(contrastive_seconds, 2),
        "train_rows": len(labels),
    }
    return FewShotFit(model, tokenizer, np.asarray(probs, dtype=np.float32), time.time() - started, info)


def _contrastive(model, backbone, train_enc: Encoded, pairs, params: FewShotParams, device, pad_id, seed, deadline):
    """The contrastive phase -> (optimizer steps, stopped by the deadline)."""
    import torch
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

    from ratchet.training.batching import collate
    from ratchet.training.inference import autocast

    # Only the embeddings' loss is used: the encoder and its pooling are ratchet's (see the module docstring).
    loss_of = CosineSimilarityLoss(model=None)
    total = max(1, math.ceil(len(pairs) * params.epochs / params.batch_size)) if len(pairs) else 0
    frozen = _frozen_bottom(model, backbone, params.frozen_layers, train_enc, pairs, device, pad_id)
    trained = model if frozen is None else frozen.view
    tuned = [p for p in model.encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(tuned, lr=params.learning_rate, weight_decay=0.01)
    warmup = max(1, int(0.1 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
    )
    rng = np.random.default_rng([seed, 1])
    order = np.concatenate([rng.permutation(len(pairs)) for _ in range(math.ceil(params.epochs))])
    model.train()
    for step in range(total):
        if deadline is not None and time.time() >= deadline:
            return step, True
        chosen = order[step * params.batch_size : (step + 1) * params.batch_size]
        # Each text is encoded once per batch, however many of the batch's pairs it is in.
        rows, inverse = np.unique(np.concatenate([pairs.first[chosen], pairs.second[chosen]]), return_inverse=True)
        batch = collate(train_enc, rows, pad_id) if frozen is None else frozen.collate(train_enc, rows)
        with autocast(device):
            pooled = trained.pool(**{k: v.to(device) for k, v in batch.items()}).float()
        first, second = inverse[: len(chosen)], inverse[len(chosen) :]
        target = torch.as_tensor(pairs.target[chosen], device=device)
        loss = loss_of.compute_loss_from_embeddings([pooled[first], pooled[second]], target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tuned, 1.0)
        optimizer.step()
        schedule.step()
    return total, False


def _frozen_bottom(model, backbone: str, layers: int, train_enc: Encoded, pairs, device, pad_id: int):
    """Freeze the lower layers and cache their outputs for the rows the pairs use (None: every layer trains).

    Each text is in about 2 x pairs_per_row pairs: computing its frozen bottom once instead of in every pair
    is most of the saving. Only rows some pair uses are cached, at most 2 x max_pairs of them.
    """
    from ratchet.finetuning.fitcache import backbone_identity
    from ratchet.training.frozen import freeze_bottom, shared_cache

    if layers == 0:
        return None
    frozen = freeze_bottom(model, layers, shared_cache(backbone_identity(backbone), layers))
    if frozen is not None:
        used = np.unique(np.concatenate([pairs.first, pairs.second]))
        frozen.fill(train_enc.subset(used), device, pad_id)
    return frozen


def embed(model, encoded: Encoded, device, pad_id: int) -> np.ndarray:
    """Mean-pooled embeddings (float32, input order) from ``model.pool``, fp32, in token-budget batches."""
    import torch

    from ratchet.training.batching import collate, plan_batches

    out = np.empty((len(encoded), int(model.classifier.in_features)), dtype=np.float32)
    with torch.inference_mode():
        for rows in plan_batches(encoded.lengths, max_tokens=EMBED_TOKENS, batch_size=64):
            batch = {k: v.to(device) for k, v in collate(encoded, rows, pad_id, skip_full_mask=True).items()}
            out[rows] = model.pool(**batch).float().cpu().numpy()
    return out


def _fit_head(embeddings: np.ndarray, labels: np.ndarray, c: float, seed: int):
    """Multinomial logistic regression, classes weighted by inverse frequency (the target is macro-F1)."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(labels)) < 2:
        raise RatchetError("the few-shot head needs rows of at least 2 classes: add labeled rows")
    return LogisticRegression(C=c, max_iter=2000, class_weight="balanced", random_state=seed).fit(embeddings, labels)
