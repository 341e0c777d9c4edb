"""Checks before a run touches its folder: the recipe's inputs (every required input provided by an
earlier step), the data, the test file and the model source, so bad input never costs an earlier run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ratchet.config import RunConfig
from ratchet.errors import RatchetError
from ratchet.step_builders import build_steps

STEP_CLASSES = {
    "clean": "ratchet.steps.clean:CleanStep",
    "split": "ratchet.steps.split:SplitStep",
    "baseline": "ratchet.steps.baseline:BaselineStep",
    "relabel": "ratchet.steps.relabel:RelabelStep",
    "select": "ratchet.steps.select:SelectStep",
    "search": "ratchet.steps.search:SearchStep",
    "adapt": "ratchet.steps.adapt:AdaptStep",
    "train": "ratchet.steps.train:TrainStep",
    "chunk": "ratchet.steps.chunk:ChunkStep",
    "ensemble": "ratchet.steps.ensemble:EnsembleStep",
    "selftrain": "ratchet.steps.selftrain:SelfTrainStep",
    "compress": "ratchet.steps.compress:CompressStep",
    "blend": "ratchet.steps.blend:BlendStep",
    "embed": "ratchet.steps.embed:EmbedStep",
    "calibrate": "ratchet.steps.calibrate:CalibrateStep",
    "decide": "ratchet.steps.decide:DecideStep",
    "evaluate": "ratchet.steps.evaluate:EvaluateStep",
    "refit_all": "ratchet.steps.refit_all:RefitAllStep",
    "report": "ratchet.steps.report:ReportStep",
}


def step_class(name: str) -> Any:
    import importlib

    module, _, attr = STEP_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def check_recipe(steps: list[Any]) -> None:
    """Every input a step requires must be provided by an earlier step: say which is missing, and who provides it."""
    provided: set[str] = set()
    names = ",".join(step.name for step in steps)
    for step in steps:
        missing = [key for key in step.requires if key not in provided]
        if missing:
            key = missing[0]
            # Steps that provide it without needing it (ensemble refines model.current, it cannot start one).
            classes = {name: step_class(name) for name in STEP_CLASSES}
            providers = [name for name, cls in classes.items() if key in cls.provides and key not in cls.requires]
            fix = f"put {' or '.join(providers)} before {step.name}" if providers else f"remove {step.name}"
            raise RatchetError(
                f"step {step.name!r} needs {key}, which no earlier step of the recipe ({names}) provides: {fix}"
            )
        provided.update(step.provides)


def preflight(config: RunConfig) -> None:
    """Check every input before the run folder is touched, so bad input never costs an earlier run."""
    from ratchet.data.clean import clean_frame, normalize_frame
    from ratchet.data.columns import resolve_columns, standardize
    from ratchet.data.io import read_table
    from ratchet.data.label_checks import check_test_label_sets, validate_labels
    from ratchet.data.multilabel import label_union
    from ratchet.data.split import check_test_labels, label_list
    from ratchet.devices import resolve_device
    from ratchet.models.check import check_model_source
    from ratchet.rundir import check_run_dir

    check_recipe(build_steps(config))
    check_run_dir(config)
    _check_test_is_not_data(config)
    if config.device == "cuda":  # "auto" never fails, and asking torch costs seconds of import
        resolve_device(config.device)
    frame = read_table(config.data)
    columns = resolve_columns(frame, config.data_params)
    cleaned, _ = clean_frame(standardize(frame, columns), config.clean)
    validate_labels(cleaned, columns.multilabel)
    if config.test is not None:
        test_frame = read_table(config.test)
        test_columns = resolve_columns(test_frame, config.data_params)
        test, _ = normalize_frame(standardize(test_frame, test_columns), config.clean)
        if columns.multilabel:
            check_test_label_sets(test, label_union(cleaned["label"]))
        else:
            check_test_labels(test, label_list(cleaned["label"])[0])
    for model in config.models:
        if model != "linear":
            check_model_source(model)


def _check_test_is_not_data(config: RunConfig) -> None:
    """A test file that is the training file would seal the training rows themselves: no honest number."""
    if config.test is None:
        return
    data, test = Path(config.data), Path(config.test)
    same = data.resolve() == test.resolve() or (data.exists() and test.exists() and data.samefile(test))
    if same:
        raise RatchetError(
            f"--test {config.test} is the training file: pass a separate test file, or leave --test out and "
            "a share of the data is sealed as test"
        )
