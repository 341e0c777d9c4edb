"""``ratchet predict``: label and prob_<label> columns for every row of an input file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ratchet.errors import RatchetError
from ratchet.fsutil import atomic_write


def model_dir_of(run_or_model: str | Path) -> Path:
    path = Path(run_or_model)
    if not path.exists():
        raise RatchetError(f"run folder not found: {path}: pass the --out folder of a finished run")
    if (path / "ratchet.json").exists():
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
) -> Path:
    from ratchet.config import CleanParams, DataParams
    from ratchet.data.clean import normalize_text
    from ratchet.data.columns import resolve_columns
    from ratchet.data.io import read_table
    from ratchet.devices import resolve_device
    from ratchet.predictor import load_predictor
    from ratchet.reporting.progress import Progress

    model_dir = model_dir_of(run)
    frame = read_table(input_path)
    columns = resolve_columns(frame, DataParams(text_col=text_col, text_pair_col=text_pair_col), require_label=False)
    predictor = load_predictor(model_dir, device=resolve_device(device))
    if predictor.meta.get("text_pair") and columns.text_pair is None:
        raise RatchetError("this model reads text pairs: pass --text-pair-col with the second text column")
    clean = CleanParams(**predictor.meta["clean"]) if "clean" in predictor.meta else CleanParams()
    texts = [normalize_text(value, clean) for value in frame[columns.text].tolist()]
    pairs = None
    if columns.text_pair is not None:
        pairs = [normalize_text(value, clean) for value in frame[columns.text_pair].tolist()]
    with Progress(enabled=show_progress) as progress, progress.bar("predict", total=len(texts)) as bar:
        probs = predictor.predict_probs(texts, pairs, on_rows=bar.advance)
    result = frame.copy()
    labels = predictor.labels
    result["label"] = [labels[i] for i in np.argmax(probs, axis=1)] if len(probs) else []
    for index, label in enumerate(labels):
        result[f"prob_{label}"] = probs[:, index]
    out = Path(out)
    atomic_write(out, lambda tmp: result.to_csv(tmp, index=False))
    return out
