"""``ratchet predict``: predicted_label and prob_<label> columns for every row of an input file.

The input file is never modified and none of its columns is replaced: the predictions go to
new columns, and a name that already exists in the input is an error naming the collision.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ratchet.data.output import output_format, write_table
from ratchet.errors import RatchetError
from ratchet.fsutil import check_writable_folder

PREDICTED = "predicted_label"
PROB_PREFIX = "prob_"
TOP_WORDS = "top_words"
"""With --explain: the K words that most raised the predicted label's score (IG), joined by "; ". A multi-label
model's: each predicted label (or, for an empty set, the most probable one) as "label: w1; w2", joined by " | "."""


def model_dir_of(run_or_model: str | Path) -> Path:
    path = Path(run_or_model)
    if not path.exists():
        raise RatchetError(f"run folder not found: {path}: pass the --out folder of a finished run")
    if not path.is_dir():
        raise RatchetError(f"{path} is a file, not a run folder: pass the --out folder of a finished run")
    if (path / "ratchet.json").exists() or (path / "export.json").exists():  # a model folder or an export
        return path
    if (path / "model" / "ratchet.json").exists():
        return path / "model"
    raise RatchetError(f"{path} holds no trained model (no model/ratchet.json): finish the run first or --resume it")


def predict_file(
    run: str | Path,
    input_path: str | Path,
    out: str | Path,
    *,
    text_col: str | None = None,
    text_pair_col: str | None = None,
    device: str = "auto",
    show_progress: bool = True,
    explain_top: int = 0,
) -> Path:
    from ratchet.config import CleanParams, DataParams
    from ratchet.data.clean import normalize_text
    from ratchet.data.columns import resolve_columns
    from ratchet.data.io import read_table
    from ratchet.devices import resolve_device
    from ratchet.predictor import load_predictor
    from ratchet.reporting.progress import Progress

    model_dir = model_dir_of(run)
    out = check_output_path(out, input_path)
    frame = read_table(input_path)
    columns = resolve_columns(frame, DataParams(text_col=text_col, text_pair_col=text_pair_col), require_label=False)
    predictor = load_predictor(model_dir, device=resolve_device(device))
    if predictor.meta.get("text_pair") and columns.text_pair is None:
        raise RatchetError("this model reads text pairs: pass --text-pair-col with the second text column")
    check_no_collision(frame, predictor.labels)
    if explain_top and predictor.meta.get("kind") == "export":
        raise RatchetError("--explain needs the run's own model (an export folder holds ONNX graphs): pass the run")
    if explain_top and TOP_WORDS in frame.columns:
        raise RatchetError(f"the input already has a column named {TOP_WORDS!r}, which --explain writes: rename it")
    check_writable_folder(out.parent, "--out location")
    clean = CleanParams(**predictor.meta["clean"]) if "clean" in predictor.meta else CleanParams()
    texts = [normalize_text(value, clean) for value in frame[columns.text].tolist()]
    pairs = None
    if columns.text_pair is not None:
        pairs = [normalize_text(value, clean) for value in frame[columns.text_pair].tolist()]
    with Progress(enabled=show_progress) as progress, progress.bar("predict", total=len(texts)) as bar:
        probs = predictor.predict_probs(texts, pairs, on_rows=bar.advance)
    table = prediction_frame(frame, predictor.labels, probs, predictor.predict_ids(probs))
    if explain_top > 0:
        from ratchet.explain.explainer import Explainer

        with Progress(enabled=show_progress) as progress, progress.bar("explain", total=len(texts)) as bar:
            explained = Explainer(predictor).explain(texts, on_row=bar.advance)
        table[TOP_WORDS] = top_words_column(explained, len(texts), explain_top)
    write_table(out, table)
    return out


def top_words_column(explained: list, rows: int, top: int) -> list[str]:
    """The top_words cell of each row (see TOP_WORDS) from the Explainer's explanations of those rows."""
    cells: list[list[str]] = [[] for _ in range(rows)]
    for e in explained:
        words = "; ".join(word for word, _ in e.top(top))
        cells[e.row].append(words if e.predicted_labels is None else f"{e.target}: {words}")
    return [" | ".join(cell) for cell in cells]


def prediction_columns(labels: list) -> list[str]:
    return [PREDICTED, *(f"{PROB_PREFIX}{label}" for label in labels)]


def prediction_frame(frame, labels: list, probs: np.ndarray, decided: np.ndarray | None = None):
    """The input columns unchanged, then predicted_label (the model's decision: argmax, or class biases
    tuned for the gate metric) and one (calibrated) prob_<label> column per class."""
    import pandas as pd

    check_no_collision(frame, labels)
    ids = np.argmax(probs, axis=1) if decided is None else decided
    if np.ndim(ids) == 2:  # a multi-label model: the label set, written as a JSON list like the input form
        predicted = [label_set_string(labels, row) for row in ids]
    else:
        predicted = [labels[i] for i in ids] if len(probs) else []
    added = {PREDICTED: pd.Series(predicted, index=frame.index, dtype=object if not predicted else None)}
    for index, label in enumerate(labels):
        added[f"{PROB_PREFIX}{label}"] = pd.Series(probs[:, index], index=frame.index)
    return pd.concat([frame, pd.DataFrame(added, index=frame.index)], axis=1)


def label_set_string(labels: list, row: np.ndarray) -> str:
    """A predicted label set as a JSON list in label order (``[]`` when no label reaches its threshold)."""
    import json

    return json.dumps([str(labels[j]) for j in np.flatnonzero(row)], ensure_ascii=False)


def check_no_collision(frame, labels: list) -> None:
    taken = [name for name in prediction_columns(labels) if name in frame.columns]
    if taken:
        raise RatchetError(
            f"the input already has a column named {taken[0]!r}, which predict writes: rename that column "
            "(predictions never replace an input column)"
        )


def check_output_path(out: str | Path, input_path: str | Path) -> Path:
    """Refuse an output that would overwrite the input, a folder, or a format ratchet does not write."""
    out, source = Path(out), Path(input_path)
    if out.is_dir():
        raise RatchetError(f"--out {out} is a folder: pass a file path such as {out / 'predictions.csv'}")
    output_format(out)
    if out.resolve() == source.resolve() or (out.exists() and source.exists() and out.samefile(source)):
        raise RatchetError(f"--out {out} is the input file: choose another output path (the input is never modified)")
    return out
