"""Seed robustness for the final fine-tune: k seeds, their spread, and an optional probability ensemble.

The first seed is the run's seed (so train reproduces the search's winning trial); the
others are seed+1, seed+2, ... with the time left split evenly. The spread of their
validation scores tells how much of any step's gain could be seed noise. With
``--ensemble`` the seeds' averaged probabilities are judged against the first seed by
the ratchet rule (paired bootstrap) and shipped only if kept: a folder of kind "ensemble"
holding every member, loaded by ``load_ensemble_predictor``.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.config import GateParams, TrainParams
from ratchet.fsutil import atomic_dir, read_json, write_json
from ratchet.search.finetune import TaskData, finetune

MEMBERS = "members"


def seed_deadline(deadline: float | None, seeds_left: int, now: float) -> float | None:
    """This seed's share of the time left: the rest divided evenly among the seeds still to train."""
    return None if deadline is None else now + max(0.0, deadline - now) / max(1, seeds_left)


@dataclass
class SeedRun:
    seed: int
    valid_macro_f1: float
    valid_probs: np.ndarray
    model_dir: Path | None
    stopped_by_deadline: bool = False


def spread(scores: list[float]) -> dict[str, float]:
    return {
        "n": len(scores),
        "mean": statistics.fmean(scores),
        "std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
        "min": min(scores),
        "max": max(scores),
    }


def train_more_seeds(
    first: SeedRun,
    n_seeds: int,
    *,
    backbone: str,
    data: TaskData,
    params: TrainParams,
    device: str,
    step_dir: Path,
    deadline: float | None,
    now: Callable[[], float],
    meta: dict[str, Any],
    keep_models: bool,
) -> list[SeedRun]:
    """Seeds 2..k after the first; each saved as a model only when an ensemble may need it."""
    runs = [first]
    for i in range(1, n_seeds):
        if deadline is not None and now() >= deadline:
            break
        seed = first.seed + i
        model_dir = step_dir / "seeds" / f"seed-{seed}" if keep_models else None
        result = finetune(
            backbone, data, params, device=device, seed=seed, checkpoint_dir=step_dir / f"checkpoint-seed-{seed}",
            deadline=seed_deadline(deadline, n_seeds - i, now()), save_to=model_dir, save_meta=meta,
        )  # fmt: skip
        runs.append(SeedRun(seed, result.best_score, result.valid_probs, model_dir, result.stopped_by_deadline))
    return runs


def finish_seeds(
    ctx: Any,
    result: Any,
    *,
    backbone: str,
    params: TrainParams,
    data: TaskData,
    meta: dict[str, Any],
    n_seeds: int,
    ensemble: bool,
    gate: GateParams,
) -> Any:
    """Train seeds 2..k after train's first, record the spread, and ship the ensemble if the rule keeps it."""
    import time

    from ratchet.errors import RatchetError
    from ratchet.pipeline import StepResult
    from ratchet.predictor import load_predictor

    metrics = result.metrics
    first = SeedRun(
        ctx.seed, float(metrics["best_valid_macro_f1"]), result.valid_probs, result.provides["model.current"],
        bool(metrics.get("stopped_by_deadline")),
    )  # fmt: skip
    runs = train_more_seeds(
        first, n_seeds, backbone=backbone, data=data, params=params, device=ctx.device, step_dir=ctx.step_dir,
        deadline=ctx.deadline, now=time.time, meta=meta, keep_models=ensemble,
    )  # fmt: skip
    metrics["seeds"] = [
        {"seed": r.seed, "valid_macro_f1": r.valid_macro_f1, "stopped_by_deadline": r.stopped_by_deadline} for r in runs
    ]
    metrics["seed_spread"] = spread([r.valid_macro_f1 for r in runs])
    if len(runs) < n_seeds:
        metrics["seeds_note"] = f"the time budget allowed {len(runs)} of {n_seeds} seeds"
    if not ensemble or len(runs) < 2:
        return result
    average, decision = judge_ensemble(runs, data.valid.label_ids, gate, ctx.seed)
    metrics["ensemble"] = {**decision.as_dict(), "shipped": False}
    if not decision.kept:
        return result
    out = ctx.step_dir / "ensemble"
    save_ensemble([Path(r.model_dir) for r in runs if r.model_dir is not None], out)
    try:
        load_predictor(out)  # evaluate and predict must be able to read what ships
    except RatchetError as exc:
        metrics["ensemble"]["note"] = f"kept by the rule but not shipped: {exc}"
        return result
    metrics["ensemble"]["shipped"] = True
    return StepResult(
        provides={"model.current": out},
        metrics=metrics,
        valid_probs=average,
        reference_probs=result.reference_probs,
        judge_against_incumbent=result.judge_against_incumbent,
    )


def judge_ensemble(runs: list[SeedRun], labels: np.ndarray, gate: GateParams, seed: int) -> tuple[np.ndarray, Any]:
    """Averaged probabilities of the seeds, and the ratchet rule's verdict against the first seed alone."""
    from ratchet.evaluation.significance import judge

    average = np.mean([run.valid_probs for run in runs], axis=0).astype(np.float32)
    decision = judge(
        labels, runs[0].valid_probs, average, metric=gate.metric, min_gain=gate.min_gain,
        confidence=gate.confidence, n_bootstrap=gate.n_bootstrap, seed=seed,
    )  # fmt: skip
    return average, decision


def save_ensemble(member_dirs: list[Path], out_dir: Path) -> None:
    """Folder of kind "ensemble": members/<i>/ (each a complete model folder) + labels.json + ratchet.json."""
    from ratchet.shipping import _link_or_copy

    first = read_json(Path(member_dirs[0]) / "ratchet.json")

    def build(tmp: Path) -> None:
        for index, member in enumerate(member_dirs):
            shutil.copytree(member, tmp / MEMBERS / str(index), copy_function=_link_or_copy)
        shutil.copy2(Path(member_dirs[0]) / "labels.json", tmp / "labels.json")
        meta = {**first, "kind": "ensemble", "members": len(member_dirs)}
        write_json(tmp / "ratchet.json", meta)

    atomic_dir(Path(out_dir), build)


@dataclass
class EnsemblePredictor:
    members: list[Any]
    labels: list
    meta: dict[str, Any]

    def predict_probs(
        self, texts: list[str], pairs: list[str] | None = None, on_rows: Callable[[int], None] | None = None
    ) -> np.ndarray:
        total = None
        for index, member in enumerate(self.members):
            # Progress counts rows once: the last member reports them.
            probs = member.predict_probs(texts, pairs, on_rows if index == len(self.members) - 1 else None)
            total = probs.astype(np.float64) if total is None else total + probs
        return (total / len(self.members)).astype(np.float32)


def load_ensemble_predictor(model_dir: str | Path, device: str = "cpu") -> EnsemblePredictor:
    from ratchet.predictor import load_predictor

    model_dir = Path(model_dir)
    members = sorted((model_dir / MEMBERS).iterdir(), key=lambda p: int(p.name))
    predictors = [load_predictor(member, device=device) for member in members]
    labels = read_json(model_dir / "labels.json")["labels"]
    return EnsemblePredictor(predictors, labels, read_json(model_dir / "ratchet.json"))
