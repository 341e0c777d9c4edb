"""``ratchet export RUN --format onnx [--quantize int8] --out DIR``: a model that runs without ratchet.

DIR holds ``export.json`` (the model tree: each transformer an ONNX graph with its tokenizer,
the TF-IDF baseline as arrays (``.npz``) and vocabularies (JSON), ensembles with their weights,
every node's temperature and class biases; a multi-label model's task, sigmoid temperature and
per-label thresholds), ``labels.json``, ``ratchet_onnx.py`` (a reader that
needs onnxruntime, numpy and tokenizers only) and a README.md. The TF-IDF baseline stays arrays:
its character n-grams within word boundaries (``char_wb``) have no ONNX converter (skl2onnx
converts word analyzers only), and the arrays are the exact model.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.errors import RatchetError
from ratchet.fsutil import atomic_dir, write_json

FORMATS = ("onnx",)
QUANTIZE = ("none", "int8")
READER = "ratchet_onnx.py"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass
class ExportSummary:
    out: Path
    graphs: list[str] = field(default_factory=list)
    fused: int = 0
    """Graphs whose attention runs in onnxruntime's fused kernels (export/fusion.py)."""
    arrays: list[str] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0


def export_model(run_or_model: str | Path, out: str | Path, *, quantize: str = "none", overwrite: bool = False):
    """Write the export folder for the model a run shipped; returns what was written."""
    from ratchet.models.load import read_folder_json
    from ratchet.predict import model_dir_of

    started = time.time()
    model_dir = model_dir_of(run_or_model)
    out = Path(out)
    if quantize not in QUANTIZE:
        raise RatchetError(f"--quantize {quantize!r} is not one of {', '.join(QUANTIZE)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise RatchetError(f"{out} exists and is not empty: choose a new --out folder or pass --overwrite")
    if out.resolve() == model_dir.resolve() or model_dir.resolve() in out.resolve().parents:
        raise RatchetError(f"--out {out} lies inside the model folder: choose a folder outside the run")
    _require_onnx()
    summary = ExportSummary(out)
    meta = read_folder_json(model_dir / "ratchet.json")
    labels = read_folder_json(model_dir / "labels.json", "labels")["labels"]

    def build(tmp: Path) -> None:
        tree = _export_node(model_dir, tmp, "model", quantize, summary)
        spec = {"format": 1, "labels": labels, "text_pair": bool(meta.get("text_pair")),
                **_task(meta, tree, len(labels)), "clean": meta.get("clean", {}), "quantize": quantize, "model": tree,
                "source": {"model_dir": str(model_dir.resolve()), "kind": meta.get("kind", "transformer"),
                           "backbone": meta.get("backbone")}}  # fmt: skip
        write_json(tmp / "export.json", spec)
        shutil.copy2(model_dir / "labels.json", tmp / "labels.json")
        shutil.copy2(Path(__file__).with_name("reader.py"), tmp / READER)
        from ratchet.export.readme import export_readme

        (tmp / "README.md").write_text(export_readme(spec, summary), encoding="utf-8")

    atomic_dir(out, build)
    summary.bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    summary.seconds = time.time() - started
    return summary


def _task(meta: dict[str, Any], tree: dict[str, Any], n_labels: int) -> dict[str, Any]:
    """A multi-label model's export says so, with the thresholds its label sets are decided by (the root's);
    a single-label export.json stays as it was."""
    if meta.get("task") != "multilabel":
        return {}
    thresholds = tree["decision"].get("thresholds")
    return {"task": "multilabel", "thresholds": thresholds if thresholds is not None else [0.5] * n_labels}


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise RatchetError("ratchet export needs onnx and onnxruntime: pip install 'ratchet[export]'") from None


def _export_node(model_dir: Path, out: Path, name: str, quantize: str, summary: ExportSummary) -> dict[str, Any]:
    from ratchet.models.decision import Decision
    from ratchet.models.load import read_folder_json

    meta = read_folder_json(model_dir / "ratchet.json")
    decision = Decision.load(model_dir)
    node: dict[str, Any] = {"decision": {"temperature": decision.temperature,
                                         "bias": None if decision.bias is None else list(decision.bias)}}  # fmt: skip
    labels = read_folder_json(model_dir / "labels.json", "labels")["labels"]
    if meta.get("task") == "multilabel":  # sigmoids: the temperature scales each label's logit, thresholds decide
        thresholds = None if decision.thresholds is None else list(decision.thresholds)
        node["decision"].update(multilabel=True, thresholds=thresholds)
    kind = meta.get("kind", "transformer")
    if kind == "ensemble":
        members = sorted((model_dir / "members").iterdir(), key=lambda p: int(p.name))
        weights = meta.get("weights") or [1.0 / len(members)] * len(members)
        node.update(
            kind="ensemble",
            weights=[float(w) for w in weights],
            members=[_export_node(m, out, f"{name}-{i}", quantize, summary) for i, m in enumerate(members)],
        )
        return node  # fmt: skip
    if kind == "routed":  # chunk's pair: texts that fit in one window to the first member, longer ones to the second
        from ratchet.models.routed import KEY, LONG, MEMBERS, SHORT, long_weight_of

        members = [_export_node(model_dir / MEMBERS / m, out, f"{name}-{m}", quantize, summary) for m in (SHORT, LONG)]
        return {**node, "kind": "routed", "window": int(meta[KEY]["window"]), "long_weight": long_weight_of(meta[KEY]),
                "classes": len(labels), "members": members}  # fmt: skip
    if kind == "linear":
        one_vs_rest = {"one_vs_rest": True} if meta.get("task") == "multilabel" else {}  # one sigmoid per label
        return {**node, **_export_linear(model_dir, out, name, summary), "classes": len(labels), **one_vs_rest}
    if kind == "int8":  # compress's int8 model: its int8 weights in a graph onnxruntime quantizes again
        quantize = "int8"
    if kind in ("transformer", "embedding", "int8"):
        graph = _export_graph(model_dir, meta, kind, out, name, quantize, summary)
        # A chunk model reads long texts in windows: the reader cuts and pools them as ratchet predict does.
        windowing = {"windowing": meta["windowing"]} if isinstance(meta.get("windowing"), dict) else {}
        return {**node, **graph, "classes": len(labels), **windowing}
    raise RatchetError(f"{model_dir}: a model of kind {kind!r} cannot be exported by this ratchet")


def _export_graph(model_dir: Path, meta: dict[str, Any], kind: str, out: Path, name: str, quantize: str,
                  summary: ExportSummary) -> dict[str, Any]:  # fmt: skip
    from ratchet.export.graphs import export_classifier, export_embedding_classifier, quantize_int8

    folder = out / name
    folder.mkdir()
    if kind in ("transformer", "int8"):
        from ratchet.compress.int8 import dequantized, load_int8
        from ratchet.models.load import load_classifier

        if kind == "int8":
            quantized, tokenizer, _, meta = load_int8(model_dir)
            model = dequantized(quantized)
        else:
            model, tokenizer, _, meta = load_classifier(model_dir)
        model.eval()
        graph = folder / "model.onnx"
        names, fused = export_classifier(model, tokenizer, graph)
        max_length = int(meta.get("max_length", 256))
    else:
        from ratchet.models.embedding_model import load_embedding_predictor
        from ratchet.relabel.features import _load_encoder

        predictor = load_embedding_predictor(model_dir)
        encoder, tokenizer = _load_encoder(predictor.encoder)
        graph = folder / "model.onnx"
        names, fused = export_embedding_classifier(encoder, predictor.head, tokenizer, graph)
        max_length = predictor.max_length
    tokenizer.save_pretrained(folder / "tokenizer")
    tokenizer_file = folder / "tokenizer" / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise RatchetError(f"{model_dir}: its tokenizer has no tokenizer.json (a fast tokenizer): cannot export it")
    for extra in (folder / "tokenizer").iterdir():
        if extra.name not in TOKENIZER_FILES:
            extra.unlink()  # vocab.txt, merges.txt, ...: tokenizer.json holds them
    if quantize == "int8":
        quantized = folder / "model.int8.onnx"
        quantize_int8(graph, quantized)
        graph.unlink()
        graph = quantized
    summary.graphs.append(str(graph.relative_to(out)))
    summary.fused += bool(fused)
    return {"kind": "onnx", "graph": str(graph.relative_to(out)), "tokenizer": str(tokenizer_file.relative_to(out)),
            "inputs": names, "max_length": max_length, "pad_id": int(tokenizer.pad_token_id or 0),
            "source_kind": kind, "fused": fused}  # fmt: skip


def _export_linear(model_dir: Path, out: Path, name: str, summary: ExportSummary) -> dict[str, Any]:
    from safetensors.numpy import load_file

    from ratchet.models.linear_folder import MODEL_FILE, SPEC_FILE, load_linear_predictor
    from ratchet.models.load import read_folder_json

    load_linear_predictor(model_dir)  # the same checks as predict: a damaged folder is a one-line error
    spec = read_folder_json(model_dir / SPEC_FILE, "columns")
    arrays = load_file(str(model_dir / MODEL_FILE))
    folder = out / name
    folder.mkdir()
    np.savez(folder / "arrays.npz", **arrays)
    blocks = [[{key: block[key] for key in ("analyzer", "ngram_range", "lowercase", "token_pattern", "strip_accents",
                                            "stop_words", "binary", "norm", "sublinear_tf", "terms")}
               for block in column] for column in spec["columns"]]  # fmt: skip
    (folder / "vocabularies.json").write_text(json.dumps(blocks, separators=(",", ":")), encoding="utf-8")
    summary.arrays.append(str((folder / "arrays.npz").relative_to(out)))
    return {"kind": "linear", "arrays": f"{name}/arrays.npz", "vocabularies": f"{name}/vocabularies.json"}
