"""One fine-tune (a search trial, a selection rung, a fold, a refit), with memory released afterwards.

``select``, ``search``, ``train`` and the cross-fitted folds run many fine-tunes in one process.
Each one builds its model here and drops every reference before returning (only numpy results
leave), then collects garbage and empties the CUDA cache, so memory stays flat over 50 trials.
"""

from __future__ import annotations

import functools
import gc
import inspect
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ratchet.config import TrainParams
from ratchet.data.frames import Split

if TYPE_CHECKING:
    from ratchet.finetuning.fitcache import FitCache


@dataclass
class TaskData:
    """The train/valid splits and labels every fine-tune of a step shares, with an encoding cache."""

    train: Split
    valid: Split
    labels: list
    _encoded: dict[tuple[str, int], tuple[Any, Any]] = field(default_factory=dict, repr=False)
    _fingerprint: str | None = field(default=None, repr=False)

    def fingerprint(self) -> str:
        """sha256 of every text, pair, label id and weight of both splits (the fit cache's data key)."""
        if self._fingerprint is None:
            import hashlib

            digest = hashlib.sha256()
            for split in (self.train, self.valid):
                digest.update(b"\x1e".join(text.encode("utf-8") for text in split.texts))
                if split.pairs is not None:
                    digest.update(b"\x1d" + b"\x1e".join(text.encode("utf-8") for text in split.pairs))
                digest.update(np.ascontiguousarray(split.label_ids, dtype=np.int64).tobytes())
                if split.weights is not None:
                    digest.update(np.ascontiguousarray(split.weights, dtype=np.float32).tobytes())
                digest.update(b"\x1f")
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def encoded(self, backbone: str, tokenizer: Any, max_length: int) -> tuple[Any, Any]:
        # Tokenize each (backbone, max_length) once: trials differ in max_length far less often than in lr.
        key = (backbone, max_length)
        if key not in self._encoded:
            from ratchet.training.encode import encode

            self._encoded[key] = (
                encode(tokenizer, self.train.texts, self.train.pairs, max_length),
                encode(tokenizer, self.valid.texts, self.valid.pairs, max_length),
            )
        return self._encoded[key]


@dataclass
class FinetuneResult:
    valid_probs: np.ndarray
    best_score: float
    history: list[dict[str, Any]]
    steps: int
    stopped_by_deadline: bool
    seconds: float
    telemetry: dict[str, Any]
    stopped_early: bool = False
    resumed_from_step: int = 0
    reused: bool = False
    """Read back from the run's fit cache (an identical fit ran earlier in the run), not trained now."""
    plan: dict[str, Any] | None = None
    """Under a time budget: the schedule fitted to it (training.plan.FitPlan as a dict)."""


def fit_supports_hook() -> bool:
    """Whether ``training.loop.fit`` calls ``on_evaluate(entry)`` after each evaluation (live pruning)."""
    from ratchet.training.loop import fit

    return "on_evaluate" in inspect.signature(fit).parameters


def finetune(
    backbone: str,
    data: TaskData,
    params: TrainParams,
    *,
    device: str,
    seed: int,
    checkpoint_dir: Path,
    deadline: float | None,
    on_evaluate: Callable[[dict[str, Any]], None] | None = None,
    keep_checkpoint: bool = False,
    release: bool = True,
    save_to: Path | None = None,
    save_meta: dict[str, Any] | None = None,
    cache: FitCache | None = None,
    progress: Any = None,
    select_best: bool = True,
    keep_model: bool = False,
) -> FinetuneResult:
    """Fine-tune ``backbone`` with ``params`` on ``data``; returns validation results only.

    ``on_evaluate`` receives each history entry as it is produced when the engine supports
    the hook; exceptions it raises (optuna.TrialPruned) stop training. The checkpoint folder
    is removed on success unless ``keep_checkpoint``; after a crash it stays, so a retried
    trial with the same settings resumes where the crashed one stopped. ``release=False``
    leaves garbage collection to the caller (a search collects once per trial, after Optuna
    has dropped a pruned trial's exception, whose traceback still holds the model).
    ``save_to`` writes the fine-tuned model folder (with ``save_meta`` in its ratchet.json).
    ``cache``: an identical fit earlier in the run is read back instead of trained again (when
    ``save_to`` is asked for, only if that fit kept its model); a new fit is recorded there.
    ``select_best=False``: a cross-fitted fold or a refit (training.loop.fit); ``keep_model`` then
    says whether the cache keeps the model (a refit that ships).
    """
    import torch

    from ratchet.models.load import load_for_classification, save_classifier
    from ratchet.models.source import resolve_model_path
    from ratchet.training.loop import fit

    key = None if cache is None else cache.key(backbone, params, seed, data, select_best)
    configured = params
    hit = _read_back(cache, key, save_to, save_meta)
    if hit is not None:
        return hit

    model = None
    try:
        # The new classification head is drawn from torch's RNG: seed it, so a trial's result
        # depends on its parameters only and train reproduces the winning trial exactly.
        torch.manual_seed(seed)
        model, tokenizer = load_for_classification(
            resolve_model_path(backbone), [str(label) for label in data.labels], dropout=params.dropout,
            multilabel=data.train.label_ids.ndim == 2,
        )  # fmt: skip
        train_enc, valid_enc = data.encoded(backbone, tokenizer, params.max_length)
        train_labels, train_weights = data.train.label_ids, data.train.weights
        extra = {"on_evaluate": on_evaluate} if on_evaluate is not None and fit_supports_hook() else {}
        identity, frozen_cache = _frozen_states(backbone, params)
        if frozen_cache is not None:
            extra["frozen_cache"] = frozen_cache
        plan = None
        if deadline is not None:
            from ratchet.training.plan import schedule_in_time

            plan, params, train_enc, train_labels, train_weights = schedule_in_time(
                model, tokenizer, backbone, identity, train_enc, train_labels, train_weights,
                int(valid_enc.lengths.sum()), params, device=device, seed=seed, deadline=deadline,
                checkpoint_dir=checkpoint_dir, frozen_cache=frozen_cache,
            )  # fmt: skip
        fitted = fit(
            model, train_enc, train_labels, valid_enc, data.valid.label_ids, params, device=device, seed=seed,
            checkpoint_dir=checkpoint_dir, deadline=deadline, sample_weights=train_weights,
            pad_id=tokenizer.pad_token_id or 0, progress=progress, select_best=select_best, **extra,
        )  # fmt: skip
        result = _result_of(fitted, plan)
        del fitted
        model.to("cpu")
        if save_to is not None:
            save_classifier(model, tokenizer, data.labels, save_to, save_meta or {})
        shortened = plan is not None and (params != configured or plan.rows < len(data.train))
        if cache is not None and key is not None and not shortened:  # a fit cut to the budget is not the fit
            _record(cache, key, result, model, tokenizer, data.labels, params, save_to, select_best, keep_model)
    finally:
        del model
        if release:
            release_memory()
    if not keep_checkpoint:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return result


def _read_back(
    cache: FitCache | None, key: str | None, save_to: Path | None, save_meta: dict[str, Any] | None
) -> FinetuneResult | None:
    """An identical fit's result from the run's cache, its model copied to ``save_to`` where one is asked for;
    None when there is none (or it kept no model and one is asked for): then the fit runs."""
    from ratchet.finetuning.fitcache import copy_model

    hit = None if cache is None or key is None else cache.load(key)
    if hit is None or (save_to is not None and hit.model_dir is None):
        return None
    if save_to is not None:
        copy_model(hit.model_dir, save_to, save_meta or {})
    return hit.result


def _frozen_states(backbone: str, params: TrainParams) -> tuple[str | None, Any]:
    """With frozen lower layers: the backbone's identity and the run's shared cache of their states."""
    if params.frozen_layers == 0:
        return None, None
    from ratchet.finetuning.fitcache import backbone_identity
    from ratchet.training.frozen import shared_cache

    identity = backbone_identity(backbone)
    return identity, shared_cache(identity, params.frozen_layers)


def _result_of(fitted: Any, plan: Any) -> FinetuneResult:
    """The engine's FitResult as a FinetuneResult, with a note where the budget's plan did not hold."""
    result = FinetuneResult(
        valid_probs=np.asarray(fitted.valid_probs, dtype=np.float32),
        best_score=float(fitted.best_score),
        history=list(fitted.history),
        steps=int(fitted.steps),
        stopped_by_deadline=bool(fitted.stopped_by_deadline),
        seconds=float(fitted.telemetry.get("seconds", 0.0)),
        telemetry=dict(fitted.telemetry),
        stopped_early=bool(fitted.stopped_early),
        resumed_from_step=int(fitted.resumed_from_step),
        plan=None if plan is None else plan.as_dict(),
    )
    cut = fitted.telemetry.get("schedule_shortened")
    if plan is not None and cut:
        per_epoch = cut["planned_steps"] / max(plan.epochs, 1e-9)
        result.plan = {**result.plan, "shortened_to_epochs": round(cut["steps"] / per_epoch, 2)}
        result.telemetry["plan_note"] = (
            f"slower than measured: the schedule was shortened from {plan.epochs:g} to "
            f"{cut['steps'] / per_epoch:.2f} epochs at step {cut['at_step']} so that its decay ended in time"
        )
    if plan is not None and fitted.stopped_by_deadline:
        rate = fitted.telemetry.get("tokens_per_s") or 0.0
        result.telemetry["plan_note"] = (
            f"stopped by the deadline mid-schedule: the measured {plan.rate:.0f} tokens/s did not hold "
            f"({rate:.0f} tokens/s while training)"
        )
    return result


def _record(
    cache: FitCache, key: str, result: FinetuneResult, model: Any, tokenizer: Any, labels: list, params: TrainParams,
    save_to: Path | None, select_best: bool, keep_model: bool,
) -> None:  # fmt: skip
    """Record a finished fit in the run's cache. The configured parameters' fit may be shipped by a later step:
    keep its model (a step's own saved copy is pointed at, not duplicated). A cross-fitted fold's model never
    ships; a refit's does when the caller says so."""
    from ratchet.models.load import save_classifier

    keep = cache.keeps_model(params) if select_best else keep_model
    writer = None
    if keep and save_to is None:
        writer = functools.partial(save_classifier, model, tokenizer, labels, meta={})
    cache.store(key, result, writer, model_path=save_to if keep else None)


def save_array(path: Path, array: np.ndarray) -> None:
    """Atomically write a float32 .npy file (validation probabilities of a fit or trial)."""
    import io

    from ratchet.fsutil import atomic_write

    def write(tmp: Path) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(array, dtype=np.float32))
        tmp.write_bytes(buffer.getvalue())

    atomic_write(Path(path), write)


def release_memory() -> None:
    """Free what the last fine-tune left: Python cycles first, then the CUDA allocator's cache."""
    gc.collect()
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def memory_snapshot() -> dict[str, float]:
    """Resident memory and CUDA memory in MiB, recorded per trial to show the absence of growth."""
    import psutil
    import torch

    snapshot = {"rss_mb": psutil.Process().memory_info().rss / 2**20}
    if torch.cuda.is_available():
        snapshot["cuda_allocated_mb"] = torch.cuda.memory_allocated() / 2**20
    return snapshot
