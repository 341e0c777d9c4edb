"""Report sections about the model: the sealed test, training curves and the search (the ledger: ledger_section).

Each function takes the loaded run and returns a ``<section>`` (or None when the
run has nothing for it yet), so a partial run simply shows fewer sections.
"""

from __future__ import annotations

import math
from typing import Any

from ratchet.reporting.bars import hbar_chart
from ratchet.reporting.charts import confusion_heatmap, reliability_diagram, roc_chart
from ratchet.reporting.html import Safe, interval, join, key_values, num, section, table, tag
from ratchet.reporting.rundata import RunFiles
from ratchet.reporting.svg import Series, line_chart


def _ci_cell(test: dict[str, Any], key: str) -> str:
    ci = test.get("ci")
    return interval(ci.get(key)) if isinstance(ci, dict) else ""


def test_section(run: RunFiles) -> Safe | None:
    test = run.test
    if not test:
        return None
    labels = [str(label) for label in test.get("labels") or run.labels]
    names = [
        ("accuracy", "accuracy"),
        ("macro_f1", "macro F1"),
        ("weighted_f1", "weighted F1"),
        ("macro_precision", "macro precision"),
        ("macro_recall", "macro recall"),
        ("roc_auc_ovr", "ROC AUC (one-vs-rest)"),
        ("log_loss", "log loss"),
        ("ece", "expected calibration error"),
    ]
    rows = [[label, num(test.get(key)), _ci_cell(test, key)] for key, label in names if key in test]
    rows.insert(0, ["rows", num(test.get("n")), ""])
    parts: list[Any] = [
        table(["metric", "value", "95% bootstrap CI"], rows, numeric=[1, 2], id="test-metrics", class_="metrics")
    ]
    matrix = test.get("confusion_matrix")
    if isinstance(matrix, list) and len(matrix) == len(labels) and labels:
        parts.append(tag("h3", "Confusion matrix"))
        parts.append(confusion_heatmap(matrix, labels))
    per_class = test.get("per_class")
    if isinstance(per_class, dict) and per_class:
        parts.append(tag("h3", "Per class"))
        curves = test.get("roc_curves") if isinstance(test.get("roc_curves"), dict) else {}
        class_rows = []
        for label, scores in per_class.items():
            curve = curves.get(label)
            f1 = scores.get("f1") or 0.0
            bar = tag("span", tag("span", style=f"width:{max(0.0, min(1.0, f1)) * 100:.1f}%"), class_="bar")
            class_rows.append(
                [
                    label,
                    num(scores.get("precision")),
                    num(scores.get("recall")),
                    join([bar, num(f1)]),
                    num(curve.get("auc")) if isinstance(curve, dict) else "",
                    num(scores.get("support")),
                ]
            )
        parts.append(
            table(
                ["label", "precision", "recall", "F1", "ROC AUC", "support"],
                class_rows,
                numeric=[1, 2, 3, 4, 5],
                id="per-class",
                sortable=True,
            )
        )
    charts = [
        reliability_diagram(test.get("reliability") or [], test.get("ece")),
        roc_chart(test.get("roc_curves") or {}),
    ]
    charts = [c for c in charts if c is not None]
    if charts:
        parts.append(tag("h3", "Calibration and ROC"))
        parts.append(tag("div", *charts, class_="charts"))
    model = run.metrics.get("model")
    if isinstance(model, dict) and model:
        shown = [(k, v) for k, v in model.items() if isinstance(v, (str, int, float, bool)) and v is not None]
        parts.append(tag("h3", "Evaluated model"))
        parts.append(key_values(shown, id="model-info"))
    return section(
        "test",
        "Sealed test",
        *parts,
        intro="The test split was read once, by the evaluate step, after every decision was made: "
        "these numbers are an honest estimate. Intervals: 95% percentile bootstrap over test rows.",
    )


def _history_chart(
    history: list[dict[str, Any]], keys: list[tuple[str, str]], title: str, y_label: str, **kwargs: Any
) -> Safe | None:
    xs = [float(h.get("step", i)) for i, h in enumerate(history)]
    series = []
    for key, name in keys:
        ys = [h.get(key) if isinstance(h.get(key), (int, float)) else None for h in history]
        if any(y is not None for y in ys):
            series.append(Series(name, xs, ys))
    if not series:
        return None
    return line_chart(series, title=title, x_label="optimizer step", y_label=y_label, **kwargs)


def training_section(run: RunFiles) -> Safe | None:
    parts: list[Any] = []
    for folder, manifest in run.manifests:
        metrics = manifest.get("metrics") or {}
        history = metrics.get("history")
        telemetry = metrics.get("telemetry")
        if not isinstance(history, list) and not isinstance(telemetry, dict):
            continue
        history = [h for h in history or [] if isinstance(h, dict)]
        heading = f"{folder.name}" + (f": {metrics['backbone']}" if metrics.get("backbone") else "")
        parts.append(tag("h3", heading))
        facts = [
            ("best validation macro F1", num(metrics.get("best_valid_macro_f1"))),
            ("optimizer steps", num(metrics.get("steps"))),
            ("stopped early", metrics.get("stopped_early")),
            ("stopped by the time budget", metrics.get("stopped_by_deadline")),
        ]
        if isinstance(telemetry, dict):
            facts += [
                ("tokens/s (real, non-pad)", num(telemetry.get("tokens_per_s"), 0)),
                ("samples/s", num(telemetry.get("samples_per_s"), 1)),
                ("padding waste", num(telemetry.get("padding_waste"), 3)),
                ("peak RAM (MB)", num(telemetry.get("peak_rss_mb"), 0)),
                ("peak GPU memory (MB)", num(telemetry.get("peak_cuda_mb"), 0)),
                ("estimated MFU", num(telemetry.get("est_mfu"), 3)),
                ("training seconds", num(telemetry.get("train_seconds"), 1)),
                ("schedule stretched to train.min_steps", _stretched(telemetry.get("schedule"))),
            ]
        crossfit, plan = metrics.get("crossfit"), metrics.get("plan")
        if isinstance(crossfit, dict) and crossfit.get("folds_planned", 1) > 1:
            facts += [
                ("folds (out-of-fold judging)", f"{crossfit.get('folds_run')} of {crossfit.get('folds_planned')}"),
                ("curves below", "the first fold's (held-out rows watched, never chosen on)"),
                ("refit epochs (the folds' mean curve peak)", num(metrics.get("refit_epochs"), 2)),
                ("what ships", metrics.get("shipped")),
            ]
        if isinstance(plan, dict):
            facts += [
                ("time plan", plan.get("reason")),
                ("measured tokens/s before training", num(plan.get("rate"), 0)),
                ("planned epochs / rows", f"{num(plan.get('epochs'), 2)} / {plan.get('rows')}"),
                ("shortened to epochs (slower than measured)", num(plan.get("shortened_to_epochs"), 2)),
            ]
        facts = [(k, v) for k, v in facts if v not in (None, "")]
        charts = [
            _history_chart(history, [("train_loss", "train"), ("valid_loss", "valid")], "loss", "loss"),
            _history_chart(
                history,
                [("valid_macro_f1", "valid macro F1")],
                "validation macro F1",
                "macro F1",
                y_floor=0.0,
                y_ceil=1.0,
            ),
            _history_chart(history, [("tokens_per_s", "tokens/s")], "throughput", "real tokens/s", y_floor=0.0),
        ]
        charts = [c for c in charts if c is not None]
        parts.append(key_values(facts, caption=None))
        if charts:
            parts.append(tag("div", *charts, class_="charts"))
        params = metrics.get("train_params")
        if isinstance(params, dict) and params:
            parts.append(tag("details", tag("summary", "hyperparameters"), key_values(sorted(params.items()))))
    if not parts:
        return None
    return section("training", "Training", *parts, intro="Curves are recorded at each validation evaluation.")


def _trials(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    trials = metrics.get("trials") or metrics.get("history") or []
    out = []
    for index, trial in enumerate(t for t in trials if isinstance(t, dict)):
        value = trial.get("value", trial.get("score"))
        if isinstance(value, (int, float)) and math.isfinite(value):
            out.append({**trial, "number": trial.get("number", index), "value": float(value)})
    return out


def search_section(run: RunFiles) -> Safe | None:
    parts: list[Any] = []
    for folder, manifest in run.steps_named("search"):
        metrics = manifest.get("metrics") or {}
        trials = _trials(metrics)
        importances = metrics.get("importances") or metrics.get("param_importances") or {}
        if not trials and not importances:
            continue
        parts.append(tag("h3", folder.name))
        charts = []
        if trials:
            xs = [float(t["number"]) for t in trials]
            values = [t["value"] for t in trials]
            best = [max(values[: i + 1]) for i in range(len(values))]
            charts.append(
                line_chart(
                    [Series("trial", xs, values), Series("best so far", xs, best)],
                    title="search history",
                    x_label="trial",
                    y_label="validation score",
                    id="search-history",
                )
            )
        if isinstance(importances, dict) and importances:
            ranked = sorted(((str(k), float(v)) for k, v in importances.items()), key=lambda kv: -kv[1])
            charts.append(
                hbar_chart(
                    [k for k, _ in ranked],
                    [v for _, v in ranked],
                    title="parameter importances",
                    value_label="importance",
                    id="param-importances",
                )
            )
        parts.append(tag("div", *charts, class_="charts"))
        if trials:
            top = sorted(trials, key=lambda t: -t["value"])[:10]
            keys = sorted({k for t in top for k in (t.get("params") or {})})
            rows = [
                [t["number"], num(t["value"]), t.get("state", "")] + [_short(t.get("params", {}).get(k)) for k in keys]
                for t in top
            ]
            parts.append(
                table(
                    ["trial", "value", "state", *keys],
                    rows,
                    numeric=[0, 1],
                    id="search-trials",
                    caption="Best trials",
                    sortable=True,
                )
            )
    if not parts:
        return None
    return section("search", "Hyperparameter search", *parts)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _stretched(schedule: Any) -> str | None:
    """'N -> M optimizer steps (E epochs)' when min_steps stretched the fit's schedule, else None."""
    if not isinstance(schedule, dict) or schedule.get("steps", 0) <= schedule.get("configured_steps", 0):
        return None
    epochs = num(schedule.get("epochs"), 2)
    return f"{schedule['configured_steps']} -> {schedule['steps']} optimizer steps ({epochs} epochs)"
