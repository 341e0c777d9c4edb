"""Transformer classifiers as ONNX graphs: token ids in, probabilities out.

One graph holds the whole classifier: the encoder, the model's own head (or ratchet's
mean-pooling head, or the embedding model's standardized logistic regression) and the softmax
(a multi-label model's sigmoid head: one independent sigmoid per label instead).
Batch and sequence axes are dynamic. The TorchScript exporter is used (``dynamo=False``): it
needs no extra package and traced every family ratchet fine-tunes (BERT, GPT-2, T5) to within
1e-6 of PyTorch on the tiny test models.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

OPSET = 17
OUTPUT = "probabilities"
EXAMPLE = ["an example", "a slightly longer example text", "and a third, longer example text to pad the others"]
"""The traced batch, which also checks a fused graph against the plain one (export/fusion.py)."""


class _Probabilities(torch.nn.Module):
    """The model's logits -> softmax (``sigmoid``: one sigmoid per label), called with named inputs in a fixed
    order."""

    def __init__(self, model: torch.nn.Module, names: list[str], sigmoid: bool = False) -> None:
        super().__init__()
        self.model, self.names, self.sigmoid = model, names, sigmoid

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        logits = self.model(**dict(zip(self.names, inputs, strict=True))).logits.float()
        return torch.sigmoid(logits) if self.sigmoid else torch.softmax(logits, dim=-1)


class _EmbeddingClassifier(torch.nn.Module):
    """Mean-pooled last hidden states -> standardized -> logistic regression (the embedding model's head)."""

    def __init__(self, encoder: torch.nn.Module, head, names: list[str]) -> None:
        super().__init__()
        self.encoder, self.names = encoder, names
        as_tensor = lambda a: torch.tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
        self.register_buffer("mean", as_tensor(head.mean))
        self.register_buffer("std", as_tensor(head.std))
        self.register_buffer("coef", as_tensor(head.coef))
        self.register_buffer("intercept", as_tensor(head.intercept))
        # Columns of the output each class lands in (classes absent from training stay at 0).
        scatter = np.zeros((len(head.classes), head.n_labels), dtype=np.float32)
        scatter[np.arange(len(head.classes)), head.classes] = 1.0
        self.register_buffer("scatter", torch.tensor(scatter))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.names, inputs, strict=True))
        hidden = self.encoder(**named).last_hidden_state.float()
        mask = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        logits = ((pooled - self.mean) / self.std) @ self.coef.T + self.intercept
        if self.coef.shape[0] == 1:  # binary: scikit-learn keeps one row of coefficients
            p = torch.sigmoid(logits)
            probs = torch.cat([1 - p, p], dim=1)
        else:
            probs = torch.softmax(logits, dim=-1)
        return probs @ self.scatter


def input_names(model: torch.nn.Module, tokenizer) -> list[str]:
    """The graph's inputs: ids and mask, plus segment ids where the model reads them (BERT)."""
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in getattr(tokenizer, "model_input_names", ()):
        names.append("token_type_ids")
    return names


def export_classifier(model: torch.nn.Module, tokenizer, path: Path) -> tuple[list[str], dict[str, int] | None]:
    """The classifier as one graph; a multi-label model (its config's problem_type) ends in per-label sigmoids.
    Returns the graph's inputs and its fused operators (None: the plain graph; export/fusion.py)."""
    from ratchet.models.load import is_multilabel_model

    names = input_names(model, tokenizer)
    fused = _export(_Probabilities(model, names, sigmoid=is_multilabel_model(model)), names, tokenizer, path)
    return names, fused


def export_embedding_classifier(
    encoder: torch.nn.Module, head, tokenizer, path: Path
) -> tuple[list[str], dict[str, int] | None]:
    names = input_names(encoder, tokenizer)
    return names, _export(_EmbeddingClassifier(encoder, head, names), names, tokenizer, path)


def _export(wrapper: torch.nn.Module, names: list[str], tokenizer, path: Path) -> dict[str, int] | None:
    from ratchet.export.fusion import fuse_graph, prepare_for_fusion

    wrapper.eval()  # export restores the wrapper's mode afterwards: it must already be eval
    fusible = prepare_for_fusion(wrapper)
    # Rows of different lengths: the example has padding, so the masked path is what is traced.
    example = tokenizer(EXAMPLE, padding=True, return_tensors="pt")
    args = tuple(example[name] if name in example else torch.zeros_like(example["input_ids"]) for name in names)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python branches on shapes: checked by the tests
        torch.onnx.export(
            wrapper, args, str(path), input_names=names, output_names=[OUTPUT],
            dynamic_axes={**axes, OUTPUT: {0: "batch"}}, opset_version=OPSET, dynamo=False,
        )  # fmt: skip
    if fusible is None:
        return None
    return fuse_graph(path, fusible, {name: arg.numpy() for name, arg in zip(names, args, strict=True)})


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the weights (activations quantized on the fly): onnxruntime's own.

    Per output channel, with 7-bit weights (reduce_range): on the TREC run's MiniLM, per-tensor scales lost
    0.0065-0.008 test macro-F1 (96.6% of decisions kept), per-channel ones 0.002 (98.8%; 99.3% with
    reduce_range). reduce_range keeps the u8 x s8 products of CPUs without VNNI (AVX2's vpmaddubsw) from
    saturating, at no measured cost in accuracy on a CPU with VNNI."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # "consider pre-processing": advice for static quantization of vision models
    try:
        # A fused graph's contrib ops (Attention, SkipLayerNormalization) escape ONNX shape inference, so
        # their outputs' type is stated: float, like every activation of an exported classifier.
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})  # fmt: skip
    finally:
        root.setLevel(level)
