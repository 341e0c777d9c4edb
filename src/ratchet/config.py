"""Run configuration: frozen dataclasses with attribute docstrings; YAML is their serialized form.

Every default is written out to ``RUN/config.yaml`` so a run can be reproduced
from its folder alone. Steps receive only their own params dataclass.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ratchet.chunking.params import ChunkParams
from ratchet.compress.params import CompressParams
from ratchet.errors import RatchetError
from ratchet.fewshot.params import FewShotParams
from ratchet.models.source import DEFAULT_MODEL  # re-exported: the config's default model
from ratchet.params import (  # re-exported: steps import their params from here
    CleanParams,
    DataParams,
    GateParams,
    RelabelParams,
    SearchParams,
    SelectParams,
    TrainParams,
)
from ratchet.unlabeled_params import AdaptParams, SelfTrainParams  # re-exported like the others

PRESETS = ("fast", "balanced", "best")


@dataclass(frozen=True)
class RunConfig:
    data: str
    """Labeled training data (CSV, TSV, JSON Lines, JSON or Parquet)."""
    out: str
    """Run folder."""
    test: str | None = None
    """Optional labeled test file; otherwise a stratified share of ``data`` is sealed as test."""
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    """Candidate backbones: Hugging Face names or local paths ("default" = all-MiniLM-L6-v2)."""
    budget: str | float | None = None
    """Wall-clock budget for the whole run: a duration such as "20m", "2h" or "90s", or a number of seconds."""
    preset: Literal["fast", "balanced", "best"] = "fast"
    """fast: train and evaluate; balanced: + relabel, select, search; best: + adapt, more trials."""
    steps: tuple[str, ...] | None = None
    """Explicit step recipe (overrides the preset), e.g. ["clean", "split", "train", "evaluate"]."""
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    resume: bool = False
    """Continue the run in ``out``: completed steps with unchanged inputs are skipped."""
    overwrite: bool = False
    """Replace a different run in ``out``."""
    track: tuple[str, ...] = ()
    """Experiment trackers to log to: mlflow, tensorboard."""
    tracking_uri: str | None = None
    """MLflow tracking URI; a local file store in the run folder when None."""
    refit_all: bool = False
    """Without ``test``: after the sealed evaluation, refit the shipped recipe on every labeled row (the sealed
    share included) and ship that; the report says the shipped model is not the one evaluated."""
    data_params: DataParams = field(default_factory=DataParams)
    clean: CleanParams = field(default_factory=CleanParams)
    train: TrainParams = field(default_factory=TrainParams)
    gate: GateParams = field(default_factory=GateParams)
    relabel: RelabelParams = field(default_factory=RelabelParams)
    select: SelectParams = field(default_factory=SelectParams)
    search: SearchParams = field(default_factory=SearchParams)
    adapt: AdaptParams = field(default_factory=AdaptParams)
    selftrain: SelfTrainParams = field(default_factory=SelfTrainParams)
    compress: CompressParams = field(default_factory=CompressParams)
    fewshot: FewShotParams = field(default_factory=FewShotParams)
    """The few-shot (SetFit-style) candidate of select: when it enters, how it is fitted."""
    chunk: ChunkParams = field(default_factory=ChunkParams)

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise RatchetError(f"unknown preset {self.preset!r}: use one of {', '.join(PRESETS)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise RatchetError(f"unknown device {self.device!r}: use auto, cpu or cuda")
        if not self.models:
            raise RatchetError("no model given: pass --model NAME_OR_PATH or leave the default")
        if self.budget is not None:
            parse_duration(self.budget)
        if self.refit_all and self.test is not None:
            raise RatchetError(
                "--refit-all refits on the rows sealed from DATA after their evaluation; with --test the test file "
                "stays yours: leave --refit-all out, or merge the files into DATA"
            )
        if self.resume and self.overwrite:
            raise RatchetError("--resume and --overwrite contradict each other: pass one of them")

    @property
    def budget_seconds(self) -> float | None:
        return None if self.budget is None else parse_duration(self.budget)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return _build(cls, data, prefix="")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> RunConfig:
        path = Path(path)
        if path.is_dir():
            raise RatchetError(f"--config {path} is a folder: pass a YAML file (RUN/config.yaml of a run works)")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise RatchetError(f"config file not found: {path}: check the --config path") from None
        except UnicodeDecodeError:
            raise RatchetError(f"config file {path} is not UTF-8 text: pass a YAML file") from None
        except yaml.YAMLError as exc:
            raise RatchetError(f"config file {path} is not valid YAML ({exc.__class__.__name__}): fix it") from None
        if not isinstance(loaded, dict):
            raise RatchetError(f"config file {path} must hold a mapping of settings")
        loaded.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(loaded)


def apply_overrides(config: RunConfig, assignments: list[str]) -> RunConfig:
    """Apply ``key=value`` overrides such as ``train.epochs=2`` (values parsed as YAML scalars)."""
    data = config.to_dict()
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key:
            raise RatchetError(f"override {assignment!r} is not key=value: write e.g. train.epochs=2")
        target = data
        *parents, leaf = key.strip().split(".")
        for part in parents:
            if not isinstance(target.get(part), dict):
                raise RatchetError(f"unknown config section {part!r} in {assignment!r}: see RUN/config.yaml")
            target = target[part]
        if leaf not in target:
            raise RatchetError(f"unknown config key {key!r}: see RUN/config.yaml for the valid keys")
        target[leaf] = yaml.safe_load(raw)
    return RunConfig.from_dict(data)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr)?\s*$")


def parse_duration(text: str | float | int) -> float:
    """'90s', '15m', '2h' or a bare number of seconds -> seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text <= 0:
            raise RatchetError(f"budget {text!r} is not a positive duration: write e.g. 600, 90s, 15m or 2h")
        return float(text)
    match = _DURATION.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise RatchetError(f"budget {text!r} is not a duration: write e.g. 600 (seconds), 90s, 15m or 2h")
    unit = (match.group(2) or "s")[0]
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[unit]


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RatchetError(f"unknown config key {prefix}{unknown[0]!r}: valid keys are {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise RatchetError(f"config section {prefix}{name} must be a mapping")
            kwargs[name] = _build(hint, value, prefix=f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, hint, f"{prefix}{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise RatchetError(f"bad config for {prefix or 'run'}: {exc}") from None


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if value is None:
        return None
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        return _coerce(value, non_none[0], key) if len(non_none) == 1 else value
    if origin is tuple:
        items = list(value) if isinstance(value, list | tuple) else [value]  # a lone value: a tuple of one
        element = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if element in (int, float):  # numbers checked (and "1e-4" read) like a lone number's
            items = [_coerce(item, element, key) for item in items]
        return tuple(items)
    if origin is Literal:
        if value not in args:
            raise RatchetError(f"{key}={value!r} is not allowed: use one of {', '.join(map(str, args))}")
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, str):
        # PyYAML follows YAML 1.1, which reads "1e-4" (no dot) as a string, not a float.
        try:
            return hint(value.strip())
        except ValueError:
            pass
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise RatchetError(f"{key}={value!r} should be a {hint.__name__}: fix the value")
    return value
