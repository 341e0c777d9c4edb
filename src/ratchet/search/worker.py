"""Running trials until the study is full, closed or out of time - in the run, and in ``ratchet worker``.

``ratchet worker RUN --storage URL`` joins the search of a run started with the same
``--storage``: it reads ``RUN/steps/NN-search/study.json`` (written when the search
starts; the worker waits for it) and RUN's data, so on another machine RUN must be a
copy or a shared mount, and the backbone must resolve there too.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState

from ratchet.config import TrainParams
from ratchet.data.frames import read_labels, read_split
from ratchet.errors import RatchetError
from ratchet.finetuning.finetune import TaskData, release_memory
from ratchet.search import study as st
from ratchet.search.objective import TrialRunner, build_runner

log = logging.getLogger("ratchet")

POLL_S = 2.0


def _catchable() -> tuple[type[BaseException], ...]:
    """A trial that runs out of GPU memory (a large batch) fails alone; the search goes on."""
    import torch

    return (torch.cuda.OutOfMemoryError,)


def run_trials(
    study: optuna.Study,
    runner: TrialRunner,
    *,
    n_trials: int,
    deadline: float | None = None,
    max_trials: int | None = None,
    on_trial=None,
) -> int:
    """Run trials one at a time until ``n_trials`` are finished or started in the whole study.

    Before each trial the time left is compared with the median trial so far: a trial that
    would surely be cut by the deadline is not started (its compute would be wasted). Nor is any
    trial once the configured parameters' trial was lost: nothing could judge it.
    """
    done = 0
    durations: list[float] = []
    surplus: list[bool] = []
    objective = _guarded(runner, n_trials, surplus)
    while True:
        active = len(study.get_trials(deepcopy=False, states=(*st.FINISHED, TrialState.RUNNING)))
        if active >= n_trials or st.is_closed(study) or (max_trials is not None and done >= max_trials):
            break
        if st.reference_lost(study):
            log.info("search: the configured parameters' trial did not finish: no trial could be judged, stopping")
            break
        if deadline is not None:
            left = deadline - time.time()
            if left <= 0 or (durations and left < 0.5 * statistics.median(durations)):
                log.info("search: time budget reached after %d trial(s) in this process", done)
                break
        started = time.time()
        runner.trials_left = max(1, n_trials - active)  # under a budget, each trial plans for its share
        study.optimize(objective, n_trials=1, catch=(*_catchable(), SurplusTrial))
        release_memory()  # here, once the trial (and a pruned trial's traceback) is gone
        if surplus:  # another process took the study's last trial at the same moment
            break
        durations.append(time.time() - started)
        done += 1
        if on_trial is not None:
            on_trial()
    return done


class SurplusTrial(Exception):
    """Raised by a trial created after the study already had its ``n_trials`` (recorded as failed)."""


def _guarded(runner: TrialRunner, n_trials: int, surplus: list[bool]):
    """The objective, unless this trial is one too many.

    Two processes can both see n_trials - 1 trials and start one each. Trial numbers are
    handed out by the storage one at a time, so the trial with more than n_trials live or
    finished trials numbered before it is the extra one: it ends at once, marked "surplus".
    """

    def objective(trial: optuna.trial.Trial) -> float:
        states = (*st.FINISHED, TrialState.RUNNING)
        earlier = sum(t.number < trial.number for t in trial.study.get_trials(deepcopy=False, states=states))
        if earlier >= n_trials:
            surplus.append(True)
            trial.set_user_attr(st.SURPLUS_ATTR, True)
            raise SurplusTrial(f"the study already has {n_trials} trials")
        return runner(trial)

    return objective


def wait_for_others(study: optuna.Study, deadline: float | None) -> None:
    """Let trials that workers are still running finish (dead workers' trials fail by heartbeat)."""
    while study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if deadline is not None and time.time() > deadline:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        time.sleep(POLL_S)


def search_state(run_dir: Path) -> tuple[str, Path | None]:
    """("no-search" | "finished" | "started" | "pending", the study spec if written) from RUN's own files."""
    from ratchet.config import RunConfig
    from ratchet.manifest import DONE_STATES, Manifest, step_dir_name
    from ratchet.recipe import recipe_names

    config = RunConfig.from_yaml(run_dir / "config.yaml")
    names = recipe_names(config)
    if "search" not in names:
        return "no-search", None
    step_dir = run_dir / "steps" / step_dir_name(names.index("search"), "search")
    manifest = Manifest.load(step_dir)
    if manifest is not None and manifest.status in DONE_STATES:
        return "finished", None
    spec = step_dir / st.SPEC_FILE
    return ("started", spec) if spec.is_file() else ("pending", None)


def find_spec(run_dir: Path, wait_s: float) -> Path:
    """The running search's study spec; fails at once when there is none to wait for.

    Waiting makes sense only while the run is alive and its search has not started yet (the
    worker was started beside ``ratchet run``); a finished search, a recipe without one or a run
    that is not running are reported at once.
    """
    from ratchet.runlock import holder_of, is_locked

    until = time.time() + wait_s
    told = False
    while True:
        state, spec = search_state(run_dir)
        if state == "started" and spec is not None:
            return spec
        if state == "no-search":
            raise RatchetError(
                f"the recipe of {run_dir} has no search step: nothing to join; start a run with "
                "--preset balanced or best (or --steps naming search) and --storage URL"
            )
        if state == "finished":
            raise RatchetError(
                f"the search of {run_dir} has finished: nothing to join; start a new run to search again"
            )
        if not is_locked(run_dir):
            raise RatchetError(
                f"{run_dir} is not running, so its search will not start: start it (or --resume it) with "
                "--storage URL, then start the worker"
            )
        if not told:
            log.warning("worker: waiting up to %.0f s for the search of %s (%s)", wait_s, run_dir, holder_of(run_dir))
            told = True
        if time.time() >= until:
            raise RatchetError(
                f"no search has started in {run_dir} within {wait_s:.0f} s (no steps/*-search/{st.SPEC_FILE}): "
                "start the worker once the run has reached its search step"
            )
        time.sleep(POLL_S)


def trial_data(run_dir: Path, spec: st.StudySpec) -> TaskData:
    """The rows trials fit and are scored on: train -> valid, or the first fold of a cross-fitted plan."""
    from ratchet.crossfit.folds import FoldPlan
    from ratchet.data.frames import Split

    train, valid = read_split(run_dir / spec.train), read_split(run_dir / spec.valid)
    labels = read_labels(run_dir / spec.labels)
    if spec.folds is None:
        return TaskData(train, valid, labels)
    from ratchet.crossfit import cleaning

    pool = Split.concat(train, valid)
    first = next(FoldPlan.load(run_dir / spec.folds).splits())
    changes = cleaning.load(None if spec.cleaning is None else run_dir / spec.cleaning)
    rows = cleaning.apply(pool, first.train, cleaning.fold_entry(changes, first.fold))
    return TaskData(rows, pool.subset(first.judged), labels)


def run_worker(run_dir: str | Path, storage_url: str, max_trials: int | None = None, wait_s: float = 600.0) -> int:
    """Join the run's study through ``storage_url`` and run trials until it is done -> trials run here."""
    from ratchet.devices import resolve_device
    from ratchet.rundir import require_run_dir
    from ratchet.runlock import is_locked, worker_lock

    run_dir = require_run_dir(run_dir)
    state, _ = search_state(run_dir)
    if state != "started" and not (state == "pending" and is_locked(run_dir)):
        find_spec(run_dir, 0)  # says why, before anything is written to the storage or the run folder
    storage = st.open_storage(storage_url)  # a bad URL or an unreachable database fails now, not in 10 minutes
    with worker_lock(run_dir):  # shared: no --overwrite can wipe the folder under this worker
        spec_path = find_spec(run_dir, wait_s)
        spec = st.StudySpec.load(spec_path)
        if st.redact(storage_url) != spec.storage:
            raise RatchetError(
                f"the search in {run_dir} uses storage {spec.storage}, not {st.redact(storage_url)}: "
                "pass the same --storage URL the run was started with"
            )
        data = trial_data(run_dir, spec)
        # Its own sampler seed: two workers must not propose the same start-up points.
        study = st.open_study(storage, spec, process_seed=spec.seed * 100_003 + os.getpid())
        runner = build_runner(
            spec.backbone, data, TrainParams(**spec.base_params), device=resolve_device("auto"),
            seed=spec.seed, workdir=spec_path.parent, deadline=None,
        )  # fmt: skip
        log.info("worker: joined %s (%d/%d trials finished)", spec.study_name, st.finished_count(study), spec.n_trials)
        return run_trials(study, runner, n_trials=spec.n_trials, max_trials=max_trials)
