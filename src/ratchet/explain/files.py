"""``ratchet explain RUN INPUT``: word attributions for every row of a file, as JSON Lines or an HTML page,
and the attributions' faithfulness (comprehensiveness / sufficiency against random words and occlusion)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ratchet.errors import RatchetError
from ratchet.explain.explainer import PREDICTED, Explainer
from ratchet.explain.gradients import DEFAULT_STEPS
from ratchet.explain.result import IG, OCCLUSION, Explanation

OUT_FORMATS = (".jsonl", ".html")


@dataclass
class ExplainSummary:
    rows: int
    seconds: float
    out: Path | None
    faithfulness: dict[str, dict[str, float]] = field(default_factory=dict)
    """method -> {"comprehensiveness", "sufficiency", "rows"} (with --faithfulness)."""


def check_out(out: str | Path | None, input_path: str | Path) -> Path | None:
    if out is None:
        return None
    out = Path(out)
    if out.is_dir():
        raise RatchetError(f"--out {out} is a folder: pass a file path such as {out / 'explained.jsonl'}")
    if out.suffix.lower() not in OUT_FORMATS:
        raise RatchetError(f"cannot tell which format to write for {out}: end the file name in .jsonl or .html")
    if Path(input_path).exists() and out.resolve() == Path(input_path).resolve():
        raise RatchetError(f"--out {out} is the input file: choose another output path (the input is never modified)")
    return out


def explain_file(
    run: str | Path,
    input_path: str | Path,
    out: str | Path | None,
    *,
    method: str = IG,
    target: str = PREDICTED,
    top: int = 5,
    steps: int = DEFAULT_STEPS,
    text_col: str | None = None,
    device: str = "auto",
    with_faithfulness: bool = False,
    show_progress: bool = True,
) -> ExplainSummary:
    from ratchet.config import CleanParams, DataParams
    from ratchet.data.clean import normalize_text
    from ratchet.data.columns import resolve_columns
    from ratchet.data.io import read_table
    from ratchet.devices import resolve_device
    from ratchet.fsutil import check_writable_folder
    from ratchet.predict import model_dir_of
    from ratchet.predictor import load_predictor
    from ratchet.reporting.progress import Progress

    if out is None and not with_faithfulness:
        raise RatchetError("pass --out FILE.jsonl or --out FILE.html (or --faithfulness to measure only)")
    if steps < 1 or top < 0:
        raise RatchetError("--steps must be at least 1 and --top at least 0")
    model_dir = model_dir_of(run)
    out_path = check_out(out, input_path)
    frame = read_table(input_path)
    columns = resolve_columns(frame, DataParams(text_col=text_col), require_label=False)
    predictor = load_predictor(model_dir, device=resolve_device(device))
    explainer = Explainer(predictor)
    if target != PREDICTED:
        explainer.target_id(target, 0)  # a bad --target fails before any work
    if out_path is not None:
        check_writable_folder(out_path.parent, "--out location")
    clean = CleanParams(**predictor.meta["clean"]) if "clean" in predictor.meta else CleanParams()
    texts = [normalize_text(value, clean) for value in frame[columns.text].tolist()]
    started = time.time()
    with Progress(enabled=show_progress) as progress, progress.bar(f"explain ({method})", total=len(texts)) as bar:
        explained = explainer.explain(texts, method, target, steps, on_row=bar.advance)
    seconds = time.time() - started
    if out_path is not None:
        _write(out_path, explained, top, Path(input_path).name)
    summary = ExplainSummary(len(texts), seconds, out_path)
    if with_faithfulness:
        summary.faithfulness = measure(explainer, explained, method, steps, show_progress, target == PREDICTED)
    return summary


def measure(
    explainer: Explainer,
    explained: list[Explanation],
    method: str,
    steps: int,
    show_progress: bool = False,
    reuse: bool = True,
) -> dict[str, dict[str, float]]:
    """Faithfulness of IG, occlusion and random words on the predicted labels of ``explained``'s texts.

    ``reuse``: ``explained`` holds ``method``'s scores toward the predicted labels (else both are recomputed).
    """
    from ratchet.explain.faithfulness import faithfulness, random_rankings, rankings_of
    from ratchet.reporting.progress import Progress

    texts = list({e.row: e.text for e in explained}.values())  # a multi-label row may hold several explanations
    by_method = {method: explained} if reuse else {}
    with Progress(enabled=show_progress) as progress:
        for other in (IG, OCCLUSION):
            if other not in by_method:
                with progress.bar(f"explain ({other})", total=len(texts)) as bar:
                    by_method[other] = explainer.explain(texts, other, PREDICTED, steps, on_row=bar.advance)
    out: dict[str, dict[str, float]] = {}
    rankings: dict[str, Any] = {name: rankings_of(by_method[name]) for name in (IG, OCCLUSION)}
    rankings["random"] = random_rankings(explained)
    reference = by_method[OCCLUSION]  # predicted labels and probabilities (any method's are the same)
    for name, order in rankings.items():
        found = faithfulness(explainer.predictor.predict_probs, reference, order)
        out[name] = {"comprehensiveness": found.comprehensiveness, "sufficiency": found.sufficiency,
                     "rows": found.rows}  # fmt: skip
    return out


def _write(path: Path, explained: list[Explanation], top: int, title: str) -> None:
    from ratchet.explain.html_page import render_page
    from ratchet.fsutil import write_text

    if path.suffix.lower() == ".html":
        write_text(path, render_page(explained, f"ratchet explain: {title}"))
        return
    # One record per explanation: one per row, or (multi-label) one per (row, label explained), "row" first.
    lines = [json.dumps({"row": e.row, **e.to_dict(top)}, ensure_ascii=False, default=str) for e in explained]
    write_text(path, "\n".join(lines) + ("\n" if lines else ""))
