"""relabel (gated): find training rows whose label looks wrong, and drop, relabel or down-weight them.

Out-of-fold probabilities for every training row (fast: logistic regression on
frozen-encoder embeddings, averaged with one on TF-IDF; thorough: fine-tuned folds)
go through cleanlab's confident learning. The flagged rows, most suspicious first, are
written to ``RUN/data/label_issues.csv`` for a person to review (always, even when the
step is rejected); ``--label-fixes`` feeds the reviewed file back (applied by ``split``).

For the ratchet rule, one cheap learner (logistic regression on the embeddings, or on
TF-IDF when there are none) is trained twice, on the original and on the cleaned
training set, and scored on the untouched validation split: ``reference_probs`` and
``valid_probs``. The cleaned set is kept only if it wins, by log loss by default
(``relabel.gate_metric``): on the ~90 validation rows of the drug reviews, macro-F1 of
the argmax kept the cleaned set in 1 of 9 noisy runs (10-30% of labels flipped) where log
loss, which reads every row's probabilities, kept it in 5 of 9; both rejected it on the
clean data (benchmarks/label_noise.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ratchet.config import DEFAULT_MODEL, RelabelParams, TrainParams
from ratchet.data.frames import Split, read_labels, read_split
from ratchet.data.io import write_parquet
from ratchet.data.output import write_table
from ratchet.fsutil import hash_path
from ratchet.step import Candidate, Outcome, Skipped, StepContext

ISSUES_FILE = "label_issues.csv"
EMBED_SHARE = 0.6
"""Share of the step's time left that embedding may take before the step falls back to TF-IDF."""


@dataclass(frozen=True)
class RelabelStepParams:
    model: str = DEFAULT_MODEL
    """Backbone for the embeddings (and thorough folds) when no earlier step provided model.backbone."""
    relabel: RelabelParams = field(default_factory=RelabelParams)
    train: TrainParams = field(default_factory=TrainParams)
    """max_length of the embeddings; the thorough folds' hyperparameters."""
    label_fixes_sha256: str | None = None
    """Hash of relabel.label_fixes (rows reviewed there are exempt), filled in when not given."""

    def __post_init__(self) -> None:
        fixes = self.relabel.label_fixes
        if fixes is not None and self.label_fixes_sha256 is None and Path(fixes).is_file():
            object.__setattr__(self, "label_fixes_sha256", hash_path(Path(fixes)))


class RelabelStep:
    name: ClassVar[str] = "relabel"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels")
    optional: ClassVar[tuple[str, ...]] = ("data.folds", "model.backbone")
    provides: ClassVar[tuple[str, ...]] = ("data.train", "data.cleaning")
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.1

    def __init__(self, params: RelabelStepParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Outcome:
        from ratchet.relabel.issues import apply_policy, find_issues, issues_table
        from ratchet.relabel.oof import fit_predict

        p = self.params.relabel
        started = time.time()
        labels = read_labels(ctx.artifacts.get("data.labels"))
        if read_split(ctx.artifacts.get("data.valid")).label_ids.ndim == 2:  # label sets: cleanlab's multi-label finder
            from ratchet.relabel.multilabel_step import relabel_label_sets

            return relabel_label_sets(ctx, p, labels, started)
        if ctx.crossfit.crossfit:
            return self._crossfitted(ctx, labels, started)
        frame = pd.read_parquet(ctx.artifacts.get("data.train"))
        train, valid = read_split(ctx.artifacts.get("data.train")), read_split(ctx.artifacts.get("data.valid"))
        y = train.label_ids
        features = self._features(ctx, train, valid)
        probs, oof_detail = self._oof(ctx, features, train, valid, labels)
        issues = find_issues(y, probs, exempt=self._reviewed(frame, labels))
        table = issues_table(frame, issues, labels)
        issues_path = ctx.run_dir / "data" / ISSUES_FILE
        write_table(issues_path, table)  # texts that look like spreadsheet formulas are neutralised
        ctx.log.info("relabel: %d of %d training rows flagged -> %s", len(issues.flagged), len(y), issues_path)
        metrics = {
            "mode": oof_detail.pop("mode"),
            "features": "+".join(f.kind for f in features),
            "folds": p.folds,
            "policy": p.policy,
            "rows": len(y),
            "flagged": len(issues.flagged),
            "flagged_share": round(len(issues.flagged) / max(1, len(y)), 4),
            "flagged_by_class": {str(labels[k]): int(np.sum(y[issues.flagged] == k)) for k in range(len(labels))},
            "oof_agreement": round(float(np.mean(probs.argmax(1) == y)), 4),
            "oof": oof_detail,
            "label_issues": str(issues_path.relative_to(ctx.run_dir)),
        }
        if not len(issues.flagged):
            metrics["seconds"] = round(time.time() - started, 2)
            return Skipped("no label issues found", metrics)

        cleaned, kept, counts = apply_policy(frame, issues, p.policy, labels)
        out = ctx.step_dir / "train.parquet"
        write_parquet(out, cleaned)
        # The gate's learner: the same cheap model on the original and on the cleaned training set.
        gate = features[-1]
        C = oof_detail.get(f"C_{gate.kind}", 0.1)
        reference = fit_predict(
            gate.train, y, gate.valid, len(labels), C=C, weights=train.weights, balanced=True, seed=ctx.seed
        )
        new_weights = cleaned["weight"].to_numpy(np.float32) if "weight" in cleaned else None
        candidate = fit_predict(
            gate.train[kept], cleaned["label_id"].to_numpy(), gate.valid, len(labels), C=C, weights=new_weights,
            balanced=True, seed=ctx.seed,
        )  # fmt: skip
        metrics.update(counts, rows_after=len(cleaned), gate_learner=f"logistic regression on {gate.kind}")
        metrics["seconds"] = round(time.time() - started, 2)
        provides = {"data.train": out}
        return Candidate(
            probs=candidate, provides=provides, metrics=metrics, reference=reference,
            reference_name="the same cheap learner on the uncleaned rows",
            metric=None if p.gate_metric == "run" else p.gate_metric,
        )  # fmt: skip

    def _crossfitted(self, ctx: StepContext, labels: list, started: float) -> Outcome:
        """Each fold cleans its own training part; judged on every pool row, with its original label."""
        from ratchet.crossfit import cleaning
        from ratchet.crossfit.results import FoldFit
        from ratchet.relabel import crossfit_relabel as cr
        from ratchet.relabel.issues import issues_table

        p, crossfit = self.params.relabel, ctx.crossfit
        pool = crossfit.pool
        frame = pd.concat(
            [pd.read_parquet(ctx.artifacts.get("data.train")), pd.read_parquet(ctx.artifacts.get("data.valid"))],
            ignore_index=True,
        )
        embeddings = self._pool_embeddings(ctx, pool)
        exempt = self._reviewed(frame, labels)

        def fit_fold(split, data, deadline) -> FoldFit:
            t0 = time.time()
            feats = cr.fold_features(pool.texts, pool.pairs, split.train, split.judged, embeddings)
            cleaned = cr.clean_rows(split.train, frame, feats, labels, policy=p.policy, folds=p.folds,
                                    seed=ctx.seed, exempt=exempt)  # fmt: skip
            weights = None if pool.weights is None else pool.weights[split.train]
            reference, candidate = cr.gate_probs(feats, cleaned, pool.label_ids[split.train], split.train, weights,
                                                 len(labels), ctx.seed)  # fmt: skip
            info = {"reference": reference, "entry": cleaned.entry, "counts": cleaned.counts}
            return FoldFit(candidate, time.time() - t0, info=info)

        fit = crossfit.run("relabel", fit_fold)
        reference = crossfit.empty()
        for split, fold in zip(crossfit.plan.splits(len(fit.folds)), fit.folds, strict=True):
            reference[crossfit.plan.positions(split)] = fold.info["reference"]
        # The review file and the refit's cleaning: the same procedure over the whole pool.
        everything = np.arange(len(pool))
        feats = cr.fold_features(pool.texts, pool.pairs, everything, everything[:0], embeddings)
        whole = cr.clean_rows(everything, frame, feats, labels, policy=p.policy, folds=p.folds, seed=ctx.seed,
                              exempt=exempt)  # fmt: skip
        issues_path = ctx.run_dir / "data" / ISSUES_FILE
        write_table(issues_path, issues_table(frame, whole.issues, labels))
        out = ctx.step_dir / "cleaning.json"
        cleaning.save(out, p.policy, {i: f.info["entry"] for i, f in enumerate(fit.folds)}, whole.entry)
        metrics = {
            "mode": "fast (cross-fitted: each fold cleans its own training part)",
            "features": "+".join(f.kind for f in feats),
            "folds": p.folds,
            "policy": p.policy,
            "rows": len(pool),
            "flagged": len(whole.issues.flagged),
            "flagged_share": round(len(whole.issues.flagged) / max(1, len(pool)), 4),
            "flagged_per_fold": [f.info["counts"]["flagged"] for f in fit.folds],
            "oof": whole.oof_detail,
            "label_issues": str(issues_path.relative_to(ctx.run_dir)),
            "crossfit": fit.summary(),
            **whole.counts,
            "gate_learner": f"logistic regression on {feats[-1].kind}",
            "seconds": cr.timed(started),
        }
        if not len(whole.issues.flagged) and not any(f.info["counts"]["flagged"] for f in fit.folds):
            return Skipped("no label issues found", metrics)
        return Candidate(
            probs=fit.probs, provides={"data.cleaning": out}, metrics=metrics, reference=reference,
            reference_name="the same cheap learner on the uncleaned rows",
            metric=None if p.gate_metric == "run" else p.gate_metric,
        )  # fmt: skip

    def _pool_embeddings(self, ctx: StepContext, pool: Split) -> np.ndarray | None:
        """Frozen-encoder embeddings of every pool row, once (the encoder learns nothing from them)."""
        from ratchet.relabel.features import embedding_features

        choice = self.params.relabel.features
        if choice == "tfidf":
            return None
        left = ctx.time_left()
        limit = None if choice == "embeddings" or left is None else max(0.0, left) * EMBED_SHARE
        embedded = embedding_features(
            self._backbone(ctx), pool.texts, [], pool.pairs, [] if pool.pairs is not None else None,
            max_length=self.params.train.max_length, device=ctx.device, time_limit=limit, progress=ctx.progress,
        )  # fmt: skip
        if embedded is None:
            ctx.log.warning("relabel: embedding every row would overrun the time budget; using TF-IDF features")
            return None
        return embedded.train

    def _features(self, ctx: StepContext, train: Split, valid: Split) -> list:
        """[TF-IDF, embeddings] (the last one is the gate's), or [TF-IDF] when embeddings are off or too slow."""
        from ratchet.relabel.features import embedding_features, tfidf_features

        found = [tfidf_features(train.texts, valid.texts, train.pairs, valid.pairs)]
        choice = self.params.relabel.features
        if choice == "tfidf":
            return found
        left = ctx.time_left()
        limit = None if choice == "embeddings" or left is None else max(0.0, left) * EMBED_SHARE
        embedded = embedding_features(
            self._backbone(ctx), train.texts, valid.texts, train.pairs, valid.pairs,
            max_length=self.params.train.max_length, device=ctx.device, time_limit=limit, progress=ctx.progress,
        )  # fmt: skip
        if embedded is None:
            ctx.log.warning("relabel: embedding every row would overrun the time budget; using TF-IDF features")
            return found
        return [*found, embedded]

    def _oof(self, ctx: StepContext, features: list, train: Split, valid: Split, labels: list) -> tuple:
        from ratchet.relabel.oof import finetune_oof, linear_oof

        p = self.params.relabel
        detail: dict = {"mode": "fast"}
        all_probs = []
        for f in features:  # cheap, and it also picks the gate learner's C
            probs, info = linear_oof(f.train, train.label_ids, len(labels), folds=p.folds, seed=ctx.seed, kind=f.kind)
            all_probs.append(probs)
            detail[f"C_{f.kind}"] = info["C"]
            detail[f"{f.kind}_seconds"] = round(f.seconds + info["seconds"], 2)
        # Two different views of the text err on different rows: their average flags fewer false issues.
        fast = np.mean(all_probs, axis=0)
        if p.mode != "thorough":
            return fast, detail
        done = finetune_oof(
            self._backbone(ctx), labels, train, valid, self.params.train, folds=p.folds, seed=ctx.seed,
            device=ctx.device, work_dir=ctx.step_dir / "folds", deadline=ctx.deadline, progress=ctx.progress,
        )  # fmt: skip
        if done is None:
            ctx.log.warning("relabel: fine-tuned folds do not fit the time budget; using the fast path")
            return fast, {**detail, "thorough_abandoned": True}
        return done[0], {**detail, **done[1], "mode": "thorough"}

    def _backbone(self, ctx: StepContext) -> str:
        from ratchet.steps.train import resolved_backbone

        backbone = resolved_backbone(ctx, self.params.model)
        return DEFAULT_MODEL if backbone == "linear" else backbone

    def _reviewed(self, frame: pd.DataFrame, labels: list) -> np.ndarray | None:
        """Rows a person decided on in --label-fixes: exempt from automatic flags."""
        if self.params.relabel.label_fixes is None:
            return None
        from ratchet.data.split import frame_fingerprints
        from ratchet.relabel.fixes import read_label_fixes, reviewed_fingerprints

        reviewed = reviewed_fingerprints(read_label_fixes(self.params.relabel.label_fixes, labels))
        return np.array([fp in reviewed for fp in frame_fingerprints(frame)], dtype=bool)
