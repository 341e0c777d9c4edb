"""A distilled student: the teacher's backbone with fewer layers, trained on the teacher's soft labels.

The student starts as a copy of the teacher with every other layer dropped (evenly spaced, the
first and last kept, as DistilBERT was initialised from BERT), so it begins close to the
teacher instead of from the pretrained backbone. It then learns the teacher's probabilities,
softened at a temperature (Hinton et al. 2015), on the training texts plus any unlabeled
texts: no gold label is needed for the extra texts, which is how a student can match a
teacher on few labeled rows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ratchet.config import TrainParams
from ratchet.errors import RatchetError

# Config fields that count a model's layers, by family (BERT-likes, GPT-2, T5's encoder and decoder).
LAYER_COUNT_FIELDS = ("num_hidden_layers", "n_layer", "num_layers", "num_decoder_layers")


def kept_layers(total: int, keep: int) -> list[int]:
    """``keep`` evenly spaced layer indices out of ``total``, the first and (from two on) the last among them."""
    if keep >= total:
        return list(range(total))
    if keep == 1:
        return [0]  # T5 keeps its relative position bias in the first block only
    return sorted({round(i * (total - 1) / (keep - 1)) for i in range(keep)})


def layer_lists(model: torch.nn.Module) -> list[tuple[torch.nn.Module, str, torch.nn.ModuleList]]:
    """The model's stacks of transformer blocks: (parent, attribute, list) for each list as long as a layer count."""
    counts = {
        int(getattr(model.config, name))
        for name in LAYER_COUNT_FIELDS
        if isinstance(getattr(model.config, name, None), int)
    }
    stacks = []
    for parent in model.modules():
        for attr, child in parent.named_children():
            if isinstance(child, torch.nn.ModuleList) and len(child) in counts and _blocks(child):
                stacks.append((parent, attr, child))
    return stacks


def _blocks(stack: torch.nn.ModuleList) -> bool:
    """Transformer blocks all of one class (BertLayer, GPT2Block, T5Block), not a block's mixed sub-layers."""
    names = {type(module).__name__ for module in stack}
    return len(names) == 1 and next(iter(names)).endswith(("Layer", "Block"))


def shrink(model: torch.nn.Module, share: float) -> tuple[int, int]:
    """Drop layers of ``model`` in place, keeping ``share`` of them (at least one) -> (layers before, after)."""
    stacks = layer_lists(model)
    if not stacks:
        raise RatchetError(f"cannot find the layers of a {model.config.model_type} model to distill a student from")
    total = len(stacks[0][2])
    keep = kept_layers(total, max(1, round(total * share)))
    for parent, attr, layers in stacks:
        chosen = kept_layers(len(layers), max(1, round(len(layers) * share)))
        setattr(parent, attr, torch.nn.ModuleList([layers[i] for i in chosen]))
        for position, index in enumerate(chosen):  # caches index layers by position (GPT-2's attention)
            for module in layers[index].modules():
                if isinstance(getattr(module, "layer_idx", None), int):
                    module.layer_idx = position
    for config in {
        id(c): c for c in (model.config, getattr(getattr(model, "encoder", None), "config", None)) if c
    }.values():
        for name in LAYER_COUNT_FIELDS:
            value = getattr(config, name, None)
            if isinstance(value, int) and value > 1:
                setattr(config, name, len(kept_layers(value, max(1, round(value * share)))))
        types = getattr(config, "layer_types", None)
        if isinstance(types, list) and len(types) == total:
            config.layer_types = [types[i] for i in keep]
    return total, len(keep)


def soft_labels(probs: np.ndarray, temperature: float) -> np.ndarray:
    """The teacher's probabilities softened at ``temperature`` (softmax of log p / T)."""
    logits = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    soft = np.exp(logits)
    return (soft / soft.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class StudentPlan:
    share: float
    """Share of the teacher's layers the student keeps."""
    temperature: float
    params: TrainParams
    """The student's schedule (every layer trains: a frozen bottom would freeze most of a small student)."""


def distill(
    teacher_dir: Path,
    teacher_probs: np.ndarray,
    texts: list[str],
    pairs: list[str] | None,
    valid: tuple[list[str], list[str] | None, np.ndarray],
    plan: StudentPlan,
    *,
    device: str,
    seed: int,
    checkpoint_dir: Path,
    deadline: float | None,
    progress: Any,
    select_best: bool,
    save_to: Path,
) -> dict[str, Any]:
    """Train a student of ``teacher_dir`` on ``texts`` labeled with ``teacher_probs``; save it to ``save_to``.

    ``valid`` (texts, pairs, label ids): the rows watched while training (chosen on only with ``select_best``).
    Returns the fit's record (probabilities on ``valid``, layers, steps, telemetry).
    """
    from ratchet.models.load import load_classifier, save_classifier
    from ratchet.training.encode import encode
    from ratchet.training.loop import fit

    model, tokenizer, labels, meta = load_classifier(teacher_member(teacher_dir))
    before, after = shrink(model, plan.share)
    model.train()
    max_length = int(meta.get("max_length", plan.params.max_length))
    params = dataclasses.replace(plan.params, frozen_layers=0, max_length=max_length)
    train_enc = encode(tokenizer, texts, pairs, max_length)
    valid_enc = encode(tokenizer, valid[0], valid[1], max_length)
    torch.manual_seed(seed)
    fitted = fit(
        model, train_enc, np.asarray(teacher_probs).argmax(1), valid_enc, valid[2], params, device=device, seed=seed,
        checkpoint_dir=checkpoint_dir, progress=progress, deadline=deadline, pad_id=tokenizer.pad_token_id or 0,
        select_best=select_best, soft_targets=soft_labels(teacher_probs, plan.temperature),
        temperature=plan.temperature,
    )  # fmt: skip
    model.to("cpu")
    # Not the teacher's recipe (recipe_meta): nothing may refit or repeat this model as if it were.
    student_meta = {k: v for k, v in meta.items() if k not in ("kind", "head", "recipe")}
    student_meta["student"] = {"of": str(teacher_dir), "layers": after, "teacher_layers": before,
                               "temperature": plan.temperature, "rows": len(texts)}  # fmt: skip
    save_classifier(model, tokenizer, labels, save_to, student_meta)
    return {
        "probs": fitted.valid_probs,
        "layers": after,
        "teacher_layers": before,
        "steps": fitted.steps,
        "stopped_by_deadline": fitted.stopped_by_deadline,
        "history": fitted.history,
        "telemetry": fitted.telemetry,
    }


def teacher_member(folder: Path) -> Path:
    """The fine-tune a student is cut from: the folder itself, or an ensemble's first transformer member."""
    from ratchet.fsutil import read_json

    meta = read_json(Path(folder) / "ratchet.json")
    if meta.get("kind") == "transformer":
        return Path(folder)
    if meta.get("kind") == "ensemble":
        from ratchet.models.ensemble import MEMBERS

        for member in sorted((Path(folder) / MEMBERS).iterdir(), key=lambda p: int(p.name)):
            if read_json(member / "ratchet.json").get("kind") == "transformer":
                return member
    raise RatchetError(f"{folder} holds no fine-tuned transformer to distill a student from")
