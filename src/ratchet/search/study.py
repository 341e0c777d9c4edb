"""The Optuna study: storage, a stable name, recovery of interrupted trials, and its summary.

The study name is a hash of everything that defines the search (backbone, data, base
parameters, seed), so a resumed run - or a worker on another machine - opens the same
study, and completed trials are never run again. Interrupted trials are failed and
re-enqueued with the same parameters (their checkpoints let them resume mid-training).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from ratchet.errors import RatchetError
from ratchet.fsutil import hash_json, read_json, write_json

log = logging.getLogger("ratchet")

SPEC_FILE = "study.json"
HEARTBEAT_S = 10
"""Running trials write a heartbeat this often; one silent for GRACE_S is taken as dead (a killed worker)."""
GRACE_S = 60
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
CLOSED_ATTR = "closed"
SURPLUS_ATTR = "surplus"


@dataclass(frozen=True)
class StudySpec:
    """What a worker needs to join a search: written to ``steps/NN-search/study.json``."""

    study_name: str
    backbone: str
    train: str
    """Paths relative to the run folder, so a copied run folder works on another machine."""
    valid: str
    labels: str
    base_params: dict[str, Any]
    n_trials: int
    seed: int
    n_startup_trials: int
    storage: str
    """The storage URL with any password hidden: a worker must be given the same one."""
    folds: str | None = None
    """Cross-fitted runs: the fold plan (relative path); trials then fit the first fold's training rows and
    are scored on its held-out rows, in the run and in every worker."""
    cleaning: str | None = None
    """A kept cross-fitted relabel's changes (relative path): the first fold's training rows get them."""

    def save(self, step_dir: Path) -> None:
        write_json(step_dir / SPEC_FILE, dataclasses.asdict(self))

    @classmethod
    def load(cls, path: Path) -> StudySpec:
        return cls(**read_json(path))


def study_name_for(backbone: str, data_hashes: dict[str, str], base_params: dict[str, Any], seed: int) -> str:
    digest = hash_json({"backbone": backbone, "data": data_hashes, "params": base_params, "seed": seed})
    return f"ratchet-search-{digest[:16]}"


def open_storage(url: str) -> RDBStorage:
    """An RDB storage with heartbeats, so trials of a killed process are detected and retried."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Several processes may share one SQLite file on one machine: wait for locks, don't fail.
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: stable since 2.9
            return RDBStorage(
                with_installed_driver(url),
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=_retry(),
                **kwargs,
            )
    except ImportError as exc:
        raise RatchetError(f"storage {url.split(':')[0]} needs a database driver ({exc}): pip install it") from None
    except Exception as exc:  # sqlalchemy.exc.OperationalError and friends: unreachable, bad credentials
        raise RatchetError(f"cannot open Optuna storage {redact(url)} ({type(exc).__name__}): check the URL") from None


def with_installed_driver(url: str) -> str:
    """``postgresql://`` means psycopg 3 to SQLAlchemy 2.1; use psycopg2 when only that is installed."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or not sep:
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2://{rest}"
    return f"postgresql://{rest}"


def _retry() -> RetryHeartbeatStaleTrialCallback:
    """Re-enqueue a dead trial's parameters (at most twice: a trial that kills its process stops there)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback(max_retry=2)


def redact(url: str) -> str:
    """Hide a password in a storage URL before it reaches a message or a file."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def open_study(storage: RDBStorage, spec: StudySpec, process_seed: int) -> optuna.Study:
    """Create or load the study. Each process samples with its own seed (a resumed run included),
    so workers and a resumed search do not propose the random start-up points again."""
    sampler = optuna.samplers.TPESampler(seed=process_seed, n_startup_trials=spec.n_startup_trials)
    # A trial is compared with earlier ones at the same evaluation from its second evaluation on
    # (MedianPruner counts steps from 1 here): the first is too noisy (warmup, few steps) to judge.
    pruner = optuna.pruners.MedianPruner(n_startup_trials=max(2, spec.n_startup_trials // 2), n_warmup_steps=2)
    return optuna.create_study(
        study_name=spec.study_name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction="maximize",
        load_if_exists=True,
    )


def recover_local(study: optuna.Study) -> int:
    """Fail and re-enqueue every RUNNING trial: with the run's own SQLite file, they died with us.

    (Shared storages rely on heartbeats instead: a RUNNING trial there may belong to a live worker.)
    """
    storage = study._storage
    retry = _retry()
    recovered = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        try:
            storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        retry(study, storage.get_trial(trial._trial_id))
        recovered += 1
    if recovered:
        log.info("search: %d interrupted trial(s) re-enqueued with their parameters", recovered)
    return recovered


def ensure_reference(study: optuna.Study) -> None:
    """Enqueue the configured parameters as a trial (once): the incumbent the search must beat."""
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("reference"):
            return
    study.enqueue_trial({}, user_attrs={"reference": True})


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def is_closed(study: optuna.Study) -> bool:
    return bool(study.user_attrs.get(CLOSED_ATTR))


def reopen(study: optuna.Study) -> None:
    """A closed study that still lacks trials (n_trials was raised) takes trials again."""
    if is_closed(study):
        study.set_user_attr(CLOSED_ATTR, None)


def close(study: optuna.Study) -> None:
    """Tell workers the search is over (budget spent or enough trials) so they stop taking trials."""
    study.set_user_attr(CLOSED_ATTR, time.time())


def summarize(study: optuna.Study) -> dict[str, Any]:
    """Best trial, the full history and parameter importances, JSON-able for the step manifest."""
    # A surplus trial (two processes raced for the last one) never ran: it is not part of the search.
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(SURPLUS_ATTR)]
    history = []
    for t in trials:
        history.append({
            "number": t.number,
            "state": t.state.name.lower(),
            "value": t.value,
            "reference": bool(t.user_attrs.get("reference")),
            "params": t.params,
            "intermediate": [t.intermediate_values[k] for k in sorted(t.intermediate_values)],
            "seconds": t.user_attrs.get("seconds"),
            "worker": t.user_attrs.get("worker"),
            "memory": t.user_attrs.get("memory"),
            "note": t.user_attrs.get("note"),
            "reused_fit": bool(t.user_attrs.get("reused_fit")),
        })  # fmt: skip
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = best_trial(study)
    summary: dict[str, Any] = {
        "study_name": study.study_name,
        "n_complete": len(complete),
        "n_pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "n_failed": sum(t.state == TrialState.FAIL for t in trials),
        "best": None
        if best is None
        else {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "overrides": best.user_attrs.get("overrides"),
        },
        "history": history,
        "importances": importances(study),
    }
    return summary


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The best complete trial; ties go to the earliest (the reference, then older trials)."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        return None
    return max(complete, key=lambda t: (t.value, -t.number))


def reference_lost(study: optuna.Study) -> bool:
    """The configured parameters' trial ended without a score (stopped by the budget, failed) and none waits to
    run again: no other trial can be judged, so running more would waste the step's time."""
    references = [trial for trial in study.get_trials(deepcopy=False) if trial.user_attrs.get("reference")]
    return bool(references) and all(t.state in (TrialState.PRUNED, TrialState.FAIL) for t in references)


def reference_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if trial.user_attrs.get("reference"):
            return trial
    return None


def importances(study: optuna.Study) -> dict[str, float]:
    """fANOVA importances over complete sampled trials; empty when there are too few to say."""
    sampled = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.params]
    if len(sampled) < 3 or len({t.value for t in sampled}) < 2:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "some regimes have < 2 trials": expected with few trials
            found = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError) as exc:
        log.info("search: no parameter importances (%s)", exc)
        return {}
    return {name: float(value) for name, value in found.items()}
