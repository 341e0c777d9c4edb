"""The recipe is checked before anything runs, and every real step keeps the step contract."""

from __future__ import annotations

import dataclasses

import pytest

from ratchet.config import RunConfig
from ratchet.errors import RatchetError
from ratchet.presets import PRESET_STEPS
from ratchet.recipe import STEP_NAMES
from ratchet.recipe_check import check_recipe, step_class
from ratchet.step_builders import STEP_BUILDERS, build_steps


def steps_of(names: str) -> list:
    return build_steps(RunConfig(data="train.csv", out="run", steps=tuple(names.split(","))))


@pytest.mark.parametrize("preset", list(PRESET_STEPS))
def test_every_preset_provides_each_required_input_earlier(preset: str) -> None:
    check_recipe(build_steps(RunConfig(data="train.csv", out="run", preset=preset)))


@pytest.mark.parametrize(
    ("names", "fragment"),
    [
        ("split,clean,baseline,evaluate", "step 'split' needs data.clean"),
        ("clean,split,evaluate", "step 'evaluate' needs model.current"),
        ("clean,train,evaluate", "step 'train' needs data.train"),
        ("evaluate", "step 'evaluate' needs data.test"),
    ],
)
def test_a_recipe_missing_an_input_is_refused_naming_it_and_its_providers(names: str, fragment: str) -> None:
    with pytest.raises(RatchetError, match=fragment) as caught:
        check_recipe(steps_of(names))
    assert "put " in str(caught.value) and "before" in str(caught.value)


def test_the_fix_names_every_step_that_provides_the_input() -> None:
    with pytest.raises(RatchetError) as caught:
        check_recipe(steps_of("clean,split,evaluate"))
    assert "put baseline or adapt or train or selftrain before evaluate" in str(caught.value)


def test_every_step_name_has_one_builder_and_one_class() -> None:
    from ratchet.recipe_check import STEP_CLASSES

    assert tuple(STEP_BUILDERS) == STEP_NAMES
    assert tuple(STEP_CLASSES) == STEP_NAMES


@pytest.mark.parametrize("name", STEP_NAMES)
def test_step_contract(name: str) -> None:
    cls = step_class(name)
    (step,) = steps_of(name)
    assert type(step) is cls and step.name == name
    assert dataclasses.is_dataclass(step.params)
    assert step.params.__dataclass_params__.frozen  # params never change once the manifest hashed them
    declared = (*cls.requires, *cls.optional)
    assert len(set(declared)) == len(declared)  # a key is required or optional, not both
    # The seal: only evaluate may declare the sealed test split as an input, and refit_all after it (it requires
    # evaluate's metrics, so the recipe check puts it after the evaluation).
    assert ("data.test" in declared) == (name in ("evaluate", "refit_all"))
    if name == "refit_all":
        assert "metrics" in cls.requires
    assert isinstance(cls.gated, bool)
