"""Continued pretraining with the model's own objective: masked LM for encoders, causal LM for decoders.

One flat loop over the engine's token-budget batches (length-sorted buckets,
padding only within a batch). Masks depend only on (seed, step) (see ``lmdata``)
and every other random state is saved in the checkpoint, so a run killed at any
point and resumed from its step folder continues exactly where it was. T5-style encoder-decoders are not
adapted: span corruption needs its own sentinel-token data pipeline, and the
step says so instead of running a wrong objective.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ratchet.adaptation.lmdata import Batcher, encode_corpus, step_generator
from ratchet.config import AdaptParams
from ratchet.errors import RatchetError
from ratchet.fsutil import atomic_dir, hash_json
from ratchet.training import checkpoint as ckpt
from ratchet.training import telemetry as tm
from ratchet.training.batching import BatchStream, plan_batches, to_device
from ratchet.training.inference import autocast, pad_multiple_for
from ratchet.training.optim import build_optimizer, build_scheduler

log = logging.getLogger("ratchet")

WEIGHT_DECAY, WARMUP_SHARE, GRAD_CLIP = 0.01, 0.06, 1.0  # RoBERTa's pretraining settings
LOG_EVERY = 10
"""Read the loss from the device every N steps (no host sync per step)."""


def choose_objective(config: Any) -> tuple[str | None, str]:
    """("mlm" | "clm" | None, why) for a model config."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = getattr(config, "model_type", None)
    if getattr(config, "is_encoder_decoder", False):
        return None, f"{kind} is an encoder-decoder: span-corruption pretraining is not implemented, so no adaptation"
    if kind in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
        return "mlm", "masked language modelling (encoder)"
    if kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "clm", "causal language modelling (decoder)"
    return None, f"model type {kind!r} has no masked or causal language-modelling head in transformers"


def load_lm(path: str, objective: str, report: dict[str, Any] | None = None):
    """The backbone with its language-modelling head -> (model, tokenizer); a missing head is initialized.

    ``report`` (if given) receives ``lm_head_initialized``: True when the checkpoint had no LM head
    (sentence-transformers checkpoints such as all-MiniLM-L6-v2), so the held-out loss before
    adaptation is that of a random head, not of the pretrained model.
    """
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from ratchet.models.load import _quiet_transformers

    auto = AutoModelForMaskedLM if objective == "mlm" else AutoModelForCausalLM
    with _quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(path)
        model, info = auto.from_pretrained(path, output_loading_info=True)
    if report is not None:
        report["lm_head_initialized"] = bool(info.get("missing_keys"))
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # decoders: pad positions are masked out of the loss anyway
    if objective == "mlm" and tokenizer.mask_token_id is None:
        raise RatchetError(f"tokenizer of {path} has no mask token, so it cannot do masked LM: pick another model")
    if not getattr(tokenizer, "is_fast", False):
        raise RatchetError(f"model {path} has no fast tokenizer: pick a model with a tokenizer.json")
    return model, tokenizer


def _mlm_head(model) -> torch.nn.Module | None:
    """The LM head when it is one per-position module beside the encoder (BERT, RoBERTa, DeBERTa, ...)."""
    base = model.base_model
    heads = [module for _, module in model.named_children() if module is not base]
    return heads[0] if len(heads) == 1 and base is not model else None


def lm_forward(model, batch: dict[str, torch.Tensor], objective: str) -> torch.Tensor:
    """Mean loss per predicted token.

    Masked LM predicts ~15% of positions, so the vocabulary projection (as costly as the whole
    encoder of a small model) runs on those positions only; the result equals the full forward.
    """
    head = _mlm_head(model) if objective == "mlm" else None
    if head is None:
        return model(**batch).loss
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    labels = batch["labels"]
    chosen = labels != -100
    hidden = model.base_model(**inputs)[0]
    logits = head(hidden[chosen])
    return torch.nn.functional.cross_entropy(logits.float(), labels[chosen])


def lm_loss(model, batcher: Batcher, device: torch.device, seed: int) -> float | None:
    """Mean loss per predicted token over the whole set, with masks fixed by ``seed`` (comparable before/after)."""
    data = batcher.data.encoded
    if len(data) == 0:
        return None
    batches = plan_batches(data.lengths, max_tokens=batcher.params.max_tokens, batch_size=batcher.params.batch_size)
    total, count = torch.zeros((), device=device), 0
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast(device):
        for k, rows in enumerate(batches):
            batch, n = batcher(rows, step_generator(seed, k))
            if n:
                total += lm_forward(model, to_device(batch, device), batcher.objective).float() * n
                count += n
    model.train(was_training)
    return float(total.item() / count) if count else None


@dataclass
class PretrainResult:
    objective: str
    steps: int
    total_steps: int
    windows: int
    """Rows of the pretraining corpus after long texts were cut into windows."""
    loss_curve: list[dict[str, float]] = field(default_factory=list)
    heldout_loss_before: float | None = None
    heldout_loss_after: float | None = None
    tokens_per_s: float = 0.0
    """Real (non-pad) tokens per second of training."""
    padding_waste: float = 0.0
    """Share of the padded batch positions that were padding."""
    peak_memory_mb: float | None = None
    """Peak CUDA memory on a GPU, peak resident memory of the process on a CPU."""
    seconds: float = 0.0
    stopped_by_deadline: bool = False
    resumed_at: int | None = None


def pretrain(
    model, tokenizer, texts: list[str], heldout: list[str], *, objective: str, params: AdaptParams,
    device: str, seed: int, checkpoint_dir: Path, deadline: float | None = None, progress=None,
    checkpoint_every: int = 100,
) -> PretrainResult:  # fmt: skip
    """Continue pretraining ``model`` in place on ``texts``; resumes from ``checkpoint_dir`` when it matches."""
    started = time.time()
    dev = torch.device(device)
    multiple = pad_multiple_for(dev)
    vocab = model.get_input_embeddings().weight.shape[0]
    make = dict(objective=objective, params=params, pad_id=tokenizer.pad_token_id or 0,
                mask_id=tokenizer.mask_token_id, vocab_size=vocab, pad_multiple=multiple,
                unk_id=tokenizer.unk_token_id)  # fmt: skip
    train = Batcher(encode_corpus(tokenizer, texts, params.max_length), **make)
    held = Batcher(encode_corpus(tokenizer, heldout, params.max_length), **make)
    lengths = train.data.encoded.lengths
    stream = BatchStream(lengths, params, seed, multiple)  # the training loop's batches, epoch after epoch
    per_epoch = max(1, stream.per_epoch)
    total = max(1, math.ceil(params.epochs * per_epoch)) if len(lengths) else 0
    model.to(dev)
    model.train()
    tm.reset_cuda_peak(dev)
    optimizer = build_optimizer(model, params.learning_rate, WEIGHT_DECAY, dev)
    scheduler = build_scheduler(optimizer, total, int(WARMUP_SHARE * total))
    relevant = {k: v for k, v in dataclasses.asdict(params).items() if k not in ("probe_epochs", "pretrain_share")}
    fingerprint = hash_json([relevant, objective, seed, vocab, len(lengths), int(lengths.sum()), checkpoint_every])
    state: dict[str, Any] = {"fingerprint": fingerprint, "step": 0, "curve": [], "tokens": 0, "padded": 0,
                             "train_seconds": 0.0}  # fmt: skip
    result = PretrainResult(objective, 0, total, len(lengths))
    torch.manual_seed(seed)
    resumed = _resume(checkpoint_dir, fingerprint, model, optimizer, scheduler)
    if resumed is not None:
        state = resumed
        result.resumed_at = state["step"]
        log.info("adapt: resuming pretraining at step %d/%d", state["step"], total)
    else:
        state["heldout_before"] = lm_loss(model, held, dev, seed)

    def save() -> None:
        ckpt.save_state(checkpoint_dir, model, optimizer, scheduler, state)

    loss_acc, n_acc = torch.zeros((), device=dev), 0
    window_start = time.perf_counter()

    def flush() -> None:
        nonlocal n_acc, window_start
        if n_acc:
            state["curve"].append({"step": state["step"], "loss": float(loss_acc.item()) / n_acc})
            state["train_seconds"] += time.perf_counter() - window_start
            loss_acc.zero_()
            n_acc = 0
        window_start = time.perf_counter()

    bar_cm = progress.bar(f"adapt ({objective})", total=total, loss=None) if progress else contextlib.nullcontext()
    with bar_cm as bar:
        if bar is not None and state["step"]:
            bar.advance(state["step"])
        while state["step"] < total:
            if deadline is not None and time.time() > deadline:
                result.stopped_by_deadline = True
                break
            rows = stream.rows(state["step"])
            batch, targets = train(rows, step_generator(seed, state["step"] + 1))
            if targets:  # a batch of nothing but [UNK] has nothing to predict: the step passes without an update
                loss_acc += _update(model, optimizer, batch, objective, dev)
                n_acc += 1
            scheduler.step()
            state["step"] += 1
            state["tokens"] += int(lengths[rows].sum())
            state["padded"] += int(batch["input_ids"].numel())
            at_checkpoint = state["step"] % checkpoint_every == 0
            if state["step"] % LOG_EVERY == 0 or at_checkpoint or state["step"] == total:
                flush()
                if bar is not None and state["curve"]:
                    bar.update(loss=round(state["curve"][-1]["loss"], 4))
            if at_checkpoint:
                save()
            if bar is not None:
                bar.advance(1)
        flush()
        if total:
            save()  # a deadline stop (or the end) is a resumable point too

    model.eval()
    result.heldout_loss_after = lm_loss(model, held, dev, seed)
    return _finished(result, state, dev, started)


def _resume(checkpoint_dir: Path, fingerprint: str, model, optimizer, scheduler) -> dict[str, Any] | None:
    """The saved loop state, with the model, optimizer, scheduler and RNGs restored, when the checkpoint in
    ``checkpoint_dir`` is of this pretraining (its fingerprint); else None, nothing touched."""
    saved = ckpt.load_state(checkpoint_dir)
    if saved is None or saved["loop"].get("fingerprint") != fingerprint:
        return None
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    ckpt.restore_rng_states(saved["rng"])
    return saved["loop"]


def _update(model, optimizer, batch: dict[str, torch.Tensor], objective: str, dev: torch.device) -> torch.Tensor:
    """One optimizer update on ``batch``; its loss, detached, on the device (reading it would sync)."""
    with autocast(dev):
        loss = lm_forward(model, to_device(batch, dev), objective)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP, foreach=True)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach().float()


def _finished(result: PretrainResult, state: dict[str, Any], dev: torch.device, started: float) -> PretrainResult:
    """``result`` with what the loop state counted: steps, loss curve, throughput, padding, memory, time."""
    result.steps = state["step"]
    result.loss_curve = state["curve"]
    result.heldout_loss_before = state.get("heldout_before")
    result.tokens_per_s = state["tokens"] / state["train_seconds"] if state["train_seconds"] else 0.0
    result.padding_waste = 1.0 - state["tokens"] / state["padded"] if state["padded"] else 0.0
    result.peak_memory_mb = tm.peak_cuda_mb(dev) if dev.type == "cuda" else tm.peak_rss_mb()
    result.seconds = time.time() - started
    return result


def save_backbone(lm, tokenizer, original_path: str, out_dir: Path) -> None:
    """Save the adapted encoder/decoder (without the LM head) + tokenizer as a plain checkpoint folder.

    The weights go into the model class ``AutoModel`` builds from the original checkpoint, so parts that
    the LM head class lacks (BERT's pooler, which sequence classification reads) keep their pretrained values.
    """
    from transformers import AutoModel

    from ratchet.models.load import _quiet_transformers
    from ratchet.models.pooled import copy_sentence_files

    with _quiet_transformers():
        base = AutoModel.from_pretrained(original_path)
    base.resize_token_embeddings(lm.get_input_embeddings().weight.shape[0], mean_resizing=False)
    adapted = {k: v.detach().to("cpu") for k, v in lm.base_model.state_dict().items()}
    outcome = base.load_state_dict(adapted, strict=False)
    if outcome.unexpected_keys:
        raise RuntimeError(f"adapted weights do not fit {type(base).__name__}: {outcome.unexpected_keys[:5]}")
    base.config.pad_token_id = tokenizer.pad_token_id

    def build(tmp: Path) -> None:
        with _quiet_transformers():
            base.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        copy_sentence_files(original_path, tmp)  # keeps the mean-pooling head for the adapted encoder

    atomic_dir(Path(out_dir), build)
