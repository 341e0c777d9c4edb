"""One builder per step: the only place that maps the user's RunConfig onto a step's frozen params.

Steps themselves never see the RunConfig; recipe.py decides which builders run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ratchet.config import RunConfig
from ratchet.errors import RatchetError
from ratchet.presets import PRESET_SEARCHES_SMALL_DATA, PRESET_SEEDS, PRESET_STUDENTS_SMALL_DATA, PRESET_TRIALS
from ratchet.recipe import recipe_names


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

    return TrainStep(
        TrainStepParams(
            model=config.models[0], train=config.train, ship=config.gate.ship, keep_folds=_train_keeps_folds(config)
        )
    )


def _train_keeps_folds(config: RunConfig) -> bool:
    return "compress" in recipe_names(config)  # compress judges lighter versions of the fold models


def _chunk(config: RunConfig) -> Any:
    from ratchet.steps.chunk import ChunkStep, ChunkStepParams

    # In a preset it runs only when the data has enough long texts (chunk.threshold); named, it always runs.
    return ChunkStep(
        ChunkStepParams(model=config.models[0], train=config.train, chunk=config.chunk,
                        always="chunk" in (config.steps or ()), metric=config.gate.metric)
    )  # fmt: skip


def _on_small_data(config: RunConfig, step: str, by_preset: dict[str, bool]) -> bool:
    """Whether ``step`` does its full work where judging is cross-fitted: always when --steps names it, else as
    the preset says (presets.PRESET_SEARCHES_SMALL_DATA, PRESET_STUDENTS_SMALL_DATA)."""
    return step in (config.steps or ()) or by_preset[config.preset]


def _compress(config: RunConfig) -> Any:
    from ratchet.steps.compress import CompressStep, CompressStepParams

    small_data_student = _on_small_data(config, "compress", PRESET_STUDENTS_SMALL_DATA)
    return CompressStep(
        CompressStepParams(
            compress=config.compress,
            train=config.train,
            unlabeled=_unlabeled_path(config),
            clean=config.clean,
            small_data_student=small_data_student,
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

    return BlendStep(
        BlendParams(
            metric=config.gate.metric, multilabel_metric=config.gate.multilabel_metric, model=config.models[0],
            train=config.train, ship=config.gate.ship,
        )
    )  # fmt: skip


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


def _ensemble_seeds(config: RunConfig) -> int:
    return config.search.seeds or PRESET_SEEDS[config.preset]


def _baseline(config: RunConfig) -> Any:
    from ratchet.steps.baseline import BaselineParams, BaselineStep

    return BaselineStep(BaselineParams())


def _select(config: RunConfig) -> Any:
    from ratchet.config import DEFAULT_MODEL
    from ratchet.steps.select import SelectStep, SelectStepParams

    candidates = list(config.models)
    if _races_backbones(config):
        if config.select.include_default:
            candidates.append(DEFAULT_MODEL)
        if config.select.include_linear:
            candidates.append("linear")
    else:  # the fast preset: nothing to race, only the few-shot candidate against the model train would fit
        candidates = candidates[:1]
    return SelectStep(
        SelectStepParams(
            candidates=tuple(dict.fromkeys(candidates)),
            train=config.train,
            eta=config.select.eta,
            fewshot=config.fewshot,
            keep_folds=_train_keeps_folds(config) or config.gate.ship == "folds",
        )
    )


def _races_backbones(config: RunConfig) -> bool:
    """select races backbones and the baseline in balanced and best, and wherever --steps names it; the fast
    preset's select only checks whether the few-shot candidate should face its one model."""
    return config.steps is not None or config.preset != "fast"


def _search(config: RunConfig) -> Any:
    from ratchet.steps.search import SearchStep, SearchStepParams

    n_trials = config.search.n_trials or PRESET_TRIALS[config.preset]
    small_data = _on_small_data(config, "search", PRESET_SEARCHES_SMALL_DATA)
    storage = config.search.storage
    params = SearchStepParams(config.models[0], config.train, n_trials, storage, small_data=small_data)
    return SearchStep(params)


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
    "blend": _blend,
    "embed": _embed,
    "calibrate": _calibrate,
    "decide": _decide,
    "evaluate": _evaluate,
    "refit_all": _refit_all,
    "report": _report,
}


def build_steps(config: RunConfig) -> list[Any]:
    return [STEP_BUILDERS[name](config) for name in recipe_names(config)]
