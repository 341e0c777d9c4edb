"""One fine-tune per (backbone, parameters, data, seed) per run, shared by select, search and train.

In a balanced run the configured parameters are fine-tuned by select (its full-length rung),
again by search (its reference trial) and a third time by train (its first seed): the same
deterministic fit, about 150 s each on 2 CPU cores of a 16-minute run. The first of them
leaves its result here (``RUN/cache/fits/KEY``: validation probabilities, history, and for
the configured parameters the model itself); the others read it back. A fit cut short by the
time budget is never stored: it is not what an unhurried fit would give.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ratchet.config import TrainParams
from ratchet.fsutil import atomic_dir, hash_json, read_json, write_json

if TYPE_CHECKING:
    from ratchet.finetuning.finetune import FinetuneResult, TaskData

RECORD, PROBS, MODEL = "fit.json", "valid_probs.npy", "model"


def backbone_identity(backbone: str) -> Any:
    """A name for the key: a local folder's files by name, size and mtime (an adapted encoder re-made in
    the same folder is a different backbone); a hub name or "default" as it is."""
    from ratchet.models.source import resolve_model_path

    path = Path(resolve_model_path(backbone))
    if not path.is_dir():
        return backbone
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return [str(path.resolve()), [(str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]]


@dataclass(frozen=True)
class CachedFit:
    result: FinetuneResult
    model_dir: Path | None
    """The fine-tuned model, when the fit that filled the entry kept it."""


@dataclass(frozen=True)
class FitCache:
    root: Path
    device: str
    keep_models_for: tuple[str, ...] = ()
    """hash_json(asdict(params)) of the parameters whose fits keep their model (the configured ones:
    train's first seed uses them unless search found better)."""

    @classmethod
    def for_run(cls, run_dir: Path, device: str, configured: TrainParams) -> FitCache:
        keep = (hash_json(dataclasses.asdict(configured)),)
        return cls(Path(run_dir) / "cache" / "fits", device, keep)

    def key(self, backbone: str, params: TrainParams, seed: int, data: TaskData, select_best: bool = True) -> str:
        """One entry per (backbone, parameters, seed, data, judging mode): each fold's data is its own entry,
        and a relabeled training set is other data (its fingerprint covers texts, labels and weights)."""
        identity = [backbone_identity(backbone), dataclasses.asdict(params), data.fingerprint(), seed, self.device]
        if not select_best:  # a cross-fitted fold keeps its final weights: another fit than early stopping's
            identity.append("final-weights")
        return hash_json(identity)[:24]

    def keeps_model(self, params: TrainParams) -> bool:
        return hash_json(dataclasses.asdict(params)) in self.keep_models_for

    def load(self, key: str) -> CachedFit | None:
        from ratchet.finetuning.finetune import FinetuneResult

        folder = self.root / key
        if not (folder / RECORD).is_file():
            return None
        record = read_json(folder / RECORD)
        elsewhere = record.pop("model_path", None)
        result = FinetuneResult(valid_probs=np.load(folder / PROBS), **record, reused=True)
        for model in (folder / MODEL, None if elsewhere is None else Path(elsewhere)):
            if model is not None and (model / "ratchet.json").is_file():
                return CachedFit(result, model)
        return CachedFit(result, None)

    def store(self, key: str, result: FinetuneResult, write_model=None, model_path: Path | None = None) -> None:
        """Record a finished fit; ``write_model(folder)`` saves the model in the entry, or ``model_path`` points
        at the step's own copy (a model folder in the run, not duplicated here)."""
        if result.stopped_by_deadline:
            return

        def build(tmp: Path) -> None:
            from ratchet.finetuning.finetune import save_array

            save_array(tmp / PROBS, result.valid_probs)
            if write_model is not None:
                write_model(tmp / MODEL)
            fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
            record = {k: v for k, v in fields.items() if k not in ("valid_probs", "reused")}
            if model_path is not None:
                record["model_path"] = str(Path(model_path).resolve())
            write_json(tmp / RECORD, record)  # last: its presence means the entry is whole

        atomic_dir(self.root / key, build)


def copy_model(cached: Path, target: Path, meta: dict[str, Any]) -> None:
    """The cached model as ``target``, its ratchet.json carrying this step's meta."""

    def build(tmp: Path) -> None:
        shutil.copytree(cached, tmp, dirs_exist_ok=True)
        write_json(tmp / "ratchet.json", {**read_json(cached / "ratchet.json"), **meta})

    atomic_dir(Path(target), build)
