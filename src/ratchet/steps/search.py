"""search (gated): Optuna TPE + median pruning over the training hyperparameters of the chosen backbone.

The configured parameters run as the first trial: they are the reference the best trial
is judged against, measured the same way (same seed, same data), so the ratchet rule
compares like with like. When select kept the linear baseline, the search tunes the best
transformer (select's runner-up) instead and the ratchet rule judges it against the
baseline: if kept, it also provides model.backbone, and train fine-tunes that transformer.

Validation data only; the test split is never seen. The study lives in ``search.db`` in
this step's folder (a killed search resumes: finished trials are kept, interrupted ones
are retried), or in a shared ``--storage`` that ``ratchet worker`` processes on other
machines join.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ratchet.artifacts import ArtifactView
from ratchet.config import TrainParams
from ratchet.fsutil import hash_path, read_json, write_json
from ratchet.step import Candidate, Outcome, Skipped, StepContext


@dataclass(frozen=True)
class SearchStepParams:
    model: str
    """Backbone searched when no earlier step (select, adapt) provided model.backbone."""
    train: TrainParams = field(default_factory=TrainParams)
    """The configured parameters: the reference trial and the center of the search space."""
    n_trials: int = 12
    """Trials in the whole study (all workers together), the reference trial included."""
    storage: str | None = None
    """Optuna storage URL; None = SQLite file in this step's folder."""
    small_data: bool = True
    """Search where judging is cross-fitted (small data); False: skip it there (presets.PRESET_SEARCHES_SMALL_DATA)."""


class SearchStep:
    name: ClassVar[str] = "search"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels")
    optional: ClassVar[tuple[str, ...]] = ("data.folds", "data.cleaning", "model.backbone")
    provides: ClassVar[tuple[str, ...]] = ("train.params", "model.backbone")
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.3

    def __init__(self, params: SearchStepParams) -> None:
        self.params = params

    def foreseen_skip(self, artifacts: ArtifactView) -> str | None:
        """Why search will not run: judging is cross-fitted and this search (a preset's) skips small data."""
        from ratchet.crossfit.folds import crossfitted

        if self.params.small_data or not crossfitted(artifacts.maybe("data.folds")):
            return None
        return (
            "judging is cross-fitted (few labeled rows), where the presets do not search: on 600-row data sets "
            "search never beat the configured parameters; name search in --steps to run it anyway"
        )

    def run(self, ctx: StepContext) -> Outcome:
        from ratchet.fewshot.shipping import picked_fewshot
        from ratchet.steps.train import resolved_backbone

        small_data = self.foreseen_skip(ctx.artifacts)
        if small_data is not None:
            return Skipped(small_data)
        if picked_fewshot(ctx.artifacts.maybe("model.backbone")) is not None:
            return Skipped("select picked the few-shot candidate: search tunes a standard fine-tune's parameters")
        backbone = resolved_backbone(ctx, self.params.model)
        challenger = backbone == "linear"
        if challenger:
            # The baseline won select against the configured parameters; tune the best transformer
            # and let the ratchet rule compare it with the baseline (the incumbent) instead.
            backbone = _runner_up(ctx)
            if backbone is None:
                return Skipped("select picked the linear baseline and no transformer was measured")
        if self.params.n_trials < 2:
            return Skipped(f"search.n_trials={self.params.n_trials}: need the reference and one more trial")
        left = ctx.time_left()
        if left is not None and left <= 0:
            return Skipped("the time budget was spent before the search could start")
        study, runner, metrics = self._search(ctx, backbone, challenger)
        return self._judge(ctx, study, runner, metrics, backbone, challenger)

    def _search(self, ctx: StepContext, backbone: str, challenger: bool) -> tuple[Any, Any, dict[str, Any]]:
        """Open (or resume) the study, run this process's trials, close it -> (study, trial runner, metrics)."""
        import optuna

        from ratchet.finetuning.finetune import fit_supports_hook
        from ratchet.search import study as st
        from ratchet.search.objective import build_runner
        from ratchet.search.worker import run_trials, trial_data, wait_for_others

        crossfit = ctx.crossfit
        spec, url = self._study_spec(ctx, backbone)
        name, local = spec.study_name, self.params.storage is None
        data = trial_data(ctx.run_dir, spec)
        # Trial-by-trial INFO lines would break the progress display; the manifest has the history.
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = st.open_storage(url)
        previous = _trial_count(storage, name)
        # A resumed search samples with a fresh seed so it does not replay its random start-up points.
        study = st.open_study(storage, spec, process_seed=ctx.seed * 1_000_003 + previous)
        recovered = st.recover_local(study) if local else 0
        if not challenger:
            # (A challenger needs no reference: select already measured the configured parameters.)
            st.ensure_reference(study)
        if st.finished_count(study) < self.params.n_trials:
            st.reopen(study)
        spec.save(ctx.step_dir)  # workers wait for this file: write it once the study is ready

        folds = crossfit.plan.k if crossfit.crossfit else 1
        trials_until = trials_deadline(ctx.deadline, folds, self.params.n_trials, finalists=1 if challenger else 2)
        runner = build_runner(
            backbone, data, self.params.train, device=ctx.device, seed=ctx.seed,
            workdir=ctx.step_dir, deadline=trials_until, cache=ctx.fit_cache,
        )  # fmt: skip
        ctx.log.info("search: %s, %d trials, storage %s", backbone, self.params.n_trials, spec.storage)
        with ctx.progress.bar("search", total=self.params.n_trials) as bar:
            bar.advance(st.finished_count(study))
            ran = run_trials(
                study, runner, n_trials=self.params.n_trials, deadline=trials_until, on_trial=lambda: bar.advance(1)
            )
        if not local:
            wait_for_others(study, ctx.deadline)
        st.close(study)
        metrics = {
            **st.summarize(study),
            "backbone": backbone,
            "storage": spec.storage,
            "trials_this_process": ran,
            "trials_before_resume": previous,
            "recovered_trials": recovered,
            "length_options": runner.length_options,
            "live_pruning": fit_supports_hook(),
        }
        return study, runner, metrics

    def _judge(
        self, ctx: StepContext, study: Any, runner: Any, metrics: dict[str, Any], backbone: str, challenger: bool
    ) -> Outcome:
        """The best trial as a candidate against the configured parameters (a challenger: against the incumbent),
        each measured on the judged rows the trials did not choose on."""
        from ratchet.search import study as st
        from ratchet.search.objective import load_trial_probs

        crossfit = ctx.crossfit
        reference = st.reference_trial(study)
        best = st.best_trial(study)
        if best is None or (reference is None and not challenger):
            what = "no trial" if challenger else "the reference trial (configured parameters)"
            return Skipped(f"{what} did not finish within the time budget", metrics)

        finalists: dict[str, dict] = {}

        def probs_of(trial, role: str, time_share: float) -> np.ndarray:
            if crossfit.crossfit:
                fit = self._finalist(ctx, crossfit, backbone, trial, time_share)
                finalists[role] = fit.summary()
                return fit.probs
            found = load_trial_probs(ctx.step_dir, metrics["study_name"], trial.number)
            # A trial run by a worker on another machine left its probabilities there: refit here.
            return found if found is not None else runner.refit(trial.user_attrs.get("overrides") or {})

        metrics.update(
            reference_value=None if reference is None else reference.value, best_value=best.value,
            challenger=challenger,
        )  # fmt: skip
        provides = {"train.params": ctx.step_dir / "train_params.json"}
        write_json(provides["train.params"], dict(best.user_attrs.get("overrides") or {}))
        if challenger:
            # Kept only if the tuned transformer beats the baseline: then train fine-tunes it.
            provides["model.backbone"] = ctx.step_dir / "backbone.json"
            write_json(provides["model.backbone"], {"model": backbone})
        if crossfit.crossfit:
            metrics["finalists_judged_on"] = (
                f"folds 2-{crossfit.plan.k} (the first fold chose them): {crossfit.plan.n_judged} rows minus fold 1's"
            )
        # Against the configured parameters as measured here; a challenger faces the incumbent. Under a budget
        # the best trial's folds may use half the time left, so the reference's folds get the other half.
        candidate_probs = probs_of(best, "best trial", 1.0 if challenger else 0.5)
        reference_probs = None if challenger else probs_of(reference, "configured parameters", 1.0)
        if finalists:
            metrics["finalists"] = finalists
        cut = [role for role, fit in finalists.items() if fit.get("cut_by_deadline")]
        if cut:
            # A fit stopped mid-schedule (its learning rate still high) is not the recipe: judging it would
            # report a loss the parameters did not cause.
            return Skipped(f"the time budget stopped the {' and '.join(cut)} folds mid-schedule: no fair comparison",
                           metrics)  # fmt: skip
        return Candidate(
            probs=candidate_probs,
            provides=provides,
            metrics=metrics,
            reference=reference_probs,
            reference_name="configured parameters",
        )

    def _study_spec(self, ctx: StepContext, backbone: str) -> tuple[Any, str]:
        """The study's spec (what workers read: data files, base parameters, seed) and its storage URL. The
        study's name hashes the data it is fitted on, so a changed data set never resumes an old study."""
        from ratchet.search import study as st

        paths = {key: ctx.artifacts.get(key) for key in ("data.train", "data.valid", "data.labels")}
        crossfit = ctx.crossfit.crossfit
        folds_path = ctx.artifacts.maybe("data.folds") if crossfit else None
        cleaning_path = ctx.artifacts.maybe("data.cleaning") if crossfit else None
        for key, path in (("data.folds", folds_path), ("data.cleaning", cleaning_path)):
            if path is not None:
                paths[key] = path
        base = dataclasses.asdict(self.params.train)
        name = st.study_name_for(backbone, {k: hash_path(p) for k, p in paths.items()}, base, ctx.seed)
        local = self.params.storage is None
        url = f"sqlite:///{(ctx.step_dir / 'search.db').resolve()}" if local else str(self.params.storage)
        spec = st.StudySpec(
            study_name=name,
            backbone=backbone,
            train=_relative(paths["data.train"], ctx.run_dir),
            valid=_relative(paths["data.valid"], ctx.run_dir),
            labels=_relative(paths["data.labels"], ctx.run_dir),
            base_params=base,
            n_trials=self.params.n_trials,
            seed=ctx.seed,
            # TPE needs a few random points first; about a third of the budget, at least 3.
            n_startup_trials=max(3, self.params.n_trials // 3),
            storage=st.redact(url),
            folds=None if folds_path is None else _relative(folds_path, ctx.run_dir),
            cleaning=None if cleaning_path is None else _relative(cleaning_path, ctx.run_dir),
        )
        return spec, url

    def _finalist(self, ctx: StepContext, crossfit, backbone: str, trial, time_share: float):
        """A trial's parameters cross-fitted on every fold but the first, whose held-out rows chose among the
        trials: judging there would flatter the winner (the first fold's rows stay NaN, for both sides)."""
        from ratchet.search import space

        params = space.apply(self.params.train, dict(trial.user_attrs.get("overrides") or {}))
        return crossfit.transformer(backbone, params, seed=ctx.seed, name=f"trial{trial.number}", skip_folds=(0,),
                                    refit_reserve=False, time_share=time_share)  # fmt: skip


def trials_deadline(deadline: float | None, folds: int, n_trials: int, finalists: int = 2) -> float | None:
    """When the trials must stop. Cross-fitted under a budget, the ``finalists`` (the best trial, and the configured
    parameters unless the search is a challenger) are then fitted on ``folds`` - 1 folds each, and a fold fit costs
    about a trial (one fold's training part): the trials get n_trials / (n_trials + finalists (folds - 1)) of the
    time left, the finalists the rest.
    Without that reserve (a TREC run of the balanced preset under 30 minutes) the finalists ran 1 of 4 folds and
    the best trial was cut mid-schedule, so the comparison was no fair one."""
    if deadline is None or folds <= 1:
        return deadline
    share = n_trials / (n_trials + finalists * (folds - 1))
    now = time.time()
    return now + max(deadline - now, 0.0) * share


def _relative(path: Path, run_dir: Path) -> str:
    return str(Path(path).resolve().relative_to(Path(run_dir).resolve()))


def _runner_up(ctx: StepContext) -> str | None:
    path = ctx.artifacts.maybe("model.backbone")
    return None if path is None else read_json(path).get("runner_up")


def _trial_count(storage, study_name: str) -> int:
    try:
        return storage.get_n_trials(storage.get_study_id_from_name(study_name))
    except KeyError:
        return 0
