"""Interrupt training at any step, resume from the checkpoint folder: the result must equal an
uninterrupted run bit for bit (CPU, same thread count). The real SIGKILL variant runs end to end."""

import numpy as np
import pytest
import torch
from tiny_fixtures import FakeProgress

from ratchet.config import TrainParams
from ratchet.training.checkpoint import load_state
from ratchet.training.loop import fit

PARAMS = TrainParams(
    epochs=3.0, min_steps=0, learning_rate=3e-3, batch_size=16, max_tokens=512, max_length=64,
    checkpoint_every=2, evals_per_epoch=2, patience=10, log_every=3,
)  # fmt: skip


class Crash(Exception):
    pass


def crashing_progress(n: int) -> FakeProgress:
    """A progress reporter that raises after ``n`` training steps, like a kill between two checkpoints."""

    def check(progress: FakeProgress) -> None:
        if progress.advanced > n:
            raise Crash

    return FakeProgress(on_advance=check)


def _fit(t, checkpoint_dir, params=PARAMS, progress=None):
    return fit(
        t["model"], t["train"], t["train_labels"], t["valid"], t["valid_labels"], params,
        device="cpu", seed=7, checkpoint_dir=checkpoint_dir, pad_id=t["pad_id"], progress=progress,
    )  # fmt: skip


def _strip_timing(history):
    return [{k: v for k, v in h.items() if not k.endswith("_per_s")} for h in history]


@pytest.fixture(scope="module")
def reference(task, tmp_path_factory):
    t = task("gpt2", n_train=120)
    result = _fit(t, tmp_path_factory.mktemp("reference"))
    scores = [h["valid_macro_f1"] for h in result.history]
    assert np.argmax(scores) >= 2, "the best checkpoint should come after the crash points, to test its restore"
    return result, {k: v.clone() for k, v in t["model"].state_dict().items()}


# step 5: between checkpoints; 6: the crash hits right before the step-6 checkpoint; 12: after evaluations
@pytest.mark.parametrize("crash_after", [5, 6, 12])
def test_resume_after_interruption_equals_uninterrupted_run(task, tmp_path, reference, crash_after):
    expected, expected_weights = reference
    with pytest.raises(Crash):
        _fit(task("gpt2", n_train=120), tmp_path, progress=crashing_progress(crash_after))
    saved = load_state(tmp_path)
    assert saved is not None and 0 < saved["loop"]["step"] <= crash_after

    resumed_task = task("gpt2", n_train=120)
    resumed = _fit(resumed_task, tmp_path)
    assert resumed.steps == expected.steps
    np.testing.assert_array_equal(resumed.valid_probs, expected.valid_probs)
    assert resumed.best_score == expected.best_score
    assert _strip_timing(resumed.history) == _strip_timing(expected.history)
    for name, value in resumed_task["model"].state_dict().items():
        assert torch.equal(value, expected_weights[name]), name


def test_resuming_a_finished_run_returns_the_same_result_without_training(task, tmp_path, reference):
    expected, _ = reference
    _fit(task("gpt2", n_train=120), tmp_path)
    again = _fit(task("gpt2", n_train=120), tmp_path)
    assert again.telemetry["real_tokens"] == 0
    np.testing.assert_array_equal(again.valid_probs, expected.valid_probs)


def test_checkpoint_of_other_settings_is_ignored(task, tmp_path, reference):
    expected, _ = reference
    _fit(task("gpt2", n_train=120), tmp_path, params=TrainParams(**{**PARAMS.__dict__, "learning_rate": 1e-3}))
    result = _fit(task("gpt2", n_train=120), tmp_path)
    assert result.telemetry["real_tokens"] > 0
    np.testing.assert_array_equal(result.valid_probs, expected.valid_probs)
