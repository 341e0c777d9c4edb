"""The default recipe: which steps run, in which order, built from a RunConfig.

This is the only place that maps the user's configuration onto step params;
steps themselves never see the RunConfig.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ratchet.config import RunConfig
from ratchet.errors import RatchetError

PRESET_STEPS: dict[str, tuple[str, ...]] = {
    "fast": (
        "clean",
        "split",
        "baseline",
        "train",
        "chunk",
        "embed",
        "blend",
        "calibrate",
        "decide",
        "evaluate",
        "report",
    ),
    # baseline before relabel: the floor learns from the uncleaned rows, so it does not hang on the
    # cleaning decision. Refit on a kept cleaning (30% of labels flipped, 225 of 509 rows dropped), the
    # TF-IDF floor fell from 0.420 to 0.343 validation macro-F1 while the fine-tune rose 0.408 -> 0.456.
    "balanced": (
        "clean",
        "split",
        "baseline",
        "relabel",
        "select",
        "search",
        "train",
        "chunk",
        "ensemble",
        "compress",
        "embed",
        "blend",
        "calibrate",
        "decide",
        "evaluate",
        "report",
    ),
    # selftrain is not in a preset: on Chinese reviews it moved the sealed test by -0.005 on average over
    # five seeds (+0.020 to -0.028), and the rule on ~200 validation rows kept it where it cost 0.025.
    "best": (
        "clean",
        "split",
        "baseline",
        "relabel",
        "select",
        "adapt",
        "search",
        "train",
        "chunk",
        "ensemble",
        "compress",
        "embed",
        "blend",
        "calibrate",
        "decide",
        "evaluate",
        "report",
    ),
}


def _clean(config: RunConfig) -> Any:
    from ratchet.steps.clean import CleanStep, CleanStepParams

    return CleanStep(
        CleanStepParams(
            data=str(Path(config.data).resolve()),
            test=None if config.test is None else str(Path(config.test).resolve()),
            columns=config.data_params,
            clean=config.clean,
            model=config.models[0],
            max_length=config.train.max_length,
            chunk_threshold=config.chunk.threshold,
        )
    )


def _label_fixes(config: RunConfig) -> str | None:
    fixes = config.relabel.label_fixes
    if fixes is not None and not Path(fixes).is_file():
        raise RatchetError(f"label fixes file {fixes} does not exist: check the --label-fixes path")
    return None if fixes is None else str(Path(fixes).resolve())


def _split(config: RunConfig) -> Any:
    from ratchet.steps.split import SplitStep, SplitStepParams

    return SplitStep(
        SplitStepParams(
            valid_size=config.data_params.valid_size,
            test_size=config.data_params.test_size,
            seed=config.seed,
            label_fixes=_label_fixes(config),
            gate=config.gate,
        )
    )


def _relabel(config: RunConfig) -> Any:
    from ratchet.steps.relabel import RelabelStep, RelabelStepParams

    relabel = replace(config.relabel, label_fixes=_label_fixes(config))
    return RelabelStep(RelabelStepParams(model=config.models[0], relabel=relabel, train=config.train))


def _train(config: RunConfig) -> Any:
    from ratchet.steps.train import TrainStep, TrainStepParams

    keep_folds = "compress" in recipe_names(config)  # compress judges lighter versions of the fold models
    return TrainStep(
        TrainStepParams(model=config.models[0], train=config.train, ship=config.gate.ship, keep_folds=keep_folds)
    )


def _chunk(config: RunConfig) -> Any:
    from ratchet.steps.chunk import ChunkStep, ChunkStepParams

    # In a preset it runs only when the data has enough long texts (chunk.threshold); named, it always runs.
    return ChunkStep(
        ChunkStepParams(model=config.models[0], train=config.train, chunk=config.chunk,
                        always="chunk" in (config.steps or ()), metric=config.gate.metric)
    )  # fmt: skip


def _compress(config: RunConfig) -> Any:
    from ratchet.steps.compress import CompressStep, CompressStepParams

    return CompressStep(
        CompressStepParams(
            compress=config.compress, train=config.train, unlabeled=_unlabeled_path(config), clean=config.clean
        )
    )


def _ensemble(config: RunConfig) -> Any:
    from ratchet.steps.ensemble import EnsembleStep, EnsembleStepParams

    return EnsembleStep(EnsembleStepParams(model=config.models[0], train=config.train, seeds=_ensemble_seeds(config)))


def _adapt(config: RunConfig) -> Any:
    from ratchet.steps.adapt import AdaptStep, AdaptStepParams

    adapt = replace(config.adapt, unlabeled=_unlabeled_path(config))
    return AdaptStep(AdaptStepParams(model=config.models[0], adapt=adapt, train=config.train, clean=config.clean))


def _unlabeled_path(config: RunConfig) -> str | None:
    unlabeled = config.adapt.unlabeled
    if unlabeled is not None and not Path(unlabeled).is_file():
        raise RatchetError(f"unlabeled corpus {unlabeled} does not exist: check the --unlabeled path")
    return None if unlabeled is None else str(Path(unlabeled).resolve())


def _selftrain(config: RunConfig) -> Any:
    from ratchet.steps.selftrain import SelfTrainStep, SelfTrainStepParams

    return SelfTrainStep(
        SelfTrainStepParams(
            model=config.models[0],
            unlabeled=_unlabeled_path(config),
            selftrain=config.selftrain,
            train=config.train,
            clean=config.clean,
            seeds=config.selftrain.seeds or (_ensemble_seeds(config) if "ensemble" in recipe_names(config) else 1),
        )
    )


def _embed(config: RunConfig) -> Any:
    from ratchet.steps.embed import EmbedParams, EmbedStep

    return EmbedStep(EmbedParams(model=config.models[0], max_length=config.train.max_length, metric=config.gate.metric))


def _blend(config: RunConfig) -> Any:
    from ratchet.steps.blend import BlendParams, BlendStep

    return BlendStep(BlendParams(metric=config.gate.metric, multilabel_metric=config.gate.multilabel_metric))


def _calibrate(config: RunConfig) -> Any:
    from ratchet.steps.calibrate import CalibrateParams, CalibrateStep

    return CalibrateStep(CalibrateParams())


def _decide(config: RunConfig) -> Any:
    from ratchet.steps.decide import DecideParams, DecideStep

    return DecideStep(DecideParams(metric=config.gate.metric, multilabel_metric=config.gate.multilabel_metric))


def _evaluate(config: RunConfig) -> Any:
    from ratchet.steps.evaluate import EvaluateParams, EvaluateStep

    return EvaluateStep(EvaluateParams())


def _refit_all(config: RunConfig) -> Any:
    from ratchet.steps.refit_all import RefitAllParams, RefitAllStep

    return RefitAllStep(RefitAllParams())


def _report(config: RunConfig) -> Any:
    from ratchet.reporting.tracking import check_trackers
    from ratchet.steps.report import ReportStep, ReportStepParams

    check_trackers(config.track)  # a missing mlflow must fail now, not after hours of training
    return ReportStep(ReportStepParams(track=tuple(config.track), tracking_uri=config.tracking_uri))


PRESET_TRIALS = {"fast": 8, "balanced": 12, "best": 30}
PRESET_SEEDS = {"fast": 3, "balanced": 2, "best": 3}
"""Seeds of the ensemble step (fast: only with --ensemble)."""


def _ensemble_seeds(config: RunConfig) -> int:
    return config.search.seeds or PRESET_SEEDS[config.preset]


def _baseline(config: RunConfig) -> Any:
    from ratchet.steps.baseline import BaselineParams, BaselineStep

    return BaselineStep(BaselineParams())


def _select(config: RunConfig) -> Any:
    from ratchet.config import DEFAULT_MODEL
    from ratchet.steps.select import SelectStep, SelectStepParams

    candidates = list(config.models)
    if config.select.include_default:
        candidates.append(DEFAULT_MODEL)
    if config.select.include_linear:
        candidates.append("linear")
    return SelectStep(
        SelectStepParams(
            candidates=tuple(dict.fromkeys(candidates)),
            train=config.train,
            eta=config.select.eta,
            fewshot=config.fewshot,
        )
    )


def _search(config: RunConfig) -> Any:
    from ratchet.steps.search import SearchStep, SearchStepParams

    n_trials = config.search.n_trials or PRESET_TRIALS[config.preset]
    return SearchStep(
        SearchStepParams(model=config.models[0], train=config.train, n_trials=n_trials, storage=config.search.storage)
    )


STEP_BUILDERS: dict[str, Callable[[RunConfig], Any]] = {
    "clean": _clean,
    "split": _split,
    "baseline": _baseline,
    "relabel": _relabel,
    "select": _select,
    "search": _search,
    "adapt": _adapt,
    "train": _train,
    "chunk": _chunk,
    "ensemble": _ensemble,
    "selftrain": _selftrain,
    "compress": _compress,
    "embed": _embed,
    "blend": _blend,
    "calibrate": _calibrate,
    "decide": _decide,
    "evaluate": _evaluate,
    "refit_all": _refit_all,
    "report": _report,
}


STEP_NAMES = tuple(STEP_BUILDERS)


def _with_ensemble(names: tuple[str, ...], ensemble: bool) -> tuple[str, ...]:
    """--ensemble adds the ensemble step right after train (after chunk, which follows train, as in the presets
    that have ensemble), when the preset does not have it already."""
    if not ensemble or "ensemble" in names or "train" not in names:
        return names
    at = names.index("train") + 1
    if at < len(names) and names[at] == "chunk":
        at += 1
    return (*names[:at], "ensemble", *names[at:])


def _with_refit_all(names: tuple[str, ...], refit_all: bool) -> tuple[str, ...]:
    """--refit-all adds the refit_all step right after evaluate."""
    if not refit_all or "refit_all" in names or "evaluate" not in names:
        return names
    at = names.index("evaluate") + 1
    return (*names[:at], "refit_all", *names[at:])


def recipe_names(config: RunConfig) -> tuple[str, ...]:
    names = _with_refit_all(
        tuple(config.steps or _with_ensemble(PRESET_STEPS[config.preset], config.search.ensemble)), config.refit_all
    )
    unknown = [name for name in names if name not in STEP_BUILDERS]
    if unknown:
        raise RatchetError(f"unknown step {unknown[0]!r}: available steps are {', '.join(STEP_BUILDERS)}")
    return tuple(names)


def build_steps(config: RunConfig) -> list[Any]:
    return [STEP_BUILDERS[name](config) for name in recipe_names(config)]


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
    "embed": "ratchet.steps.embed:EmbedStep",
    "blend": "ratchet.steps.blend:BlendStep",
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
