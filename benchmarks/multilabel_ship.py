"""A multi-label model outside ratchet: its ONNX export (fp32, int8) against ratchet.load, and its explanations.

For a finished multi-label run's model (RUN/model, or ``--model`` another model folder of the run, such as
the train step's fine-tune) on the run's sealed test rows (RUN/data/test.parquet), on the same CPU threads:

- export seconds and size; per export, the largest |probability difference| to ``ratchet.load``, the share
  of texts whose label set is identical, micro-F1 against the true sets (PyTorch's beside it), seconds per
  100 texts at batch 64 (PyTorch's beside it, and the ratio);
- IG explanations on ``--explain-rows`` of those rows (one per predicted label): seconds per 100 texts, how
  far the scores' sums are from the sigmoid changes they explain, and comprehensiveness / sufficiency of the
  IG ranking against random words (ERASER AOPC).

    nice -n 10 python benchmarks/multilabel_ship.py RUN [--model DIR] [--rows 500] [--explain-rows 20]

Data: whatever the run was trained on; the figures in the README come from the ``kaomoji`` run of
benchmarks/multilabel.py (CC-BY-4.0, see benchmarks/public_multilabel.py). Prints one JSON object.
Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import ratchet
from ratchet.cli import main as cli
from ratchet.data.frames import label_id_array
from ratchet.evaluation.multilabel_metrics import RowCounts
from ratchet.export import open_export


def per_100(seconds: float, rows: int) -> float:
    return round(100 * seconds / max(rows, 1), 3)


def timed(predict, texts: list[str]) -> tuple[np.ndarray, float]:
    started = time.time()
    probs = np.concatenate([predict(texts[i : i + 64]) for i in range(0, len(texts), 64)])
    return probs, time.time() - started


def exports(model_dir: Path, work: Path, texts: list[str], truth: np.ndarray, reference: dict) -> dict:
    out = {}
    for quantize in ("none", "int8"):
        folder = work / f"export-{quantize}"
        started = time.time()
        if cli(["export", str(model_dir), "--out", str(folder), "--quantize", quantize]) != 0:
            out[quantize] = "export failed"
            continue
        seconds = time.time() - started
        if quantize == "int8" and not any(folder.rglob("*.int8.onnx")):
            out[quantize] = "nothing to quantize: no ONNX graph (TF-IDF arrays only)"
            continue
        exported = open_export(folder, threads=torch.get_num_threads())
        probs, predict_seconds = timed(exported.predict_proba, texts)
        chosen = probs >= np.asarray(exported.thresholds)
        out[quantize] = {
            "export_seconds": round(seconds, 1),
            "megabytes": round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1),
            "max_abs_prob_diff": float(np.abs(probs - reference["probs"]).max()),
            "identical_label_sets": float((chosen == reference["sets"]).all(axis=1).mean()),
            "micro_f1": float(RowCounts(truth, chosen).value("micro_f1")[0]),
            "seconds_per_100": per_100(predict_seconds, len(texts)),
            "speed_vs_pytorch": round(reference["seconds"] / max(predict_seconds, 1e-9), 2),
        }
    return out


def explanations(model, texts: list[str], steps: int) -> dict:
    from ratchet.explain.explainer import Explainer
    from ratchet.explain.faithfulness import faithfulness, random_rankings, rankings_of

    explainer = Explainer(model._predictor)
    started = time.time()
    found = explainer.explain(texts, steps=steps)
    seconds = time.time() - started
    changes = np.array([e.value - e.baseline_value for e in found])
    errors = np.abs(np.array([sum(e.scores) for e in found]) - changes)
    out = {"texts": len(texts), "explanations": len(found), "space": sorted({e.space for e in found}),
           "seconds_per_100_texts": per_100(seconds, len(texts)),
           "median_abs_completeness_error": float(np.median(errors)),
           "median_abs_change": float(np.median(np.abs(changes)))}  # fmt: skip
    predict = explainer.predictor.predict_probs
    for name, order in (("ig", rankings_of(found)), ("random", random_rankings(found))):
        score = faithfulness(predict, found, order)
        out[name] = {"comprehensiveness": round(score.comprehensiveness, 4), "sufficiency": round(score.sufficiency, 4)}
    return out


def main() -> None:
    from ratchet.config import CleanParams
    from ratchet.data.clean import normalize_text

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--model", type=Path, help="a model folder of the run (default RUN/model)")
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--explain-rows", type=int, default=20)
    parser.add_argument("--steps", type=int, default=32, help="IG steps (refined up to 512 where they miss)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model_dir = args.model or args.run / "model"
    model = ratchet.load(model_dir, device="cpu")
    test = pd.read_parquet(args.run / "data" / "test.parquet").iloc[: args.rows]
    clean = CleanParams(**model.meta["clean"]) if "clean" in model.meta else CleanParams()
    texts = [normalize_text(t, clean) for t in test["text"].tolist()]
    truth = label_id_array(test["label_id"])
    probs, seconds = timed(model.predict_proba, texts)
    sets = np.asarray(model._predictor.predict_ids(probs), dtype=bool)
    result = {"run": str(args.run), "model": str(model_dir), "kind": model.meta.get("kind"), "rows": len(texts),
              "labels": len(model.classes_), "threads": args.threads,
              "pytorch": {"micro_f1": float(RowCounts(truth, sets).value("micro_f1")[0]),
                          "seconds_per_100": per_100(seconds, len(texts))}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ratchet-ml-ship-") as work:
        result["export"] = exports(model_dir, Path(work), texts, truth, {"probs": probs, "sets": sets,
                                                                         "seconds": seconds})  # fmt: skip
    rows = np.random.default_rng(0).permutation(len(texts))[: args.explain_rows]
    result["explain"] = explanations(model, [texts[int(i)] for i in rows], args.steps)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
