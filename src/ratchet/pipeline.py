"""The step pipeline: resolve inputs, run or skip each step, apply the ratchet rule, keep the ledger.

A step is any object with ``name``, ``requires``, ``provides``, ``gated``,
``params`` (a frozen dataclass) and ``run(ctx) -> StepResult``. The pipeline
owns everything around it: the manifest, resume, the ledger and the decision
whether a gated step's candidate is kept.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from ratchet.artifacts import ArtifactStore, ArtifactView
from ratchet.config import RunConfig
from ratchet.devices import resolve_device
from ratchet.fsutil import read_json, write_json
from ratchet.manifest import (
    DONE_STATES,
    REFERENCE_PROBS,
    Manifest,
    ValidationTruth,
    load_probs,
    save_probs,
    step_dir_name,
)
from ratchet.reporting.progress import Progress
from ratchet.rundir import SUPERSEDED, prepare_run_dir, set_aside_superseded_steps
from ratchet.shipping import ship_model

log = logging.getLogger("ratchet")

LEDGER_METRICS = ("seed_spread", "ensemble")
"""Step metrics worth a place in the ledger itself (the rest stays in the step's manifest)."""


class Step(Protocol):
    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]]
    """Artifact keys the step cannot run without: an earlier step must provide each (checked before the run)."""
    optional: ClassVar[tuple[str, ...]]
    """Artifact keys the step reads when an earlier step provided them."""
    provides: ClassVar[tuple[str, ...]]
    gated: ClassVar[bool]
    params: Any

    def run(self, ctx: StepContext) -> StepResult: ...


@dataclass
class StepResult:
    provides: dict[str, Path] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    valid_probs: np.ndarray | None = None
    """Validation probabilities of the model state after this step (the new incumbent if accepted)."""
    reference_probs: np.ndarray | None = None
    """Gated steps: the incumbent as the step measured it itself, for a like-for-like comparison."""
    skipped: str | None = None
    """Why the step did not apply (nothing provided, nothing judged)."""
    judge_against_incumbent: bool = True
    """Gated steps without reference_probs: False means there is nothing to beat, so the candidate is kept."""
    gate_metric: str | None = None
    """Gated steps with reference_probs: judge with this metric instead of the run's gate metric (relabel
    compares two fits of its own cheap learner by log loss, which sees far more than macro-F1 does)."""


@dataclass
class StepContext:
    run_dir: Path
    step_dir: Path
    artifacts: ArtifactView
    device: str
    seed: int
    deadline: float | None
    progress: Progress
    log: logging.Logger = log

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.time()


@dataclass
class RunResult:
    run_dir: Path
    ledger: list[dict[str, Any]]
    metrics: dict[str, Any]


class Pipeline:
    """Runs a recipe of steps in a run folder; ``from_config`` builds the default recipe."""

    def __init__(
        self,
        config: RunConfig,
        steps: Sequence[Step],
        progress: Progress | None = None,
        preflight: bool = True,
    ) -> None:
        self.config = config
        self.steps = list(steps)
        self.progress = progress or Progress(enabled=False)
        self.preflight = preflight

    @classmethod
    def from_config(cls, config: RunConfig, progress: Progress | None = None) -> Pipeline:
        from ratchet.recipe import build_steps

        return cls(config, build_steps(config), progress=progress)

    def run(self) -> RunResult:
        from ratchet.recipe import check_recipe
        from ratchet.runlock import run_lock

        check_recipe(self.steps)
        if self.preflight:
            from ratchet.recipe import preflight

            preflight(self.config)  # reads only: bad input never costs a folder or an earlier run
        with run_lock(Path(self.config.out), "run --resume" if self.config.resume else "run"):
            return self._run_locked()

    def _run_locked(self) -> RunResult:
        run_dir = prepare_run_dir(self.config)
        stale = set_aside_superseded_steps(run_dir, [step_dir_name(i, step.name) for i, step in enumerate(self.steps)])
        if stale:
            log.info("steps %s are not in this recipe: moved to %s/%s", ", ".join(stale), run_dir, SUPERSEDED)
        started = time.time()
        budget = self.config.budget_seconds
        run_deadline = None if budget is None else started + budget
        device = resolve_device(self.config.device)
        store = ArtifactStore()
        truth = ValidationTruth()
        incumbent: np.ndarray | None = None
        ledger: list[dict[str, Any]] = []

        for index, step in enumerate(self.steps):
            step_dir = run_dir / "steps" / step_dir_name(index, step.name)
            manifest = Manifest.for_step(step, step_dir, store, incumbent if step.gated else None)
            previous = Manifest.load(step_dir)
            if self.config.resume and previous is not None and previous.matches(manifest):
                if previous.status in DONE_STATES:
                    incumbent = self._restore(previous, store, incumbent)
                    ledger.append(previous.ledger)
                    log.info("step %s: unchanged since the last run, skipped", step.name)
                    self._write_ledger(run_dir, ledger)
                    continue
                # An interrupted step with the same inputs keeps its folder: checkpoints resume there.
            else:
                manifest.reset_dir()
            step_dir.mkdir(parents=True, exist_ok=True)
            manifest.mark_running()
            ctx = StepContext(
                run_dir=run_dir,
                step_dir=step_dir,
                artifacts=store.view(step.name, step.requires, getattr(step, "optional", ())),
                device=device,
                seed=self.config.seed,
                deadline=self._step_deadline(index, run_deadline),
                progress=self.progress,
            )
            self.progress.log(f"[bold cyan]step {index + 1}/{len(self.steps)}: {step.name}")
            t0 = time.time()
            try:
                result = step.run(ctx)
            except BaseException as exc:
                if not isinstance(exc, KeyboardInterrupt):
                    manifest.mark_failed(exc)
                raise
            seconds = time.time() - t0
            entry, incumbent = self._account(step, result, store, truth, incumbent, manifest, seconds)
            ledger.append(entry)
            if entry["status"] in ("completed", "kept") and "model.current" in result.provides:
                ship_model(
                    result.provides["model.current"],
                    run_dir / "model",
                    # predict must repair text exactly as training data was repaired.
                    extra_meta={"clean": dataclasses.asdict(self.config.clean)},
                )
            self._write_ledger(run_dir, ledger)
            self.progress.log(f"  {_ledger_line(entry)}")

        metrics_path = run_dir / "metrics.json"
        metrics = read_json(metrics_path) if metrics_path.exists() else {}
        return RunResult(run_dir=run_dir, ledger=ledger, metrics=metrics)

    def _account(
        self,
        step: Step,
        result: StepResult,
        store: ArtifactStore,
        truth: ValidationTruth,
        incumbent: np.ndarray | None,
        manifest: Manifest,
        seconds: float,
    ) -> tuple[dict[str, Any], np.ndarray | None]:
        """Apply the ratchet rule, update the store and the incumbent, and finish the manifest."""
        undeclared = set(result.provides) - set(step.provides)
        if undeclared:
            raise RuntimeError(f"step {step.name!r} provided undeclared artifacts: {sorted(undeclared)}")
        gate = self.config.gate
        entry: dict[str, Any] = {"step": step.name, "gated": step.gated, "metric": gate.metric, "seconds": seconds}
        before = truth.score(store, incumbent, gate.metric)
        entry["before"] = before
        decision = None
        if result.skipped is not None:
            status, accepted = "skipped", False
            entry["note"] = result.skipped
        elif step.gated and result.valid_probs is not None:
            reference = result.reference_probs
            if reference is None and result.judge_against_incumbent:
                reference = incumbent
            judged = gate
            if result.gate_metric is not None and result.reference_probs is not None:
                judged = dataclasses.replace(gate, metric=result.gate_metric)
                entry["gate_metric"] = judged.metric
            decision = truth.judge(store, reference, result.valid_probs, judged, self.config.seed)
            accepted = decision is None or decision.kept
            status = "kept" if accepted else "rejected"
        else:
            status, accepted = "completed", True
        # The incumbent is the model that would ship: only a step that provides model.current moves it.
        # select's winner fit describes no shipped model; before anything ships (a recipe without
        # baseline), it stands in. A data step's probabilities (relabel's gate learner) never do.
        moved = accepted and result.valid_probs is not None and _moves_incumbent(set(result.provides), incumbent)
        if accepted:
            for key, path in result.provides.items():
                store.put(key, path)
        if moved:
            # float32, like the saved copy, so a resumed run hashes the same incumbent.
            incumbent = np.asarray(result.valid_probs, dtype=np.float32)
        elif accepted and result.valid_probs is not None:
            entry["candidate"] = truth.score(store, np.asarray(result.valid_probs, dtype=np.float32), gate.metric)
        if result.valid_probs is not None:
            save_probs(manifest.step_dir, result.valid_probs)
        if result.reference_probs is not None:  # what the rule compared against, kept for audit
            save_probs(manifest.step_dir, result.reference_probs, REFERENCE_PROBS)
        after = truth.score(store, incumbent, gate.metric)
        entry.update(status=status, after=after, gain=after - before if moved and before is not None else None)
        if decision is not None:
            # before/after stay the shipped model's scores; the rule's own comparison (which may be a
            # step's gate learner, e.g. relabel's) is reference -> candidate, with its gain.
            entry.update(
                reference=decision.before,
                candidate=decision.after,
                gain=decision.gain,
                ci=[decision.ci_low, decision.ci_high],
                p_better=decision.p_better,
                reason=decision.reason,
            )
        for key in LEDGER_METRICS:
            if key in result.metrics:
                entry[key] = result.metrics[key]
        manifest.finish(status, result, entry, seconds)
        return entry, incumbent

    def _restore(self, previous: Manifest, store: ArtifactStore, incumbent: np.ndarray | None) -> np.ndarray | None:
        if previous.status in ("completed", "kept"):
            provided = previous.provided_paths()
            for key, path in provided.items():
                store.put(key, path)
            probs = load_probs(previous.step_dir)
            if probs is not None and _moves_incumbent(set(provided), incumbent):  # as in _account
                return probs
        return incumbent

    def _step_deadline(self, index: int, run_deadline: float | None) -> float | None:
        """Split the time left across the remaining steps by their declared budget shares."""
        if run_deadline is None:
            return None
        share = float(getattr(self.steps[index], "budget_share", 0.0))
        if share <= 0:
            return run_deadline
        remaining = sum(float(getattr(s, "budget_share", 0.0)) for s in self.steps[index:])
        now = time.time()
        return now + max(0.0, run_deadline - now) * share / remaining

    @staticmethod
    def _write_ledger(run_dir: Path, ledger: list[dict[str, Any]]) -> None:
        write_json(run_dir / "ledger.json", ledger)


def _ledger_line(entry: dict[str, Any]) -> str:
    parts = [f"{entry['step']}: {entry['status']}"]
    if entry.get("after") is not None:
        parts.append(f"valid {entry['metric']} {entry['after']:.4f}")
    if entry.get("gain") is not None and entry.get("before") is not None:
        parts.append(f"gain {entry['gain']:+.4f}")
    if entry.get("ci"):
        parts.append(f"95% CI [{entry['ci'][0]:+.4f}, {entry['ci'][1]:+.4f}]")
    parts.append(f"{entry['seconds']:.1f}s")
    return "  ".join(parts)


def params_dict(params: Any) -> dict[str, Any]:
    return dataclasses.asdict(params) if dataclasses.is_dataclass(params) else dict(params or {})


def _moves_incumbent(provided: set[str], incumbent: np.ndarray | None) -> bool:
    if "model.current" in provided:
        return True
    return incumbent is None and not any(key.startswith("data.") for key in provided)
