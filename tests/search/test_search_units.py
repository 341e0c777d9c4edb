"""Search building blocks without training: the space, pruning decisions, study naming and recovery."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from ratchet.config import TrainParams
from ratchet.search import space
from ratchet.search import study as st
from ratchet.search.pruning import PruningReporter

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_suggestions_are_valid_train_params_around_the_configured_ones() -> None:
    base = TrainParams(learning_rate=1e-4, epochs=4, batch_size=16, max_tokens=4096)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        overrides = space.suggest(trial, base, [64, 128])
        params = space.apply(base, overrides)  # TrainParams.__post_init__ validates every field
        assert 2e-5 <= params.learning_rate <= 5e-4
        assert 2 <= params.epochs <= 8
        assert params.batch_size * params.grad_accum in space.EFFECTIVE_BATCHES
        assert params.batch_size <= base.batch_size
        assert params.max_length in (64, 128) and params.max_tokens >= params.max_length
        assert 0 <= params.dropout <= 0.3 and 0 <= params.label_smoothing <= 0.2
        study.tell(trial, 0.5)
    # The nine knobs of the issue are all searched.
    assert set(study.trials[0].params) == {
        "learning_rate", "epochs", "effective_batch_size", "warmup_share", "weight_decay",
        "dropout", "max_length", "label_smoothing", "class_weighted",
    }  # fmt: skip


def test_length_choices_stop_at_the_rung_that_holds_the_texts() -> None:
    lengths = np.array([20] * 90 + [100] * 10)
    assert space.length_choices(lengths, 256, 512) == [64, 128]
    assert space.length_choices(lengths, 32, 512) == [32, 64, 128]  # the configured value stays
    assert space.length_choices(np.array([600] * 10), 256, 128) == [64, 128]  # the model's limit wins
    assert space.epoch_range(1.0) == (1, 2)


def test_a_trial_below_the_median_is_pruned_from_its_second_evaluation() -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(2, n_warmup_steps=2))
    for curve in ([0.5, 0.7, 0.8], [0.5, 0.6, 0.7]):
        trial = study.ask()
        reporter = PruningReporter(trial)
        reporter.replay([{"valid_macro_f1": v} for v in curve])
        study.tell(trial, curve[-1])

    bad = study.ask()
    reporter = PruningReporter(bad)
    reporter({"valid_macro_f1": 0.1})  # the first evaluation is never judged
    with pytest.raises(optuna.TrialPruned):
        reporter({"valid_macro_f1": 0.2})
    assert reporter.pruned_at == 2
    study.tell(bad, state=optuna.trial.TrialState.PRUNED)

    reference = study.ask()
    keep = PruningReporter(reference, prune=False)
    keep.replay([{"valid_macro_f1": 0.1}, {"valid_macro_f1": 0.1}, {"valid_macro_f1": 0.1}])
    assert keep.pruned_at is None and keep.reported == 3
    assert reference.storage.get_trial(reference._trial_id).intermediate_values == {1: 0.1, 2: 0.1, 3: 0.1}


def test_replay_reports_only_what_the_live_hook_missed() -> None:
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    reporter = PruningReporter(trial, prune=False)
    history = [{"valid_macro_f1": 0.3}, {"valid_macro_f1": 0.4}]
    reporter(history[0])
    reporter.replay(history)
    assert reporter.reported == 2


def test_study_name_is_stable_and_depends_on_the_inputs() -> None:
    base = {"learning_rate": 1e-4}
    name = st.study_name_for("m", {"data.train": "aa"}, base, 0)
    assert name == st.study_name_for("m", {"data.train": "aa"}, dict(base), 0)
    assert name != st.study_name_for("m", {"data.train": "ab"}, base, 0)
    assert name != st.study_name_for("m", {"data.train": "aa"}, base, 1)


def test_storage_urls_are_redacted() -> None:
    assert st.redact("postgresql://bob:secret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert st.redact("postgresql://bob@db/x") == "postgresql://bob@db/x"
    assert st.redact("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


def spec(name: str = "s") -> st.StudySpec:
    return st.StudySpec(name, "m", "t", "v", "l", {}, 4, 0, 3, "sqlite://")


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # ask() stands in for optimize() here
def test_interrupted_local_trials_are_failed_and_retried_with_their_parameters(tmp_path) -> None:
    storage = st.open_storage(f"sqlite:///{tmp_path / 'search.db'}")
    study = st.open_study(storage, spec(), process_seed=0)
    st.ensure_reference(study)
    st.ensure_reference(study)  # once only
    done = study.ask()
    study.tell(done, 0.5)
    crashed = study.ask()
    crashed.suggest_float("learning_rate", 1e-5, 1e-3)
    # A second process (a resumed run) opens the same study and recovers the dead trial.
    again = st.open_study(st.open_storage(f"sqlite:///{tmp_path / 'search.db'}"), spec(), process_seed=1)
    assert st.recover_local(again) == 1
    states = [t.state for t in again.trials]
    assert states[:2] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    retry = again.trials[-1]
    assert retry.state == optuna.trial.TrialState.WAITING
    assert retry.params == crashed.params
    assert st.finished_count(again) == 1
    assert st.reference_trial(again).number == done.number == 0  # ask() takes the enqueued reference first


def test_closed_studies_stop_workers_until_reopened(tmp_path) -> None:
    study = st.open_study(st.open_storage(f"sqlite:///{tmp_path / 's.db'}"), spec(), process_seed=0)
    assert not st.is_closed(study)
    st.close(study)
    assert st.is_closed(study)
    st.reopen(study)
    assert not st.is_closed(study)


def test_the_trial_one_past_n_trials_is_surplus_and_left_out_of_the_history() -> None:
    # Two processes both saw one free slot: the storage numbered their trials 1 and 2, so trial 2 is extra.
    from ratchet.search.worker import SurplusTrial, _guarded

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.5))
    racing, late = study.ask(), study.ask()  # both RUNNING
    calls: list[int] = []

    def runner(trial: optuna.trial.Trial) -> float:
        calls.append(trial.number)
        return 0.6

    flag: list[bool] = []
    assert _guarded(runner, 2, flag)(racing) == 0.6 and not flag
    with pytest.raises(SurplusTrial):
        _guarded(runner, 2, flag)(late)
    assert flag == [True] and calls == [racing.number]
    study.tell(racing, 0.6)
    study.tell(late, state=optuna.trial.TrialState.FAIL)
    assert [entry["number"] for entry in st.summarize(study)["history"]] == [0, 1]


def test_cross_fitted_trials_leave_the_finalists_their_folds_of_the_budget() -> None:
    """12 trials and two finalists of 4 folds each (k=5): the trials get 12/20 of the time left; a challenger (one
    finalist) 12/16; without a budget, or judged on a holdout split (no finalist fits), the step's own deadline."""
    import time

    from ratchet.steps.search import trials_deadline

    now = time.time()
    deadline = now + 1000.0
    assert trials_deadline(deadline, 5, 12) - now == pytest.approx(600.0, abs=2.0)
    assert trials_deadline(deadline, 5, 12, finalists=1) - now == pytest.approx(750.0, abs=2.0)
    assert trials_deadline(deadline, 1, 12) == deadline
    assert trials_deadline(None, 5, 12) is None
    assert trials_deadline(now - 5.0, 5, 12) == pytest.approx(now, abs=2.0)  # spent: the trials stop at once


def _fake_finetune(deadlines: list[float | None], stopped: set[int]):
    """finetune as the trial runner calls it: records each trial's deadline; the calls in ``stopped`` were cut by
    the budget."""
    from types import SimpleNamespace

    def finetune(backbone, data, params, *, deadline, **kwargs):
        deadlines.append(deadline)
        cut = len(deadlines) - 1 in stopped
        return SimpleNamespace(plan=None, reused=False, stopped_by_deadline=cut, history=[], steps=3,
                               valid_probs=np.full((4, 3), 1 / 3), best_score=0.5, telemetry={})  # fmt: skip

    return finetune


def _runner(tmp_path, window_s: float):
    import time

    from ratchet.search.objective import TrialRunner

    return TrialRunner(backbone="tiny", data=None, base=TrainParams(), length_options=[64], device="cpu", seed=0,
                       workdir=tmp_path, deadline=time.time() + window_s)  # fmt: skip


def test_the_configured_parameters_may_use_the_whole_trial_window_a_sampled_trial_its_share(
    monkeypatch, tmp_path
) -> None:
    import time

    from ratchet.search import objective
    from ratchet.search.worker import run_trials

    deadlines: list[float | None] = []
    monkeypatch.setattr(objective, "finetune", _fake_finetune(deadlines, stopped=set()))
    study = optuna.create_study(direction="maximize")
    st.ensure_reference(study)
    runner = _runner(tmp_path, 300.0)
    assert run_trials(study, runner, n_trials=2, deadline=runner.deadline) == 2
    assert deadlines[0] == runner.deadline  # the reference: the whole window
    assert deadlines[1] - time.time() == pytest.approx(300.0, abs=5.0)  # the last trial: all that is left
    runner.trials_left = 30
    assert runner.trial_deadline() - time.time() == pytest.approx(10.0, abs=1.0)  # one of 30: a thirtieth
    assert runner.trial_deadline(reference=True) == runner.deadline


def test_once_the_budget_stopped_the_configured_parameters_no_more_trials_run(monkeypatch, tmp_path) -> None:
    from ratchet.search import objective
    from ratchet.search.worker import run_trials

    deadlines: list[float | None] = []
    monkeypatch.setattr(objective, "finetune", _fake_finetune(deadlines, stopped={0}))
    study = optuna.create_study(direction="maximize")
    st.ensure_reference(study)
    runner = _runner(tmp_path, 300.0)
    assert run_trials(study, runner, n_trials=30, deadline=runner.deadline) == 1
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.PRUNED]
    assert st.reference_lost(study) and st.reference_trial(study) is None
    # A challenger's study has no reference trial: nothing is lost, its trials run.
    challenger = optuna.create_study(direction="maximize")
    assert not st.reference_lost(challenger)
    monkeypatch.setattr(objective, "finetune", _fake_finetune([], stopped=set()))
    assert run_trials(challenger, runner, n_trials=3, deadline=runner.deadline) == 3
