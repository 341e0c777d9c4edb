"""The PyTorch module behind each model kind that IG can differentiate: a fine-tune as it is, and the
"embedding" kind's frozen encoder + mean pooling + standardized logistic regression rebuilt in torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from transformers.modeling_outputs import SequenceClassifierOutput

from ratchet.explain.gradients import TorchClassifier

_ABSENT = -1e4
"""Logit of a class the regression never saw: probability 0 after the softmax, as EmbeddingHead gives."""


class EmbeddingClassifier(torch.nn.Module):
    """encoder -> mean over real tokens -> (x - mean) / std -> logistic regression, as EmbeddingHead computes it."""

    def __init__(self, encoder: torch.nn.Module, head: Any) -> None:
        super().__init__()
        self.encoder = encoder
        for name in ("mean", "std", "coef", "intercept"):
            self.register_buffer(name, torch.as_tensor(np.asarray(getattr(head, name), dtype=np.float32)))
        self.classes = [int(c) for c in head.classes]
        self.n_labels = int(head.n_labels)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.encoder.get_input_embeddings()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **inputs: Any) -> SequenceClassifierOutput:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        z = ((pooled - self.mean) / self.std) @ self.coef.T + self.intercept
        logits = torch.full((len(z), self.n_labels), _ABSENT, dtype=z.dtype, device=z.device)
        if self.coef.shape[0] == 1:  # binary: sigmoid(z) = softmax([0, z])
            logits[:, self.classes[0]] = 0.0
            logits[:, self.classes[1]] = z[:, 0]
        else:
            logits[:, self.classes] = z
        return SequenceClassifierOutput(logits=logits)


def torch_classifier(predictor: Any, temperature: float) -> TorchClassifier | None:
    """The differentiable module of a transformer or embedding predictor, None for other kinds."""
    from ratchet.models.embedding_model import EmbeddingPredictor
    from ratchet.predictor import TransformerPredictor

    if isinstance(predictor, TransformerPredictor):
        max_length = int(predictor.meta.get("max_length", 256))
        model = predictor.model
        if predictor.meta.get("kind") == "int8":  # int8 kernels have no gradients: the same weights in float
            from ratchet.compress.int8 import dequantized

            model = dequantized(model)
        from ratchet.chunking.predict import windowing_of

        multilabel = predictor.meta.get("task") == "multilabel"  # sigmoid head: each label's own probability
        return TorchClassifier(model, predictor.tokenizer, max_length, temperature, predictor.device, multilabel,
                               windowing_of(predictor.meta))  # fmt: skip
    if isinstance(predictor, EmbeddingPredictor):
        from ratchet.relabel.features import _load_encoder

        encoder, tokenizer = _load_encoder(predictor.encoder)
        module = EmbeddingClassifier(encoder, predictor.head).to(predictor.device).eval()
        return TorchClassifier(module, tokenizer, predictor.max_length, temperature, predictor.device)
    return None
