"""train.min_steps: a schedule too short for small data is stretched, its evaluations spread over it alike."""

import numpy as np
import pytest
from tiny_fixtures import FAST_FIT

from ratchet.config import TrainParams
from ratchet.crossfit.results import CrossFit, FoldFit
from ratchet.errors import RatchetError
from ratchet.training.loop import fit
from ratchet.training.schedule import fixed_epochs, schedule_of, with_epochs


def test_epochs_that_give_enough_steps_are_left_as_they_are() -> None:
    schedule = schedule_of(TrainParams(epochs=5.0, min_steps=100), batches_per_epoch=40, group=1)
    assert (schedule.steps, schedule.configured_steps, schedule.stretched) == (200, 200, False)
    assert schedule.evaluations_per_batch == pytest.approx(1 / 40) and schedule.epochs == pytest.approx(5.0)


def test_a_short_schedule_is_stretched_and_keeps_its_number_of_evaluations() -> None:
    params = TrainParams(epochs=5.0, min_steps=300, evals_per_epoch=2)
    schedule = schedule_of(params, batches_per_epoch=12, group=1)
    assert (schedule.steps, schedule.configured_steps, schedule.stretched) == (300, 60, True)
    assert schedule.epochs == pytest.approx(25.0)
    assert schedule.evaluations_per_batch * schedule.steps == pytest.approx(10.0)  # 5 epochs x 2, as configured
    grouped = schedule_of(params, batches_per_epoch=12, group=2)  # two micro-batches to an optimizer step
    assert (grouped.steps, grouped.configured_steps) == (300, 30) and grouped.epochs == pytest.approx(50.0)
    assert grouped.evaluations_per_batch * grouped.steps * 2 == pytest.approx(10.0)


def test_a_share_of_the_schedule_scales_the_floor_and_a_decided_length_drops_it() -> None:
    params = TrainParams(epochs=4.0, min_steps=400)
    assert with_epochs(params, 1.0) == TrainParams(epochs=1.0, min_steps=100)
    assert with_epochs(params, 8.0).min_steps == 800
    whole = TrainParams(epochs=1, min_steps=400)  # int epochs, as an override may give them
    assert with_epochs(whole, 1.0) is whole  # unchanged, so the run's fit cache still knows the fit
    assert fixed_epochs(params, 13.5) == TrainParams(epochs=13.5, min_steps=0)
    with pytest.raises(RatchetError, match=r"train\.min_steps"):
        TrainParams(min_steps=-1)


def test_a_fit_trains_min_steps_with_as_many_evaluations_as_its_epochs(task, tmp_path) -> None:
    t = task(n_train=48)
    params = TrainParams(**{**FAST_FIT, "epochs": 2.0, "min_steps": 30, "patience": 10, "evals_per_epoch": 2})
    result = fit(t["model"], t["train"], t["train_labels"], t["valid"], t["valid_labels"], params, device="cpu",
                 seed=0, checkpoint_dir=tmp_path / "ckpt", pad_id=t["pad_id"])  # fmt: skip
    assert result.steps == 30
    assert result.telemetry["schedule"] == {"steps": 30, "configured_steps": 6, "epochs": 10.0}  # 3 batches/epoch
    assert [h["step"] for h in result.history] == [8, 15, 23, 30]  # 2 epochs x 2 evaluations, spread over 30 steps
    assert result.history[-1]["epoch"] == pytest.approx(10.0)
    unstretched = TrainParams(**{**FAST_FIT, "epochs": 2.0, "patience": 10, "evals_per_epoch": 2})
    again = task(n_train=48)
    short = fit(again["model"], again["train"], again["train_labels"], again["valid"], again["valid_labels"],
                unstretched, device="cpu", seed=0, checkpoint_dir=tmp_path / "c2", pad_id=again["pad_id"])  # fmt: skip
    assert short.steps == 6 and [h["step"] for h in short.history] == [2, 3, 5, 6]
    assert short.telemetry["schedule"]["steps"] == short.telemetry["schedule"]["configured_steps"] == 6


def test_a_refit_takes_the_folds_peak_past_the_configured_epochs_and_is_not_stretched_again() -> None:
    def fold(scores: list[float]) -> FoldFit:
        return FoldFit(np.zeros((1, 2)), history=[{"epoch": 4.0 * (e + 1), "valid_macro_f1": v}
                                                  for e, v in enumerate(scores)])  # fmt: skip

    params = TrainParams(epochs=5.0, min_steps=300)
    peaked = CrossFit("x", np.zeros((1, 2)), [fold([0.5, 0.7, 0.8, 0.6]), fold([0.4, 0.6, 0.7, 0.65])], 2)
    assert peaked.refit_params(params) == TrainParams(epochs=12.0, min_steps=0)  # past the 5 configured
    assert CrossFit("x", np.zeros((1, 2)), [FoldFit(np.zeros((1, 2)))], 1).refit_params(params) == params


def test_a_trials_epochs_scale_the_floor_so_searched_lengths_still_differ_on_small_data() -> None:
    from ratchet.search.space import apply

    base = TrainParams(epochs=5.0, min_steps=300)
    assert apply(base, {"epochs": 10.0, "learning_rate": 1e-4}) == TrainParams(
        epochs=10.0, min_steps=600, learning_rate=1e-4
    )
    assert apply(base, {"learning_rate": 1e-4}).min_steps == 300


def test_a_shipped_recipe_records_the_epochs_it_trained_fixed(tmp_path) -> None:
    from ratchet.fsutil import read_json, write_json
    from ratchet.models.recipe_meta import KEY, read_recipe, recipe, set_epochs

    params = TrainParams(epochs=5.0, min_steps=300)
    write_json(tmp_path / "ratchet.json", {KEY: recipe("tiny", params, seed=3)})
    assert read_recipe(tmp_path) == ("tiny", params, 3)
    set_epochs(tmp_path, 14.5)  # early stopping kept the weights of epoch 14.5 of a stretched schedule
    assert read_recipe(tmp_path) == ("tiny", TrainParams(epochs=14.5, min_steps=0), 3)
    assert recipe("tiny", params, 3, epochs=2.0)["train_params"]["min_steps"] == 0
    older = read_json(tmp_path / "ratchet.json")
    del older[KEY]["train_params"]["min_steps"]  # a recipe written before min_steps existed
    write_json(tmp_path / "ratchet.json", {**older, KEY: {**older[KEY], "train_params": {
        **older[KEY]["train_params"], "epochs": 5.0}}})  # fmt: skip
    assert read_recipe(tmp_path)[1].min_steps == 0
