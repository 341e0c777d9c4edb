"""Integrated Gradients through a windowed model: the whole document, every window, pooled as predict pools them.

A model trained on windows (the chunk step) reads a long document as overlapping windows whose
probabilities are pooled (chunking/aggregate.py), then calibrated by the model's temperature. The
attributed function here is exactly that document probability, as a function of the document's
own word embeddings: each window's model reads its slice of them, so a token that two windows
share collects its gradient from both, and IG's completeness holds for the whole document (the
scores add up to p(document) - p(baseline)), with no word left unread.

Captum's layer hook cannot feed one embedding tensor into several differently shaped calls, so the
integral is computed here: Gauss-Legendre points on the straight path from the baseline (every
content token the pad token, special tokens kept) to the text, the gradients taken with respect to
the interpolated document embeddings, each window's model call reading its slice through a forward
hook on the embedding layer (the model still gets the real ids: GPT-2 locates its last token, T5
its EOS, from them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ratchet.chunking.aggregate import FLOOR  # the floor predict's pooling uses before a logarithm
from ratchet.explain.gradients import DEFAULT_STEPS, TorchClassifier, WordAttribution, adds_up
from ratchet.explain.words import overlap_weights, word_spans


def windowed_integrated_gradients(
    clf: TorchClassifier, text: str, target: int, steps: int, max_steps: int, windowing: dict[str, Any]
) -> WordAttribution:
    """IG word scores of ``text`` toward ``target`` for a windowed single-label model (module docstring)."""
    from ratchet.chunking.predict import cut_of
    from ratchet.chunking.windows import window_positions
    from ratchet.explain.gradients import _decoder_apart, _is_t5
    from ratchet.models.load import _quiet_transformers

    module, tokenizer = clf.module, clf.tokenizer
    with _quiet_transformers():  # untruncated on purpose: every window is read
        encoded = tokenizer(text, truncation=False, return_offsets_mapping=True, return_special_tokens_mask=True)
    special = np.asarray(encoded["special_tokens_mask"], dtype=bool)
    positions, content = window_positions(special, int(windowing["window"]), int(windowing["stride"]),
                                          tokenizer.num_special_tokens_to_add(pair=False),
                                          **cut_of(windowing))  # fmt: skip
    device = torch.device(clf.device)
    ids = torch.as_tensor(encoded["input_ids"], device=device).unsqueeze(0)
    pad = torch.full_like(ids, int(tokenizer.pad_token_id or 0))
    baseline_ids = torch.where(torch.as_tensor(special, device=device).unsqueeze(0), ids, pad)
    layer = module.transformer.encoder.embed_tokens if _is_t5(module) else module.get_input_embeddings()
    document = _DocumentProbability(clf, layer, ids, positions, content, str(windowing["aggregation"]))
    was_training = module.training
    module.eval()
    try:
        with _decoder_apart(module), torch.inference_mode(False):
            with torch.no_grad():
                real, base = layer(ids).detach(), layer(baseline_ids).detach()
                value = float(document(real)[0, target])
                baseline_value = float(document(base)[0, target])
            steps = max(1, int(steps))
            while True:
                token_scores = _integral(document, real, base, target, steps)
                if adds_up(float(token_scores.sum()), value - baseline_value) or steps >= max_steps:
                    break
                steps = min(2 * steps, max_steps)
    finally:
        module.train(was_training)
    spans = word_spans(text)
    offsets = [tuple(int(v) for v in pair) for pair in encoded["offset_mapping"]]
    weights = overlap_weights(offsets, spans)
    # Windows read every word; a head+tail cut skips the middle of a long text: those words are counted as unread.
    read = np.zeros(len(offsets), dtype=bool)
    read[np.concatenate(positions)] = True
    unread = int(((weights[read].sum(axis=0) == 0) & (weights.sum(axis=0) > 0)).sum())
    return WordAttribution(token_scores @ weights, value, baseline_value, unread, steps)


def _integral(document: _DocumentProbability, real: torch.Tensor, base: torch.Tensor, target: int, steps: int):
    """sum over tokens' embedding dimensions of (x - x') * integral of the gradient, per token (numpy)."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas, weights = (nodes + 1) / 2, weights / 2  # [-1, 1] -> [0, 1]
    total = torch.zeros_like(real)
    for start in range(0, steps, DEFAULT_STEPS):
        alpha = torch.as_tensor(alphas[start : start + DEFAULT_STEPS], dtype=real.dtype).view(-1, 1, 1)
        path = (base + alpha * (real - base)).requires_grad_(True)
        with torch.enable_grad():
            probability = document(path)[:, target]
            weight = torch.as_tensor(weights[start : start + DEFAULT_STEPS], dtype=probability.dtype)
            (gradient,) = torch.autograd.grad((probability * weight).sum(), path)
        total += gradient.sum(dim=0, keepdim=True)
    return ((real - base) * total).sum(dim=-1)[0].detach().cpu().double().numpy()


class _DocumentProbability:
    """Document embeddings (points, tokens, dim) -> calibrated document probabilities (points, labels)."""

    def __init__(
        self, clf: TorchClassifier, layer: torch.nn.Module, ids: torch.Tensor, positions: list[np.ndarray],
        content: np.ndarray, aggregation: str,
    ) -> None:  # fmt: skip
        self.clf, self.layer, self.ids, self.aggregation = clf, layer, ids, aggregation
        self.positions = [torch.as_tensor(p, device=ids.device) for p in positions]
        self.content = torch.as_tensor(content, dtype=torch.float32)

    def __call__(self, embeddings: torch.Tensor) -> torch.Tensor:
        windows = torch.stack([self._window(embeddings, p) for p in self.positions], dim=1)  # (points, W, labels)
        pooled = _pool(windows, self.aggregation, self.content)
        temperature = float(self.clf.temperature)
        if temperature == 1.0:
            return pooled
        return torch.softmax(torch.log(pooled.clamp(min=FLOOR)) / temperature, dim=-1)

    def _window(self, embeddings: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        from ratchet.explain.gradients import _is_t5

        points = len(embeddings)
        window_ids = self.ids[:, positions].expand(points, -1)
        sliced = embeddings[:, positions]
        inputs: dict[str, torch.Tensor] = {"input_ids": window_ids, "attention_mask": torch.ones_like(window_ids)}
        module = self.clf.module
        if _is_t5(module):
            inputs["decoder_input_ids"] = module._shift_right(window_ids)
        handle = self.layer.register_forward_hook(lambda _module, _inputs, _output: sliced)
        try:
            logits = module(**inputs).logits.float()
        finally:
            handle.remove()
        return torch.softmax(logits, dim=-1)


def _pool(windows: torch.Tensor, how: str, content: torch.Tensor) -> torch.Tensor:
    """aggregate.py's pooling of one document's window probabilities, in torch (points, W, labels) -> (points,
    labels)."""
    if how == "max":
        pooled = windows.max(dim=1).values
        return pooled / pooled.sum(dim=-1, keepdim=True)
    if how == "mean":
        weights = torch.ones(windows.shape[:2], dtype=windows.dtype)
    elif how == "tokens":
        weights = content.clamp(min=1.0).to(windows.dtype).expand(windows.shape[:2])
    else:  # confidence
        weights = windows.max(dim=-1).values
    logs = torch.log(windows.clamp(min=FLOOR))
    mean = (logs * weights.unsqueeze(-1)).sum(dim=1) / weights.sum(dim=1, keepdim=True).clamp(min=FLOOR)
    return torch.softmax(mean, dim=-1)
