"""key=value overrides: typed, including the YAML 1.1 forms PyYAML reads as strings."""

from __future__ import annotations

import pytest

from ratchet.config import RunConfig, apply_overrides
from ratchet.errors import RatchetError


def _config() -> RunConfig:
    return RunConfig(data="train.csv", out="run")


@pytest.mark.parametrize(("text", "expected"), [("1e-4", 1e-4), ("2E-5", 2e-5), ("0.003", 0.003), ("3", 3.0)])
def test_float_overrides_accept_exponent_notation(text: str, expected: float) -> None:
    config = apply_overrides(_config(), [f"train.learning_rate={text}"])
    assert isinstance(config.train.learning_rate, float)
    assert config.train.learning_rate == pytest.approx(expected)


def test_int_override_from_text() -> None:
    assert apply_overrides(_config(), ["train.batch_size=16"]).train.batch_size == 16


@pytest.mark.parametrize("assignment", ["train.learning_rate=fast", "train.batch_size=1.5"])
def test_non_numeric_values_are_refused_with_the_key_named(assignment: str) -> None:
    with pytest.raises(RatchetError, match=assignment.split("=")[0]):
        apply_overrides(_config(), [assignment])


def test_relabel_gate_metric_is_checked_and_canonical() -> None:
    assert _config().relabel.gate_metric == "neg_log_loss"
    assert apply_overrides(_config(), ["relabel.gate_metric=run"]).relabel.gate_metric == "run"
    assert apply_overrides(_config(), ["relabel.gate_metric=macro_f1"]).relabel.gate_metric == "macro_f1"
    with pytest.raises(RatchetError, match="unknown metric 'f2'"):
        apply_overrides(_config(), ["relabel.gate_metric=f2"])


def test_adapt_new_token_init_is_checked() -> None:
    assert _config().adapt.new_token_init == "cooccurrence"
    assert apply_overrides(_config(), ["adapt.new_token_init=sample"]).adapt.new_token_init == "sample"
    with pytest.raises(RatchetError, match="new_token_init='mean' is not allowed"):
        apply_overrides(_config(), ["adapt.new_token_init=mean"])


@pytest.mark.parametrize(("given", "seconds"), [(600, 600.0), ("600", 600.0), ("10m", 600.0), (90.5, 90.5)])
def test_budget_accepts_seconds_and_durations_alike(given, seconds: float) -> None:
    config = apply_overrides(_config(), [f"budget={given}"])
    assert config.budget_seconds == seconds
    assert RunConfig.from_dict({**config.to_dict()}).budget_seconds == seconds  # config.yaml round trip


@pytest.mark.parametrize(
    "assignment",
    [
        "gate.confidence=7",
        "gate.confidence=-0.1",
        "gate.n_bootstrap=3",
        "gate.metric=f2",
        "gate.fold_test=sometimes",
        "train.warmup_share=1.5",
        "train.label_smoothing=-0.1",
        "train.dropout=1",
        "train.patience=0",
        "budget=0",
        "budget=-5",
    ],
)
def test_out_of_range_settings_are_refused_naming_the_key(assignment: str) -> None:
    key = assignment.split("=")[0].split(".")[-1]
    with pytest.raises(RatchetError, match=key):
        apply_overrides(_config(), [assignment])


def test_resume_and_overwrite_together_are_refused() -> None:
    with pytest.raises(RatchetError, match="contradict"):
        RunConfig(data="train.csv", out="run", resume=True, overwrite=True)


@pytest.mark.parametrize(("text", "expected"), [("0.5", (0.5,)), ("[1, 0.5]", (1.0, 0.5)), ("[1e-1]", (0.1,))])
def test_a_list_of_numbers_takes_a_lone_number_and_reads_each_as_a_number(text: str, expected: tuple) -> None:
    mix = apply_overrides(_config(), [f"chunk.mix={text}"]).chunk.mix
    assert mix == expected and all(isinstance(w, float) for w in mix)


def test_a_word_in_a_list_of_numbers_is_refused_naming_the_key() -> None:
    with pytest.raises(RatchetError, match=r"chunk\.mix='half' should be a float"):
        apply_overrides(_config(), ["chunk.mix=[1, half]"])
