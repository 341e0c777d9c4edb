"""Fused attention for BERT-like encoders in an exported graph: onnxruntime's own transformer optimizer.

The plain TorchScript export spells attention out as MatMul, Softmax and Reshape nodes. onnxruntime's
optimizer (``onnxruntime.transformers.optimizer``) rewrites a BERT-like encoder into its fused
kernels (Attention, SkipLayerNormalization, BiasGelu, EmbedLayerNormalization), which is faster on a
CPU; it only recognises attention traced from the eager implementation, so the encoder is switched to
it before tracing. The fused graph replaces the plain one only when it predicts the same probabilities
on the example batch (within PARITY); any other family, or a rewrite that does not match, keeps the
plain graph, which is always correct.

Measured on the demo's shipped encoder (MiniLM-L6, test reviews of up to 256 tokens, 2 threads): the whole
prediction process of 200 reviews 0.90x the plain graph's wall time (`farm-bench`, 5 pairs); at batch 64
(`benchmarks/inference.py`) ONNX fp32 0.91x PyTorch's texts/s and int8 1.40x, where the plain graphs had
measured 0.68x and 0.96x.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger("ratchet")

FUSIBLE = ("bert", "roberta", "xlm-roberta", "camembert", "electra", "mpnet")
"""Model types whose encoder layers have the layout the "bert" rewrite expects."""
PARITY = 1e-4


def prepare_for_fusion(model: torch.nn.Module) -> Any | None:
    """The encoder's config when it can be fused (its attention switched to the eager implementation, whose
    traced graph the optimizer recognises), else None."""
    from transformers import PreTrainedModel

    encoders = [m for m in model.modules() if isinstance(m, PreTrainedModel)]
    if not encoders or encoders[0].config.model_type not in FUSIBLE:
        return None
    for encoder in encoders:
        encoder.set_attn_implementation("eager")
    return encoders[0].config


def fuse_graph(path: Path, config: Any, feed: dict[str, np.ndarray]) -> dict[str, int] | None:
    """Rewrite ``path`` in place with fused operators when the result matches the plain graph on ``feed``;
    returns the fused operator counts, or None when the plain graph stays."""
    import onnxruntime as ort
    from onnxruntime.transformers.optimizer import optimize_model

    fused_path = path.with_name(path.stem + ".fused.onnx")
    try:
        quiet = logging.getLogger("onnxruntime.transformers")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # "failed to fuse ..." notes on the parts that do not match are expected
        try:
            optimized = optimize_model(
                str(path), model_type="bert", num_heads=int(config.num_attention_heads),
                hidden_size=int(config.hidden_size),
            )  # fmt: skip
        finally:
            quiet.setLevel(level)
        counts = {op: n for op, n in optimized.get_fused_operator_statistics().items() if n}
        if not counts.get("Attention"):
            return None  # nothing worth a second graph: the attention pattern was not found
        optimized.save_model_to_file(str(fused_path))
        plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)[0]
        fused = ort.InferenceSession(str(fused_path), providers=["CPUExecutionProvider"]).run(None, feed)[0]
        if plain.shape != fused.shape or float(np.abs(plain - fused).max()) > PARITY:
            log.info("export: the fused graph differs from the plain one; keeping the plain graph")
            return None
        fused_path.replace(path)
        return counts
    except Exception as exc:  # an optimizer that cannot handle this graph leaves the correct plain one
        log.info("export: no fused graph (%s: %s); keeping the plain graph", type(exc).__name__, exc)
        return None
    finally:
        fused_path.unlink(missing_ok=True)
