"""Report section "Why the model decides": highlighted validation texts, per-class words, leakage warnings,
and how faithful the attributions are.

It explains the shipped model (RUN/model) on validation rows (data/valid.parquet): its most
confident mistakes first, then a seeded sample; in a cross-fitted run, on every train+valid row, the
out-of-fold models' most confident mistakes first (the shipped model was refit on these rows, so its
own mistakes there would be training errors). At most MAX_ROWS and within ROW_SECONDS, with
REPORT_STEPS IG steps (the CLI starts at 32). A run without a model or validation rows has no
section; a model that cannot be explained gets the section with the reason, never a failed report.
A multi-label model's rows are explained label by label (each predicted label's own sigmoid
probability; reporting/explain_multilabel.py shows them with the true and predicted sets).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from ratchet.reporting.html import Safe, note, num, section, table, tag
from ratchet.reporting.rundata import RunFiles

log = logging.getLogger("ratchet")

MAX_ROWS = 200
REPORT_STEPS = 16
"""Not 8: an 8-point integral misses completeness on many texts and is redone at 16, so 8 (refined up to 32)
cost about as much as 32 points, and its word scores were 1.3-2.2% off a 128-point integral (median; 90th
percentile 6-17%), where 16 (up to 64) was 1.24-1.28x faster than 8 and 0.7-1.9% off (90th percentile 2-3%):
README, "Measured figures"."""
REPORT_MAX_STEPS = 4 * REPORT_STEPS
"""IG refines a row's integral up to this many points where its scores miss the change (explain/gradients.py)."""
ROW_SECONDS = 15.0
"""Time for explaining rows; faithfulness gets FAITHFUL_SECONDS more for occlusion (the report step runs in
every run: on the demo, 60 s of rows and 40 faithfulness rows made the report step 132 s, 20 s and 20 rows
51 s; `ratchet explain` has no such cap)."""
FAITHFUL_ROWS = 10
FAITHFUL_SECONDS = 5.0
SHOWN = 5
OUT_OF_FOLD_ORDER = " (first the rows that the held-out fold models got most confidently wrong)"
TITLE = "Why the model decides"


def explain_section(run: RunFiles) -> Safe | None:
    model_dir, valid_path = run.run_dir / "model", run.run_dir / "data" / "valid.parquet"
    if not (model_dir / "ratchet.json").is_file() or not valid_path.is_file():
        return None
    try:
        return _build(run, model_dir, pd.read_parquet(valid_path))
    except Exception as exc:  # the report must never fail because a model cannot be explained
        from ratchet.models.load import one_line

        log.warning("report: no explanations (%s)", one_line(exc))
        return section("why", TITLE, note(f"No explanations for this run: {one_line(exc)}"))


def _build(run: RunFiles, model_dir, valid: pd.DataFrame) -> Safe:
    from ratchet.config import CleanParams
    from ratchet.data.clean import normalize_text
    from ratchet.data.frames import label_id_array
    from ratchet.explain.explainer import Explainer
    from ratchet.predictor import load_predictor
    from ratchet.reporting.explain_multilabel import multilabel_examples

    predictor = load_predictor(model_dir, device="cpu")
    if predictor.meta.get("text_pair"):
        return section("why", TITLE, note("This model reads text pairs, which explain does not support yet."))
    clean = CleanParams(**predictor.meta["clean"]) if "clean" in predictor.meta else CleanParams()
    labels = [str(label) for label in predictor.labels]
    truth = label_id_array(valid["label_id"])  # multi-label: the (rows, labels) 0/1 matrix of true sets
    # (A multi-label run's report step saves no out-of-fold rows: its error analysis reads one class per row.)
    out_of_fold = None if truth.ndim == 2 else _out_of_fold(run)
    if out_of_fold is not None:
        # Cross-fitted: the shipped model was refit on every pool row (the validation slice included), so its
        # own mistakes there are training errors. The rows the held-out fold models got most confidently
        # wrong come first instead: the hard rows; the shipped model explains them.
        valid, truth = out_of_fold, label_id_array(out_of_fold["label_id"])
        decided, confidence = valid["pred_id"].to_numpy(), valid["confidence"].to_numpy()
    texts = [normalize_text(t, clean) for t in valid["text"].tolist()]
    if out_of_fold is None:
        probs = predictor.predict_probs(texts)
        decided, confidence = np.asarray(predictor.predict_ids(probs)), probs.max(axis=1)
    order = _row_order(truth, decided, confidence)
    explainer = Explainer(predictor)
    explained, truths, rows, started = [], [], [], time.time()
    for row in order[:MAX_ROWS]:
        # Counted in explanations: a multi-label text explains each predicted label, and IG costs per label.
        if time.time() - started > ROW_SECONDS and len(explained) >= SHOWN:
            break
        found = explainer.explain([texts[row]], steps=REPORT_STEPS, max_steps=REPORT_MAX_STEPS)
        explained.extend(found)
        truths.extend([truth[row]] * len(found))  # a multi-label row: one explanation per label explained
        rows.append(row)
    seconds = time.time() - started
    multilabel = truth.ndim == 2
    whose = (
        "the explained label's own probability (one text per predicted label)"
        if multilabel
        else "the predicted label's score"
    )
    parts: list[Any] = [
        note(
            f"The shipped model's word attributions ({_method_words(explained)}) on {len(rows)} of "
            f"{len(texts)} {'train+valid' if out_of_fold is not None else 'validation'} rows in {seconds:.0f} s"
            f"{OUT_OF_FOLD_ORDER if out_of_fold is not None else ''}. Green words raise {whose}, red ones lower it; "
            "hover a word for its score. " + ("The shipped model was refit on these rows. " if _refit(run) else "")
        )
    ]
    if multilabel:
        parts += multilabel_examples(explained, truths, labels, SHOWN)
    else:
        parts += _examples(explained, [int(t) for t in truths], labels)
    parts += _global_view(explained, labels)
    parts += _leakage(run, explained, labels)
    parts += _faithfulness(explainer, explained)
    return section("why", TITLE, *parts)


def _out_of_fold(run: RunFiles) -> pd.DataFrame | None:
    """The report step's out-of-fold predictions over every train+valid row (text, label_id, pred_id,
    confidence), when the run was cross-fitted."""
    from ratchet.reporting.rundata import validation_predictions

    found = validation_predictions(run)
    if found is None or not found[1].startswith("out-of-fold") or "text_pair" in found[0].columns:
        return None
    return found[0].reset_index(drop=True)


def _row_order(truth: np.ndarray, decided: np.ndarray, confidence: np.ndarray) -> list[int]:
    """The most confident mistakes (multi-label: rows whose set is not exactly right), then every other row in a
    seeded random order."""
    mistaken = (truth != decided).reshape(len(truth), -1).any(axis=1)
    wrong = [int(i) for i in np.argsort(-confidence) if mistaken[i]]
    rest = [int(i) for i in np.random.default_rng(0).permutation(len(truth)) if int(i) not in set(wrong[:SHOWN])]
    return wrong[:SHOWN] + rest


def _method_words(explained: list) -> str:
    spaces = {e.space for e in explained}
    if spaces == {"logit"}:
        return "exact contributions of the TF-IDF model to the class score"
    refined = f"up to {REPORT_MAX_STEPS} where the scores do not add up"
    return f"Integrated Gradients, {REPORT_STEPS} steps ({refined}), on the probability"


def _refit(run: RunFiles) -> bool:
    return any("refit" in str(entry.get("shipped", "")).lower() for entry in run.ledger)


def _examples(explained: list, truth: list[int], labels: list[str]) -> list[Any]:
    from ratchet.explain.html_page import highlighted

    def rows_of(pairs: list) -> Safe:
        body = [[labels[t], str(e.label), num(e.probability, 3), highlighted(e)] for e, t in pairs]
        return table(["label", "predicted", "probability", "text"], body, numeric=[2], class_="texts")

    wrong = [(e, t) for e, t in zip(explained, truth, strict=True) if e.label_id != t][:SHOWN]
    right = [(e, t) for e, t in zip(explained, truth, strict=True) if e.label_id == t][:SHOWN]
    out: list[Any] = []
    if wrong:
        out += [tag("h3", "Most confident mistakes"), rows_of(wrong)]
    if right:
        out += [tag("h3", "A sample of correct predictions"), rows_of(right)]
    return out


def _global_view(explained: list, labels: list[str]) -> list[Any]:
    from ratchet.explain.global_view import class_words

    found = class_words(explained, labels)
    body = [
        [c.label, f"{c.rows:,}", ", ".join(f"{w} ({num(s, 3, signed=True)}, {n} rows)" for w, s, n in c.words)]
        for c in found
        if c.rows
    ]
    if not body:
        return []
    intro = "Over the explained rows predicted as each label: the words with the largest mean score toward it."
    return [tag("h3", "Words each label relies on"), note(intro), table(["label", "rows", "words"], body)]


def _leakage(run: RunFiles, explained: list, labels: list[str]) -> list[Any]:
    from ratchet.data.frames import label_id_array
    from ratchet.explain.global_view import MIN_ROWS, PURITY, leakage

    texts, labeled = [], []
    for split in ("train", "valid"):
        path = run.run_dir / "data" / f"{split}.parquet"
        if path.is_file():
            frame = pd.read_parquet(path, columns=["text", "label_id"])
            texts += frame["text"].astype(str).tolist()
            ids = label_id_array(frame["label_id"])
            # Each labeled row's label set (one label for a single-label run).
            labeled += [[labels[j] for j in np.flatnonzero(r)] if ids.ndim == 2 else [labels[int(r)]] for r in ids]
    warnings = leakage(explained, texts, labeled, labels)
    rule = (
        f"Words that look like a label name, an identifier, a URL or a number, occur in at least {MIN_ROWS} "
        f"labeled rows, {PURITY:.0%} of them with one label, and carry large scores."
    )
    if not warnings:
        return [tag("h3", "Possible leakage"), note(f"No warning. {rule}")]
    body = [[w.word, w.kind, w.label, f"{w.purity:.0%} of {w.rows}", num(w.mean_score, 3)] for w in warnings]
    headers = ["word", "looks like", "label", "rows with that label", "mean score"]
    warn = f"{len(warnings)} word(s) may leak the label: check how they got into the texts. {rule}"
    return [tag("h3", "Possible leakage"), tag("p", warn, class_="warn"), table(headers, body, id="leakage")]


def _faithfulness(explainer: Any, explained: list) -> list[Any]:
    from ratchet.explain.faithfulness import faithfulness, random_rankings, rankings_of
    from ratchet.explain.result import OCCLUSION

    chosen = [e for e in explained if e.target == e.label][:FAITHFUL_ROWS]
    if not chosen:
        return []
    predict = explainer.predictor.predict_probs
    found = {"attributions": faithfulness(predict, chosen, rankings_of(chosen))}
    found["random words"] = faithfulness(predict, chosen, random_rankings(chosen))
    started, occluded = time.time(), []
    for e in chosen:  # occlusion costs one prediction per word: as many rows as its time allows
        if time.time() - started > FAITHFUL_SECONDS:
            break
        occluded.extend(explainer.explain([e.text], OCCLUSION))
    if occluded:
        found["occlusion"] = faithfulness(predict, occluded, rankings_of(occluded))
    body = [[name, num(f.comprehensiveness, 4), num(f.sufficiency, 4), f"{f.rows:,}"] for name, f in found.items()]
    intro = (
        "Comprehensiveness: how much the predicted label's probability drops when the top 1/5/10/20/50% of "
        "words are deleted (higher is more faithful); sufficiency: how much it drops when only they are kept "
        "(lower is better); averaged over the five shares (ERASER's AOPC)."
    )
    headers = ["ranking", "comprehensiveness", "sufficiency", "rows"]
    return [tag("h3", "Faithfulness"), note(intro), table(headers, body, numeric=[1, 2, 3])]
