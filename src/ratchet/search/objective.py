"""The objective: one trial = sample parameters, fine-tune, report, return validation macro-F1.

The same runner serves the search step and ``ratchet worker``; only the deadline differs.
Every trial trains with the same seed, so trials differ by their parameters, not by luck.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from ratchet.config import TrainParams
from ratchet.finetuning.finetune import TaskData, finetune, memory_snapshot, save_array
from ratchet.finetuning.fitcache import FitCache
from ratchet.fsutil import hash_json
from ratchet.search import space
from ratchet.search.pruning import PruningReporter
from ratchet.training.plan import TooLittleTime


@dataclass
class TrialRunner:
    backbone: str
    data: TaskData
    base: TrainParams
    length_options: list[int]
    device: str
    seed: int
    workdir: Path
    """Folder for trial checkpoints and validation probabilities (the search step's folder)."""
    deadline: float | None = None
    cache: FitCache | None = None
    """The run's fit cache (the search step's own runner only): the reference trial usually repeats
    select's fit of the configured parameters, and train's first seed repeats the reference."""

    def __call__(self, trial: optuna.trial.Trial) -> float:
        reference = bool(trial.user_attrs.get("reference"))
        overrides = {} if reference else space.suggest(trial, self.base, self.length_options)
        params = space.apply(self.base, overrides)
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        checkpoint_dir = self.workdir / "trials" / hash_json(overrides)[:16]
        # The configured parameters are the yardstick: they are never pruned.
        reporter = PruningReporter(trial, prune=not reference)
        # Memory at the start of each trial, after the previous one was released: flat when nothing leaks.
        trial.set_user_attr("memory", memory_snapshot())
        started = time.time()
        try:
            try:
                result = finetune(
                    self.backbone, self.data, params, device=self.device, seed=self.seed,
                    checkpoint_dir=checkpoint_dir, deadline=self.trial_deadline(reference), on_evaluate=reporter,
                    release=False, cache=self.cache,
                )  # fmt: skip
            except TooLittleTime as exc:  # recorded as pruned: a trial that cannot run never wins
                trial.set_user_attr("note", str(exc))
                raise optuna.TrialPruned(str(exc)) from None
            if result.plan is not None:
                trial.set_user_attr("plan", result.plan)
            trial.set_user_attr("reused_fit", result.reused)
            trial.set_user_attr("seconds", time.time() - started)
            if result.stopped_by_deadline:
                # A trial cut short is not a fair score; record it as pruned so it never wins.
                trial.set_user_attr("note", "stopped by the time budget")
                raise optuna.TrialPruned("stopped by the time budget")
            reporter.replay(result.history)
        except optuna.TrialPruned:
            trial.set_user_attr("seconds", time.time() - started)
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
            raise
        save_trial_probs(self.workdir, trial.study.study_name, trial.number, result.valid_probs)
        trial.set_user_attr("steps", result.steps)
        trial.set_user_attr("tokens_per_s", result.telemetry.get("tokens_per_s"))
        return result.best_score

    trials_left: int = 1
    """Trials the study still needs (set by the search before each trial): each gets its share of the time."""

    def trial_deadline(self, reference: bool = False) -> float | None:
        """A sampled trial's share of the time left; the configured parameters' trial may use all of it.

        Every trial is judged against the reference, so without it the search is lost: on tweets (best
        preset, 30 trials) the reference was the step's first fit, its share ~9 s, and the budget stopped it,
        after which 29 trials ran (261 s) that nothing could judge."""
        if self.deadline is None or reference:
            return self.deadline
        return time.time() + max(self.deadline - time.time(), 0.0) / max(1, self.trials_left)

    def refit(self, overrides: dict[str, Any]) -> np.ndarray:
        """Validation probabilities of given parameters (a trial run by a worker on another machine)."""
        params = space.apply(self.base, overrides)
        checkpoint_dir = self.workdir / "refit" / hash_json(overrides)[:16]
        result = finetune(
            self.backbone, self.data, params, device=self.device, seed=self.seed,
            checkpoint_dir=checkpoint_dir, deadline=None,
        )  # fmt: skip
        return result.valid_probs


def probs_path(workdir: Path, study_name: str, number: int) -> Path:
    return workdir / "probs" / f"{study_name}-{number}.npy"


def save_trial_probs(workdir: Path, study_name: str, number: int, probs: np.ndarray) -> None:
    save_array(probs_path(workdir, study_name, number), probs)


def load_trial_probs(workdir: Path, study_name: str, number: int) -> np.ndarray | None:
    path = probs_path(workdir, study_name, number)
    return np.load(path) if path.is_file() else None


def build_runner(
    backbone: str,
    data: TaskData,
    base: TrainParams,
    *,
    device: str,
    seed: int,
    workdir: Path,
    deadline: float | None,
    cache: FitCache | None = None,
) -> TrialRunner:
    """Measure the data's token lengths with the backbone's tokenizer to offer sensible max_length values."""
    from transformers import AutoTokenizer

    from ratchet.models.source import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(backbone))
    sample = data.train.texts[:2000]
    pairs = None if data.train.pairs is None else data.train.pairs[:2000]
    ids = tokenizer(sample, pairs, truncation=True, max_length=512)["input_ids"] if sample else []
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
    model_max = int(min(getattr(tokenizer, "model_max_length", 512) or 512, 512))
    options = space.length_choices(lengths, base.max_length, model_max)
    return TrialRunner(backbone, data, base, options, device, seed, workdir, deadline, cache)
