"""The run command's flags as a RunConfig: a --config file first, then explicit flags, then key=value overrides."""

from __future__ import annotations

import argparse
from typing import Any

from ratchet.config import RunConfig, apply_overrides


def column_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The column flags as DataParams keys (--label-cols a,b,c -> a tuple of names)."""
    label_cols = None
    if args.label_cols is not None:
        label_cols = tuple(name.strip() for name in args.label_cols.split(",") if name.strip())
    return {
        "text_col": args.text_col, "text_pair_col": args.text_pair_col, "label_col": args.label_col,
        "label_sep": args.label_sep, "label_cols": label_cols,
    }  # fmt: skip


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """--config file first, then explicit flags, then key=value overrides."""
    base: dict[str, Any] = {}
    if args.config:
        base = RunConfig.from_yaml(args.config, data=args.data, out=args.out).to_dict()
    base.update(data=args.data, out=args.out)
    flags = {
        "test": args.test,
        "models": args.models,
        "budget": args.budget,
        "preset": args.preset,
        "seed": args.seed,
        "device": args.device,
        "resume": args.resume,
        "overwrite": args.overwrite,
        "steps": args.steps.split(",") if args.steps else None,
        "track": args.track,
        "tracking_uri": args.tracking_uri,
        "refit_all": args.refit_all,
    }
    base.update({key: value for key, value in flags.items() if value is not None})
    sections = {
        "adapt": {"unlabeled": args.unlabeled},
        "relabel": {"label_fixes": args.label_fixes},
        "search": {"storage": args.storage, "ensemble": args.ensemble},
    }
    for section, values in sections.items():
        given = {key: value for key, value in values.items() if value is not None}
        if given:
            base[section] = {**base.get(section, {}), **given}
    columns = column_flags(args)
    data_params = dict(base.get("data_params", {}))
    data_params.update({key: value for key, value in columns.items() if value is not None})
    base["data_params"] = data_params
    return apply_overrides(RunConfig.from_dict(base), args.overrides)
