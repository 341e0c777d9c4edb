"""Frozen lower layers, computed once: fine-tune only the top of a BERT-style encoder from cached states.

On a CPU most of a fine-tune is spent in the encoder's lower layers, forward and backward,
every epoch, for every fold. With ``train.frozen_layers = n`` the embeddings and the first
n layers keep their pretrained weights: their output for each text is computed once (no
dropout, as at inference) and cached for the whole run, shared by every fold, seed and
refit of the same backbone; training then runs only the top layers and the head, from the
cached states. A six-layer model with four frozen does about a third of the work per epoch.

The shipped model is the whole model (the frozen layers included), so prediction needs no
cache. Supported: encoders with ``embeddings`` and ``encoder.layer`` (BERT, RoBERTa,
ELECTRA, XLM-R, the MiniLM default); others train every layer, with a log line.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from ratchet.training.encode import Encoded

log = logging.getLogger("ratchet")

BATCH_TOKENS = 16384
"""Padded tokens per batch when computing the cached states (inference only: larger than training's)."""


class _PassThrough(torch.nn.Module):
    """Stands in for the embeddings: the cached states arrive as ``inputs_embeds`` and go straight on."""

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, **_):
        return inputs_embeds


def _base_encoder(model: torch.nn.Module) -> torch.nn.Module | None:
    """The BERT-style encoder inside a classifier (ratchet's mean-pooling head, or a Hugging Face head)."""
    from ratchet.models.pooled import MeanPoolingClassifier

    base = model.encoder if isinstance(model, MeanPoolingClassifier) else getattr(model, "base_model", None)
    ok = base is not None and hasattr(base, "embeddings") and hasattr(getattr(base, "encoder", None), "layer")
    return base if ok else None


@dataclass
class StateCache:
    """Row states of the frozen bottom, by token ids: shared by every fit of one backbone and cut."""

    layers: int
    """As asked (train.frozen_layers: -1 for two thirds of the encoder's layers)."""
    states: dict[bytes, torch.Tensor] = field(default_factory=dict)
    cut: int | None = None
    """The layer the cached states come out of, once resolved for a model."""

    @staticmethod
    def key(encoded: Encoded, row: int) -> bytes:
        """A row's token ids (and segment ids, for pairs): the same text cut the same way is the same key."""
        key = np.ascontiguousarray(encoded.input_ids[row], dtype=np.int32).tobytes()
        if encoded.token_type_ids is not None:
            key += b"|" + np.ascontiguousarray(encoded.token_type_ids[row], dtype=np.int32).tobytes()
        return key


@dataclass
class FrozenBottom:
    model: torch.nn.Module
    """The whole classifier (what is saved and shipped)."""
    view: torch.nn.Module
    """The same classifier whose encoder starts at layer ``layers``, reading cached states: what trains."""
    cache: StateCache
    bottom: torch.nn.Module
    """The encoder cut after its frozen layers: what computes the cached states."""

    def fill(self, encoded: Encoded, device: torch.device, pad_id: int) -> None:
        """Compute and cache the frozen bottom's output for rows not cached yet."""
        from ratchet.training.batching import collate, plan_batches, to_device

        missing = [i for i in range(len(encoded)) if self.cache.key(encoded, i) not in self.cache.states]
        if not missing:
            return
        base = _base_encoder(self.model)
        assert base is not None
        rows = np.asarray(missing)
        was_training = base.training
        self.bottom.eval()  # its layers and embeddings are the model's own: restored below with the model's
        try:
            with torch.inference_mode():
                for batch in plan_batches(encoded.lengths[rows], max_tokens=BATCH_TOKENS, batch_size=256):
                    chosen = rows[batch]
                    inputs = to_device(collate(encoded, chosen, pad_id, 1), device)
                    # The cut encoder, not the whole one's hidden_states[cut]: the layers above the cut would
                    # be computed for nothing (a third of the work with the default 4 of 6 frozen).
                    hidden = self.bottom(**inputs).last_hidden_state
                    for j, row in enumerate(chosen):
                        length = int(encoded.lengths[row])
                        state = hidden[j, :length].to("cpu", torch.float16)  # half the memory; upcast per batch
                        self.cache.states[self.cache.key(encoded, int(row))] = state
        finally:
            base.train(was_training)

    def collate(self, encoded: Encoded, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """Cached states of ``rows``, padded to the longest, with the attention mask."""
        states = [self.cache.states[self.cache.key(encoded, int(r))] for r in rows]
        width = max(s.shape[0] for s in states)
        hidden = torch.zeros(len(states), width, states[0].shape[1], dtype=torch.float32)
        mask = torch.zeros(len(states), width, dtype=torch.long)
        for i, s in enumerate(states):
            hidden[i, : s.shape[0]] = s.float()
            mask[i, : s.shape[0]] = 1
        batch = {"inputs_embeds": hidden}
        if int(mask.sum()) < mask.numel():  # like collate's skip_full_mask: no mask when nothing is padded
            batch["attention_mask"] = mask
        return batch


_SHARED: dict[tuple, StateCache] = {}
_KEEP = 2


def shared_cache(backbone_identity: object, layers: int) -> StateCache:
    """The process's cache for one backbone (identified by its files) and cut: every fold, seed, trial and refit
    of a run reads the same states. The two most recently used are kept (memory)."""
    key = (repr(backbone_identity), layers)
    cache = _SHARED.pop(key, None) or StateCache(layers)
    _SHARED[key] = cache  # most recent last
    while len(_SHARED) > _KEEP:
        _SHARED.pop(next(iter(_SHARED)))
    return cache


AUTO = -1
"""train.frozen_layers=-1: freeze two thirds of the encoder's layers (4 of the default MiniLM's 6), in encoders
of at least AUTO_MIN_DEPTH layers; smaller ones train every layer."""
AUTO_MIN_DEPTH = 6


def resolve_layers(layers: int, depth: int) -> int:
    if layers != AUTO:
        return layers
    return round(2 * depth / 3) if depth >= AUTO_MIN_DEPTH else 0


def freeze_bottom(model: torch.nn.Module, layers: int, cache: StateCache | None) -> FrozenBottom | None:
    """Freeze the embeddings and the first ``layers`` layers of ``model`` (-1: two thirds of them); None when not
    possible here."""
    if layers == 0:
        return None
    base = _base_encoder(model)
    if base is None:
        log.info("train.frozen_layers: %s is not a BERT-style encoder; every layer trains", type(model).__name__)
        return None
    stack = list(base.encoder.layer)
    cut = resolve_layers(layers, len(stack))
    if cut == 0:
        return None
    if not 0 < cut < len(stack):
        log.info("train.frozen_layers=%d leaves no layer of %d to train; every layer trains", layers, len(stack))
        return None
    if cache is None or cache.layers != layers or cache.cut not in (None, cut):
        cache = StateCache(layers)
    cache.cut = cut
    for module in (base.embeddings, *stack[:cut]):
        for param in module.parameters():
            param.requires_grad_(False)
    # Shallow copies that share every parameter with ``model``: the view only skips the frozen modules.
    encoder_view = copy.copy(base.encoder)
    encoder_view._modules = dict(base.encoder._modules)
    encoder_view._modules["layer"] = torch.nn.ModuleList(stack[cut:])
    base_view = copy.copy(base)
    base_view._modules = dict(base._modules)
    base_view._modules["embeddings"] = _PassThrough()
    base_view._modules["encoder"] = encoder_view
    view = copy.copy(model)
    view._modules = dict(model._modules)
    prefix = "encoder" if "encoder" in model._modules and model._modules["encoder"] is base else base_prefix(model)
    view._modules[prefix] = base_view
    encoder_bottom = copy.copy(base.encoder)
    encoder_bottom._modules = dict(base.encoder._modules)
    encoder_bottom._modules["layer"] = torch.nn.ModuleList(stack[:cut])
    bottom = copy.copy(base)
    bottom._modules = dict(base._modules)
    bottom._modules["encoder"] = encoder_bottom
    return FrozenBottom(model, view, cache, bottom)


def base_prefix(model: torch.nn.Module) -> str:
    """The attribute under which a Hugging Face classifier keeps its encoder ("bert", "roberta", ...)."""
    return str(getattr(model, "base_model_prefix", "") or next(iter(model._modules)))
