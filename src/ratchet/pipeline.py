"""The step pipeline: resolve inputs, run or skip each step, apply the ratchet rule, keep the ledger.

A step (ratchet.step) declares its inputs and outputs and returns what it measured:
``Completed``, a gated step's ``Candidate``, or ``Skipped``. The pipeline owns everything
around it: the manifest, resume, the ledger, and the decision whether a candidate is kept
(ratchet.gate judges; this module is the only caller), after which a kept candidate's
``ship`` builds what it provides.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.artifacts import ArtifactStore
from ratchet.budget_plan import step_budget
from ratchet.config import GateParams, RunConfig
from ratchet.devices import resolve_device
from ratchet.evaluation.significance import GateDecision
from ratchet.fsutil import read_json, write_json
from ratchet.gate import AS_GIVEN, SETTLING, TUNED, JudgedTruth
from ratchet.ledger_entry import LEDGER_METRICS, decision_fields, ledger_line, side_fields, side_metric
from ratchet.manifest import DONE_STATES, REFERENCE_PROBS, Manifest, load_probs, save_probs, step_dir_name
from ratchet.multilabel_support import multilabel_unsupported
from ratchet.reporting.progress import Progress
from ratchet.rundir import SUPERSEDED, prepare_run_dir, set_aside_superseded_steps
from ratchet.shipping import ship_model
from ratchet.step import Candidate, Completed, Outcome, Skipped, Step, StepContext

log = logging.getLogger("ratchet")

"""Step metrics worth a place in the ledger itself (the rest stays in the step's manifest)."""

__all__ = ["Candidate", "Completed", "Pipeline", "RunResult", "Skipped", "Step", "StepContext"]


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
        from ratchet.step_builders import build_steps

        return cls(config, build_steps(config), progress=progress)

    def run(self) -> RunResult:
        from ratchet.recipe_check import check_recipe
        from ratchet.runlock import run_lock

        check_recipe(self.steps)
        if self.preflight:
            from ratchet.recipe_check import preflight

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
        truth = JudgedTruth()
        from ratchet.services import RunServices

        services = RunServices(run_dir, device, self.config.train, self.config.gate.fold_workers)
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
            budget_plan = step_budget(self.steps, index, store, run_deadline)
            ctx = StepContext(
                run_dir=run_dir,
                step_dir=step_dir,
                artifacts=store.view(step.name, step.requires, getattr(step, "optional", ())),
                device=device,
                seed=self.config.seed,
                deadline=None if budget_plan is None else budget_plan.deadline,
                progress=self.progress,
                services=services,
                incumbent=None if incumbent is None else incumbent.copy(),
            )
            self.progress.log(f"[bold cyan]step {index + 1}/{len(self.steps)}: {step.name}")
            if budget_plan is not None and budget_plan.not_counted:
                log.info("budget: %s gets %.0f s of the %.0f s left (%s will not run)", step.name,
                         budget_plan.seconds, budget_plan.left, ", ".join(budget_plan.not_counted))  # fmt: skip
            t0 = time.time()
            try:
                unsupported = multilabel_unsupported(step.name) if truth.multilabel(store) else None
                outcome = Skipped(unsupported) if unsupported is not None else step.run(ctx)
                entry, incumbent, provided = self._account(index, outcome, store, truth, incumbent, manifest, t0)
            except BaseException as exc:
                if not isinstance(exc, KeyboardInterrupt):
                    manifest.mark_failed(exc)
                raise
            if budget_plan is not None:
                entry["budget"] = budget_plan.ledger()
            ledger.append(entry)
            if "model.current" in provided:
                ship_model(
                    provided["model.current"],
                    run_dir / "model",
                    # predict must repair text exactly as training data was repaired.
                    extra_meta={"clean": dataclasses.asdict(self.config.clean)},
                )
            self._write_ledger(run_dir, ledger)
            self.progress.log(f"  {ledger_line(entry)}")

        metrics_path = run_dir / "metrics.json"
        metrics = read_json(metrics_path) if metrics_path.exists() else {}
        return RunResult(run_dir=run_dir, ledger=ledger, metrics=metrics)

    def _account(
        self,
        index: int,
        outcome: Outcome,
        store: ArtifactStore,
        truth: JudgedTruth,
        incumbent: np.ndarray | None,
        manifest: Manifest,
        started: float,
    ) -> tuple[dict[str, Any], np.ndarray | None, dict[str, Path]]:
        """Apply the ratchet rule, ship what a kept candidate provides, move the incumbent, finish the manifest.

        Returns the ledger entry, the new incumbent, and what the step provided (nothing when rejected).
        """
        step, seed = self.steps[index], self.config.seed
        gate = truth.gate_for(store, self.config.gate)
        entry: dict[str, Any] = {"step": step.name, "gated": step.gated, "metric": gate.metric}
        # Label sets: until a later step settles the shipped thresholds, models are scored at cross-tuned ones.
        at_before, at_after = self._thresholds_at(index), self._thresholds_at(index + 1)
        before = truth.score(store, incumbent, gate.metric, at_before, seed)
        entry["before"] = before
        side = side_metric(truth.multilabel(store), gate.metric)
        side_before = None if side is None else truth.score(store, incumbent, side, AS_GIVEN, seed)
        thresholds = {"before": at_before, "after": at_after} if truth.tunes(store, gate.metric) else {}
        decision = None
        probs: np.ndarray | None = None
        provided: dict[str, Path] = {}
        if isinstance(outcome, Skipped):
            status = "skipped"
            entry["note"] = outcome.reason
        elif isinstance(outcome, Candidate):
            if not step.gated:
                raise RuntimeError(f"step {step.name!r} returned a Candidate but is not gated")
            decision = self._judge(step, outcome, store, truth, incumbent, gate, at_before, entry, thresholds)
            kept = (decision is None and outcome.unmet is None) or (decision is not None and decision.kept)
            status = "kept" if kept else "rejected"
            probs = outcome.probs
            if kept:
                provided = {**outcome.provides, **(outcome.ship() if outcome.ship is not None else {})}
        else:
            status = "completed"
            probs, provided = outcome.probs, dict(outcome.provides)
        undeclared = set(provided) - set(step.provides)
        if undeclared:
            raise RuntimeError(f"step {step.name!r} provided undeclared artifacts: {sorted(undeclared)}")
        # The incumbent is the model that would ship: only a step that provides model.current moves it.
        # select's winner fit describes no shipped model; before anything ships (a recipe without
        # baseline), it stands in. A data step's probabilities (relabel's gate learner) never do.
        moved = probs is not None and status != "rejected" and _moves_incumbent(set(provided), incumbent)
        for key, path in provided.items():
            store.put(key, path)
        if moved:
            # float32, like the saved copy, so a resumed run hashes the same incumbent.
            incumbent = np.asarray(probs, dtype=np.float32)
        elif provided and probs is not None:
            entry["candidate"] = truth.score(store, np.asarray(probs, dtype=np.float32), gate.metric, at_before, seed)
        if probs is not None:
            save_probs(manifest.step_dir, probs)
        if isinstance(outcome, Candidate) and outcome.reference is not None:  # what the rule compared against
            save_probs(manifest.step_dir, outcome.reference, REFERENCE_PROBS)
        after = truth.score(store, incumbent, gate.metric, at_after, seed)
        if thresholds:  # how label sets were decided for before/after and for the rule's own comparison
            entry["thresholds"] = thresholds
        entry.update(status=status, after=after, gain=after - before if moved and before is not None else None)
        if decision is not None:
            entry.update(decision_fields(decision))
        if side is not None:
            candidate = outcome.probs if isinstance(outcome, Candidate) else None
            entry[side] = side_fields(
                side_before, *(truth.score(store, p, side, AS_GIVEN, seed) for p in (incumbent, candidate))
            )
        metrics = dict(outcome.metrics)
        for key in LEDGER_METRICS:
            if key in metrics:
                entry[key] = metrics[key]
        entry["seconds"] = time.time() - started  # a kept candidate's ship (a refit) counts too
        manifest.finish(status, provided, metrics, entry, entry["seconds"])
        return entry, incumbent, provided

    def _judge(
        self,
        step: Any,
        outcome: Candidate,
        store: ArtifactStore,
        truth: JudgedTruth,
        incumbent: np.ndarray | None,
        gate: GateParams,
        at_before: str,
        entry: dict[str, Any],
        thresholds: dict[str, str],
    ) -> GateDecision | None:
        """The rule's decision on a candidate (None: nothing to beat yet), with what it was judged against and
        how recorded in ``entry`` and ``thresholds``. A requirement the candidate measured and failed (``unmet``)
        rejects it whatever its accuracy."""
        # No reference of its own: the model that would ship. Before anything ships (select's pick only
        # stands in for the ledger), there is nothing to beat and the candidate is taken.
        shipped = incumbent if store.has("model.current") else None
        reference = outcome.reference if outcome.reference is not None else shipped
        judged = gate
        if outcome.metric is not None and outcome.reference is not None:
            judged = dataclasses.replace(gate, metric=outcome.metric)
            entry["gate_metric"] = judged.metric
        at = SETTLING if getattr(step, "settles_thresholds", False) else at_before
        decision = truth.judge(store, reference, outcome.probs, judged, self.config.seed, outcome.margin, at)
        if truth.tunes(store, judged.metric):
            thresholds["rule"] = at
        if outcome.unmet is not None and decision is not None:
            alone = f"on accuracy alone it would be {decision.reason}"
            decision = dataclasses.replace(decision, kept=False, reason=f"rejected: {outcome.unmet}; {alone}")
        entry["reference_name"] = outcome.reference_name if outcome.reference is not None else "incumbent"
        return decision

    def _thresholds_at(self, index: int) -> str:
        """How label sets are scored from step ``index`` on: at cross-tuned thresholds while a step that settles
        the shipped thresholds (decide) is still to come, then as the model ships them."""
        settles = any(getattr(step, "settles_thresholds", False) for step in self.steps[index:])
        return TUNED if settles else AS_GIVEN

    def _restore(self, previous: Manifest, store: ArtifactStore, incumbent: np.ndarray | None) -> np.ndarray | None:
        if previous.status in ("completed", "kept"):
            provided = previous.provided_paths()
            for key, path in provided.items():
                store.put(key, path)
            probs = load_probs(previous.step_dir)
            if probs is not None and _moves_incumbent(set(provided), incumbent):  # as in _account
                return probs
        return incumbent

    @staticmethod
    def _write_ledger(run_dir: Path, ledger: list[dict[str, Any]]) -> None:
        write_json(run_dir / "ledger.json", ledger)


def _moves_incumbent(provided: set[str], incumbent: np.ndarray | None) -> bool:
    if "model.current" in provided:
        return True
    return incumbent is None and not any(key.startswith("data.") for key in provided)
