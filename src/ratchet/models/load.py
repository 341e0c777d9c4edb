"""Load any Hugging Face backbone as a sequence classifier; save and reload ratchet's model folder.

The shipped folder (``RUN/model/``) holds ``labels.json`` and ``ratchet.json`` beside the
weights. A model with the Hugging Face head is a plain checkpoint (safetensors, config,
tokenizer) that also loads with ``AutoModelForSequenceClassification.from_pretrained``
outside ratchet; one with the mean-pooling head (sentence-embedding backbones, see
pooled.py) is a sentence-transformers folder whose config.json makes the Auto classes refuse
it by name (folder_layout.py), read by ``load_classifier``.

A model folder is data, never code: weights load from safetensors only (``use_safetensors=True``,
so a crafted ``pytorch_model.bin`` is never unpickled), ``trust_remote_code`` is never set, and a
damaged file is a one-line RatchetError naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ratchet.errors import RatchetError
from ratchet.fsutil import atomic_dir, read_json, write_json
from ratchet.models.source import not_found, resolve_model_path

log = logging.getLogger("ratchet")

# Config fields that hold a dropout probability, across families (BERT, GPT-2, T5, RoBERTa, DeBERTa, ...).
_DROPOUT_FIELDS = (
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "classifier_dropout",
    "hidden_dropout",
    "attention_dropout",
    "dropout",
    "dropout_rate",
    "resid_pdrop",
    "embd_pdrop",
    "attn_pdrop",
    "summary_first_dropout",
)


MULTI_LABEL = "multi_label_classification"
"""Hugging Face's problem_type of a sigmoid head trained with binary cross-entropy."""


def is_multilabel_model(model: Any) -> bool:
    return getattr(getattr(model, "config", None), "problem_type", None) == MULTI_LABEL


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence the load report ("newly initialized: classifier.*") and weight-loading bars.

    A fresh classification head is the point of fine-tuning, so the warning is noise here.
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _from_pretrained(path: str, *, encoder_only: bool = False, **kwargs: Any):
    """AutoModelForSequenceClassification (or the bare AutoModel encoder) with SDPA attention.

    Falls back to the model's default attention where a model rejects SDPA.
    """
    from transformers import AutoModel, AutoModelForSequenceClassification

    auto = AutoModel if encoder_only else AutoModelForSequenceClassification
    try:
        return auto.from_pretrained(path, attn_implementation="sdpa", **kwargs)
    except (ValueError, ImportError) as exc:
        message = str(exc)
        if not any(hint in message for hint in ("sdpa", "scaled_dot_product_attention", "attn_implementation")):
            raise
        log.info("model %s does not support SDPA attention; using its default attention", path)
        return auto.from_pretrained(path, **kwargs)


def head_for(path: str) -> str:
    """ "mean" for a sentence-embedding checkpoint (or a ratchet model saved with that head), else "model"."""
    from ratchet.models.pooled import MEAN, sentence_pooling

    meta = Path(path) / "ratchet.json"
    if not meta.is_file() and Path(path).name == "encoder":  # encoder/ of a mean-head folder (folder_layout)
        meta = Path(path).parent / "ratchet.json"
    if meta.is_file():
        return str(read_json(meta).get("head", "model"))
    return MEAN if sentence_pooling(path) == MEAN else "model"


def load_for_classification(
    name_or_path: str, labels: list[str], *, dropout: float | None = None, head: str = "auto", multilabel: bool = False
):
    """A backbone with a freshly initialized classification head for ``labels`` -> (model, tokenizer).

    ``head``: "auto" (mean pooling for sentence-embedding checkpoints, the model's own head
    otherwise), "mean" or "model". ``multilabel``: a sigmoid head (the config's problem_type says so, and
    is saved with the model, so every predictor applies a sigmoid instead of a softmax).
    """
    from transformers import AutoConfig, AutoTokenizer

    from ratchet.models.pooled import MEAN, MeanPoolingClassifier

    path = resolve_model_path(name_or_path)
    names = [str(label) for label in labels]
    if len(names) < 2:
        raise RatchetError(f"need at least 2 labels to train a classifier, got {len(names)}: check the label column")
    with _quiet_transformers():
        try:
            config = AutoConfig.from_pretrained(
                path,
                num_labels=len(names),
                id2label=dict(enumerate(names)),
                label2id={name: i for i, name in enumerate(names)},
            )
            tokenizer = AutoTokenizer.from_pretrained(path)
        except OSError:
            raise not_found(name_or_path) from None
        if multilabel:
            config.problem_type = MULTI_LABEL
        if dropout is not None:
            for field in _DROPOUT_FIELDS:
                if isinstance(getattr(config, field, None), float):
                    setattr(config, field, float(dropout))
        _ensure_pad_token(tokenizer, config, name_or_path)
        pooling = head_for(path) if head == "auto" else head
        try:
            if pooling == MEAN:
                encoder = _from_pretrained(path, config=config, encoder_only=True)
                head_dropout = dropout if dropout is not None else getattr(config, "hidden_dropout_prob", 0.1)
                model = MeanPoolingClassifier(encoder, len(names), float(head_dropout))
            else:
                model = _from_pretrained(path, config=config)
        except OSError:
            raise not_found(name_or_path) from None
    if not getattr(tokenizer, "is_fast", False):
        raise RatchetError(f"model {name_or_path!r} has no fast tokenizer: pick a model with a tokenizer.json")
    return model, tokenizer


def _ensure_pad_token(tokenizer, config, name_or_path: str) -> None:
    """Decoders such as GPT-2 ship without a pad token: pad with EOS and tell the model.

    The classification head of a decoder reads the last non-pad token, so the model must
    know the pad id; ratchet pads on the right, so the real EOS positions are unaffected.
    """
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise RatchetError(f"model {name_or_path!r} has neither a pad nor an EOS token: pick another model")
        tokenizer.pad_token = tokenizer.eos_token
    config.pad_token_id = tokenizer.pad_token_id


def _unwrap(model):
    """The plain Hugging Face module under DDP and torch.compile wrappers."""
    while True:
        if hasattr(model, "module"):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def save_classifier(model, tokenizer, labels: list, out_dir: Path, meta: dict) -> None:
    """Write the model folder atomically: safetensors + config + tokenizer + labels.json + ratchet.json."""
    from ratchet.data.frames import labels_record
    from ratchet.models.pooled import MEAN, MeanPoolingClassifier

    model = _unwrap(model)
    head = MEAN if isinstance(model, MeanPoolingClassifier) else "model"

    def build(tmp: Path) -> None:
        from ratchet.models.folder_layout import write_mean_classifier

        with _quiet_transformers():
            if head == MEAN:  # a sentence-transformers folder that the Auto classes refuse (folder_layout)
                write_mean_classifier(model, tokenizer, tmp, meta.get("max_length"))
            else:
                model.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
        write_json(tmp / "labels.json", labels_record(labels))
        task = {"task": "multilabel"} if is_multilabel_model(model) else {}  # predictors decide label sets
        write_json(tmp / "ratchet.json", {"kind": "transformer", **meta, "head": head, **task})

    atomic_dir(Path(out_dir), build)


def one_line(reason: BaseException | str) -> str:
    """An exception's message on one short line (RatchetError messages are one line)."""
    return " ".join(str(reason).split())[:200] or type(reason).__name__


def damaged(path: Path, reason: BaseException | str) -> RatchetError:
    """The one-line error for a file of a model folder that exists but cannot be read."""
    return RatchetError(f"{path} is damaged ({one_line(reason)}): re-run training or restore the file")


def read_folder_json(path: Path, *required: str) -> dict[str, Any]:
    """A JSON object of a model folder (labels.json, ratchet.json, ...) holding ``required`` keys, or ``damaged``."""
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:  # ValueError covers JSONDecodeError and UnicodeDecodeError
        raise damaged(path, exc) from None
    if not isinstance(data, dict) or any(key not in data for key in required):
        raise damaged(path, f"expected a JSON object with {', '.join(required) or 'fields'}")
    return data


def load_classifier(model_dir: str | os.PathLike):
    """A folder written by save_classifier -> (model in eval mode, tokenizer, labels, meta)."""
    from safetensors import SafetensorError
    from transformers import AutoTokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "ratchet.json").is_file() or not (model_dir / "labels.json").is_file():
        raise RatchetError(f"{model_dir} is not a ratchet model folder (no ratchet.json): pass RUN/model")
    meta = read_folder_json(model_dir / "ratchet.json")
    labels = read_folder_json(model_dir / "labels.json", "labels")["labels"]
    from ratchet.models.folder_layout import encoder_dir, head_file
    from ratchet.models.pooled import MEAN, MeanPoolingClassifier

    mean_head = meta.get("head") == MEAN
    weights_dir = encoder_dir(model_dir) if mean_head else model_dir
    with _quiet_transformers():
        try:
            tokenizer = AutoTokenizer.from_pretrained(weights_dir)
            # use_safetensors=True: weights come from model.safetensors only; a pickled
            # pytorch_model.bin placed in a run folder is never read (and never unpickled).
            model = _from_pretrained(str(weights_dir), encoder_only=mean_head, use_safetensors=True)
        except SafetensorError as exc:
            raise damaged(weights_dir / "model.safetensors", exc) from None
        except (OSError, ValueError) as exc:  # missing weights, broken config.json or tokenizer files
            fix = "re-run training or restore the folder"
            raise RatchetError(f"{model_dir} cannot be loaded ({one_line(exc)}): {fix}") from None
        if mean_head:
            try:
                model = MeanPoolingClassifier.from_folder(model_dir, model)
            except (SafetensorError, OSError, RuntimeError, KeyError) as exc:  # RuntimeError: wrong shapes
                raise damaged(head_file(model_dir)[0], exc) from None
    model.eval()
    return model, tokenizer, labels, meta
