"""Integrated Gradients on the input embeddings of a PyTorch classifier, summed from sub-tokens to words.

Captum's ``LayerIntegratedGradients`` on the word-embedding layer: the path runs from a
baseline in which every token of the text is the pad token (special tokens such as [CLS],
[SEP] and </s> kept, positions and attention unchanged) to the text itself. The attributed
quantity is the target class's probability (softmax of the logits over the model's
temperature, as ``predict`` reports it; a multi-label model's is the target label's own sigmoid,
sigmoid(logit / T), which no other label's logit moves), so by IG's completeness the word scores add
up to p(text) - p(baseline), up to the integral's numerical error (``steps`` points, Gauss-Legendre).

Families: BERT-style encoders (their own head or ratchet's mean-pooling head), GPT-2-style
decoders (the head reads the last non-pad token, located from the real ids on both ends of the
path) and T5. T5 also feeds the shifted text to its decoder through the same embedding matrix;
that input is held at the real text, so the scores attribute the encoder's reading only, and
completeness holds for that function (the decoder's share is not attributed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ratchet.explain.words import overlap_weights, word_spans

DEFAULT_STEPS = 32
"""Integration points for the CLI and the API: completeness error well under 1% of the probability
on the tiny test models; the report uses fewer (see reporting/explain_section.py)."""

MAX_STEPS = 512
"""Where refinement stops. A confident model can turn its probability over in a sliver of the path
(a tiny BERT after six epochs: scores summing to 0.001 of a 0.5 change at 32 points), so the
integral is redone with twice the points until completeness holds or this many are used."""

COMPLETENESS_TOLERANCE = 0.05
"""Allowed |sum of scores - (p(text) - p(baseline))|, as a share of that change (plus 1e-3 absolute)."""


def adds_up(total: float, change: float) -> bool:
    """Whether scores summing to ``total`` explain a probability ``change`` within COMPLETENESS_TOLERANCE."""
    return abs(total - change) <= 1e-3 + COMPLETENESS_TOLERANCE * abs(change)


@dataclass
class TorchClassifier:
    """A module that answers ``module(input_ids=..., attention_mask=...).logits``, with what reads it."""

    module: torch.nn.Module
    tokenizer: Any
    max_length: int = 256
    temperature: float = 1.0
    device: str = "cpu"
    multilabel: bool = False
    """Independent sigmoid probabilities (a multi-label head) instead of one softmax over the labels."""
    windowing: dict[str, Any] | None = None
    """A model trained on windows (chunking/predict.py's ratchet.json key): explained over every window."""


@dataclass
class WordAttribution:
    scores: np.ndarray
    value: float
    baseline_value: float
    truncated_words: int
    steps: int = DEFAULT_STEPS

    @property
    def completeness_error(self) -> float:
        """How far the scores' sum is from the probability change they explain (0 for an exact integral)."""
        return abs(float(self.scores.sum()) - (self.value - self.baseline_value))


def _is_t5(module: torch.nn.Module) -> bool:
    return hasattr(module, "transformer") and hasattr(module.transformer, "decoder")


class _DecoderEmbedding(torch.nn.Module):
    """The shared embedding matrix read functionally, so the hook on the encoder's layer never sees the decoder."""

    def __init__(self, embedding: torch.nn.Embedding) -> None:
        super().__init__()
        object.__setattr__(self, "_embedding", embedding)  # not a submodule: calling it would fire its hooks

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.embedding(input_ids, self._embedding.weight)


@contextlib.contextmanager
def _decoder_apart(module: torch.nn.Module) -> Iterator[None]:
    if not _is_t5(module):
        yield
        return
    decoder = module.transformer.decoder
    original = decoder.embed_tokens
    if original is not module.transformer.encoder.embed_tokens:  # transformers 5: two modules, one tied matrix
        yield
        return
    decoder.embed_tokens = _DecoderEmbedding(original)
    try:
        yield
    finally:
        decoder.embed_tokens = original


def integrated_gradients(
    clf: TorchClassifier, text: str, target: int, steps: int = DEFAULT_STEPS, max_steps: int = MAX_STEPS
) -> WordAttribution:
    """IG word scores of ``text`` toward class index ``target`` (see the module docstring): ``steps`` points,
    doubled while the scores miss completeness by more than COMPLETENESS_TOLERANCE, up to ``max_steps``."""
    if clf.windowing is not None:
        from ratchet.explain.windowed import windowed_integrated_gradients

        return windowed_integrated_gradients(clf, text, target, steps, max_steps, clf.windowing)
    try:
        from captum.attr import LayerIntegratedGradients
    except ImportError:
        from ratchet.errors import RatchetError

        raise RatchetError("explaining a transformer needs captum: pip install 'ratchet[explain]'") from None
    module, tokenizer = clf.module, clf.tokenizer
    want_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
    encoded = tokenizer(
        text, truncation=True, max_length=clf.max_length, return_offsets_mapping=True,
        return_special_tokens_mask=True, return_token_type_ids=want_types, return_tensors="pt",
    )  # fmt: skip
    device = torch.device(clf.device)
    ids = encoded["input_ids"].to(device)
    special = encoded["special_tokens_mask"].to(device).bool()
    baseline = torch.where(special, ids, torch.full_like(ids, int(tokenizer.pad_token_id or 0)))
    mask = torch.ones_like(ids)
    types = encoded["token_type_ids"].to(device) if want_types else None
    decoder_ids = module._shift_right(ids) if _is_t5(module) else None
    temperature = float(clf.temperature)
    squash = torch.sigmoid if clf.multilabel else lambda z: torch.softmax(z, dim=-1)

    def probs(input_ids: torch.Tensor, attention_mask: torch.Tensor, token_types, decoder_input_ids) -> torch.Tensor:
        inputs: dict[str, torch.Tensor] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_types is not None:
            inputs["token_type_ids"] = token_types
        if decoder_input_ids is not None:  # captum repeats every argument per step: rows match input_ids
            inputs["decoder_input_ids"] = decoder_input_ids
        logits = module(**inputs).logits.float()
        return squash(logits / temperature)

    layer = module.transformer.encoder.embed_tokens if _is_t5(module) else module.get_input_embeddings()
    extra = (mask, types, decoder_ids)
    was_training = module.training
    module.eval()
    try:
        with _decoder_apart(module), torch.inference_mode(False), torch.enable_grad():
            with torch.no_grad():
                value = float(probs(ids, *extra)[0, target])
                baseline_value = float(_on_embeddings(layer, layer(baseline), lambda: probs(ids, *extra))[0, target])
            change = value - baseline_value
            explainer = LayerIntegratedGradients(probs, layer)
            steps = max(1, int(steps))
            while True:
                attributions = explainer.attribute(
                    ids, baselines=baseline, target=int(target), additional_forward_args=extra, n_steps=steps,
                    internal_batch_size=min(steps, DEFAULT_STEPS),
                )  # fmt: skip
                token_scores = attributions.sum(dim=-1)[0].detach().cpu().double().numpy()
                if adds_up(float(token_scores.sum()), change) or steps >= max_steps:
                    break
                steps = min(2 * steps, max_steps)
    finally:
        module.train(was_training)
    spans = word_spans(text)
    offsets = [tuple(int(v) for v in pair) for pair in encoded["offset_mapping"][0].tolist()]
    scores = token_scores @ overlap_weights(offsets, spans)
    read_until = max((end for _, end in offsets), default=0)
    truncated = sum(1 for start, _ in spans if start >= read_until) if len(offsets) >= clf.max_length else 0
    return WordAttribution(scores, value, baseline_value, truncated, steps)


def _on_embeddings(layer: torch.nn.Module, replacement: torch.Tensor, run):
    """Run ``run()`` with ``layer``'s output replaced: the model sees the baseline's embeddings but the real ids
    (GPT-2 locates its last token, T5 its EOS, from the ids), exactly as at the path's start."""
    handle = layer.register_forward_hook(lambda _module, _inputs, _output: replacement)
    try:
        return run()
    finally:
        handle.remove()
