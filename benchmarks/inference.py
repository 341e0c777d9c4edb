"""Inference speed and accuracy of a run's shipped model: ratchet (PyTorch) against its ONNX exports.

For the same model and the run's sealed test rows (RUN/data/test.parquet), on the same CPU
threads: latency at batch 1 (p50, p95 over ``--latency-rows`` texts), throughput at batch 64
(texts/s over ``--rows`` texts), size on disk, test macro-F1 and the share of test predictions
that agree with PyTorch's. Peers: ``ratchet.load`` (PyTorch, fp32, and the same model under bf16
autocast: native on CPUs with AVX512-BF16 or AMX, emulated and slow elsewhere), the export read with
``ratchet_onnx.py`` (onnxruntime, fp32 and dynamic int8), and, when the run has a compress step,
its int8 model and its distilled student (PyTorch).

    python benchmarks/inference.py RUN [--rows 1000] [--latency-rows 200] [--threads 2] [--serve]

``--serve`` also starts ``ratchet serve`` (PyTorch, then each ONNX export: fp32, int8) and sends ``--rows``
texts from 8 concurrent clients, one text per request (a new connection per request, then kept-alive
connections; then, where Debian's ``wrk`` is installed, 8 kept-alive connections from that C load
generator for 10 s): texts/s against ``ratchet.load``'s batch throughput.

Prints a table and a JSON line. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

import ratchet
from ratchet.cli import main as cli
from ratchet.export import open_export
from ratchet.training.telemetry import cpu_has_native_bf16


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.name.endswith((".py", ".md")))


def timed(predict, texts: list[str], batch: int) -> list[float]:
    """Seconds per call of ``predict`` on consecutive batches of ``texts``."""
    predict(texts[:batch])  # warm: first-call costs (kernels, allocations) are not inference speed
    out = []
    for start in range(0, len(texts), batch):
        began = time.perf_counter()
        predict(texts[start : start + batch])
        out.append(time.perf_counter() - began)
    return out


def measure(name: str, predict_proba, size: int, texts: list[str], truth: np.ndarray, args) -> dict:
    latency = np.array(timed(predict_proba, texts[: args.latency_rows], 1)) * 1000
    batches = timed(predict_proba, texts[: args.rows], 64)
    probs = np.concatenate([predict_proba(texts[s : s + 256]) for s in range(0, len(texts), 256)])
    return {
        "model": name, "p50_ms": float(np.percentile(latency, 50)), "p95_ms": float(np.percentile(latency, 95)),
        "texts_per_s": min(args.rows, len(texts)) / sum(batches), "mb": size / 1e6,
        "macro_f1": float(f1_score(truth, probs.argmax(1), average="macro")), "pred": probs.argmax(1),
    }  # fmt: skip


def bf16(predict_proba):
    """``predict_proba`` with the model's matrix products in bf16 (torch.autocast), as training runs them."""
    import torch

    def predict(texts: list[str]) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return np.asarray(predict_proba(texts), dtype=np.float32)

    return predict


@contextlib.contextmanager
def running_server(source: Path) -> Iterator[int]:
    """``ratchet serve source`` in a subprocess on a free port, answering /health; yields the port."""
    import http.client
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "ratchet.cli", "serve", str(source), "--port", str(port)],
                              stderr=subprocess.DEVNULL, env={**os.environ})  # fmt: skip
    try:
        for _ in range(600):
            try:
                probe_connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                probe_connection.request("GET", "/health")
                probe_connection.getresponse().read()
                break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def serve_rate(source: Path, texts: list[str], clients: int = 8) -> dict[str, float]:
    """Texts/s answered by ``ratchet serve source`` to ``clients`` threads sending one text per request.

    Two kinds of client, on one server: "new" opens a connection per request (urllib's habit),
    "keep-alive" reuses one connection per client (what HTTP load tools and most SDKs do). The
    clients run on the same CPU as the server, so their own work is in the figure.
    """
    import http.client
    import threading
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()

    def post(port: int, text: str, keep_alive: bool) -> None:
        if not keep_alive or getattr(local, "connection", None) is None:
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        local.connection.request("POST", "/predict", body=json.dumps({"texts": [text]}),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
        response = local.connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"the server answered {response.status}")
        if not keep_alive:
            local.connection.close()
            local.connection = None

    def rate(port: int, keep_alive: bool) -> float:
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda t: post(port, t, keep_alive), texts[: clients * 4]))  # warm
            began = time.perf_counter()
            list(pool.map(lambda t: post(port, t, keep_alive), texts))
            return len(texts) / (time.perf_counter() - began)

    with running_server(source) as port:
        rates = {"new": rate(port, keep_alive=False), "keep-alive": rate(port, keep_alive=True)}
        if shutil.which("wrk"):
            rates["wrk"] = wrk_rate(port, texts, clients)
        return rates


def serve_rate_wrk_only(source: Path, texts: list[str], clients: int = 8) -> float:
    """Texts/s answered by ``ratchet serve source`` to ``wrk`` alone (after a 4 s warm-up)."""
    with running_server(source) as port:
        wrk_rate(port, texts, clients, seconds=4)
        return wrk_rate(port, texts, clients)


def wrk_rate(port: int, texts: list[str], clients: int, seconds: int = 10) -> float:
    """Texts/s answered to ``wrk`` (a C load generator, Debian's ``wrk``): ``clients`` kept-alive
    connections sending one text each, cycling through ``texts``. Its clients cost the shared CPU far
    less than Python threads do, so this is nearer the server's own capacity."""
    import subprocess

    bodies = "\n".join(f"bodies[{i + 1}] = {json.dumps(json.dumps({'texts': [t]}))}" for i, t in enumerate(texts))
    script = f"""bodies = {{}}
{bodies}
counter = 0
request = function()
  counter = counter % #bodies + 1
  return wrk.format("POST", "/predict", {{["Content-Type"] = "application/json"}}, bodies[counter])
end
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", encoding="utf-8") as lua:
        lua.write(script)
        lua.flush()
        command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "-s", lua.name, f"http://127.0.0.1:{port}"]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"the server answered errors to wrk: {out}")
    return float(out.split("Requests/sec:")[1].split()[0])


def compressed_models(run: Path) -> list[tuple[str, Path]]:
    """The compress step's candidates in ``run``: its int8 model and its student (the shipped one when the
    student was kept, else the first fold's, trained on the other folds' rows only)."""
    found = []
    for step in sorted(run.glob("steps/*-compress")):
        int8 = step / "int8" / "model"
        if (int8 / "ratchet.json").is_file():
            found.append(("compress int8 (PyTorch)", int8))
        for sub, name in (("model", "compress student (PyTorch)"), ("fold-0", "compress student, fold 0 (PyTorch)")):
            student = step / "student" / sub
            if (student / "ratchet.json").is_file():
                layers = json.loads((student / "ratchet.json").read_text())["student"]["layers"]
                found.append((f"{name}, {layers} layers", student))
                break
    return found


def pipeline_peer(model_dir: Path, labels: list, texts: list[str]):
    """``transformers.pipeline`` on the same shipped transformer (the mean-pooling head through
    "feature-extraction" plus the head's weights; a Hugging Face head through "text-classification");
    None for other kinds of model.

    A batched feature-extraction pipeline hands back each text's states padded to its batch's longest
    text, so the mean runs over each text's own tokens only: their counts are taken from ``texts`` here,
    before any timing, and the timed work stays the pipeline's."""
    from transformers import pipeline

    from ratchet.models.decision import softmax

    meta = json.loads((model_dir / "ratchet.json").read_text())
    if meta.get("kind") == "ensemble":
        return ensemble_peer(model_dir, meta, labels, texts)
    if meta.get("kind") != "transformer":
        return None
    max_length = int(meta.get("max_length", 256))
    if meta.get("head") == "mean":
        from safetensors.numpy import load_file

        from ratchet.models.folder_layout import encoder_dir, head_file

        extractor = pipeline("feature-extraction", model=str(encoder_dir(model_dir)), device="cpu")
        tokens = {text: len(ids) for text, ids in zip(texts, extractor.tokenizer(
            texts, truncation=True, max_length=max_length)["input_ids"], strict=True)}  # fmt: skip
        path, prefix = head_file(model_dir)
        weights = load_file(str(path))
        w, b = weights[f"{prefix}weight"], weights[f"{prefix}bias"]

        def predict(texts: list[str]) -> np.ndarray:
            states = extractor(list(texts), batch_size=64, truncation=True, max_length=max_length)
            pooled = np.stack([np.asarray(s[0][: tokens[t]], dtype=np.float32).mean(axis=0)
                               for s, t in zip(states, texts, strict=True)])  # fmt: skip
            return softmax(pooled @ w.T + b)

        return predict
    classifier = pipeline("text-classification", model=str(model_dir), top_k=None, device="cpu")
    names = [str(label) for label in labels]

    def predict(texts: list[str]) -> np.ndarray:
        out = classifier(list(texts), batch_size=64, truncation=True, max_length=max_length)
        return np.array([[{d["label"]: d["score"] for d in row}.get(n, 0.0) for n in names] for row in out])

    return predict


def ensemble_peer(model_dir: Path, meta: dict, labels: list, texts: list[str]):
    """An ensemble folder (a blend of the fine-tune with the TF-IDF baseline, or seeds) through the same
    weights: each transformer member through ``transformers.pipeline`` at its own temperature, the others
    through ratchet (a TF-IDF member is scikit-learn either way), then the folder's own temperature. None when
    no member is a transformer."""
    from ratchet.models.decision import Decision
    from ratchet.models.folder_layout import MEMBERS

    members = sorted((model_dir / MEMBERS).iterdir(), key=lambda p: int(p.name))
    weights = meta.get("weights") or [1.0 / len(members)] * len(members)

    def calibrated(peer, decision: Decision):
        return lambda batch: decision.calibrated(peer(batch))

    parts, piped = [], 0
    for member in members:
        peer = pipeline_peer(member, labels, texts)
        if peer is None:
            parts.append(ratchet.load(member, device="cpu").predict_proba)
        else:
            piped += 1
            parts.append(calibrated(peer, Decision.load(member)))
    if not piped:
        return None
    folder = Decision.load(model_dir)

    def predict(texts: list[str]) -> np.ndarray:
        mixed = sum(w * part(texts).astype(np.float64) for w, part in zip(weights, parts, strict=True))
        return folder.calibrated(mixed)

    return predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--rows", type=int, default=1000, help="texts for the batch-64 throughput")
    parser.add_argument("--latency-rows", type=int, default=200, help="texts for the batch-1 latency")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch and onnxruntime alike")
    parser.add_argument("--serve", action="store_true", help="also measure ratchet serve under 8 concurrent clients")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    test = pd.read_parquet(args.run / "data" / "test.parquet")
    labels = json.loads((args.run / "model" / "labels.json").read_text())["labels"]
    index = {str(label): i for i, label in enumerate(labels)}
    texts = test["text"].astype(str).tolist()
    truth = np.array([index[str(v)] for v in test["label"]])

    rows, served = [], {}
    torch_model = ratchet.load(args.run, device="cpu")
    # Undecided probabilities for everyone (argmax): the comparison is of the models, not the class biases.
    rows.append(measure("ratchet (PyTorch fp32)", torch_model.predict_proba, folder_bytes(args.run / "model"),
                        texts, truth, args))  # fmt: skip
    kind = "native" if cpu_has_native_bf16() else "emulated"
    rows.append(measure(f"ratchet (PyTorch bf16, {kind})", bf16(torch_model.predict_proba),
                        folder_bytes(args.run / "model"), texts, truth, args))  # fmt: skip
    for name, folder in compressed_models(args.run):
        model = ratchet.load(folder, device="cpu")
        rows.append(measure(name, model.predict_proba, folder_bytes(folder), texts, truth, args))
    peer = pipeline_peer(args.run / "model", labels, texts)
    if peer is not None:
        rows.append(measure("transformers.pipeline (fp32)", peer, folder_bytes(args.run / "model"), texts, truth, args))
    with tempfile.TemporaryDirectory() as work:
        for quantize in ("none", "int8"):
            out = Path(work) / quantize
            began = time.time()
            assert cli(["export", str(args.run), "--out", str(out), "--quantize", quantize]) == 0
            exported = open_export(out, args.threads)
            rows.append(measure(f"ONNX {'fp32' if quantize == 'none' else 'int8'} (export {time.time() - began:.0f} s)",
                                exported.predict_proba, folder_bytes(out), texts, truth, args))  # fmt: skip
            if args.serve:  # each export served, against its own batch throughput
                served[quantize] = (serve_rate(out, texts[: args.rows]), rows[-1]["texts_per_s"])
        served_torch = serve_rate(args.run, texts[: args.rows]) if args.serve else None
    base = rows[0]
    print(f"{'model':34} {'p50 ms':>7} {'p95 ms':>7} {'texts/s':>8} {'x':>5} {'MB':>7} {'macro-F1':>9} {'agree':>6}")
    for row in rows:
        agree = float((row["pred"] == base["pred"]).mean())
        row["agree"], row["speedup"] = agree, row["texts_per_s"] / base["texts_per_s"]
        print(f"{row['model']:34} {row['p50_ms']:7.1f} {row['p95_ms']:7.1f} {row['texts_per_s']:8.1f} "
              f"{row['speedup']:5.2f} {row['mb']:7.1f} {row['macro_f1']:9.4f} {agree:6.3f}")  # fmt: skip
    if args.serve:
        for client in served_torch:
            torch_rate = served_torch[client]
            exports = ", ".join(
                f"ONNX {'fp32' if q == 'none' else q} {rates[client]:.1f} texts/s "
                f"({rates[client] / batch:.2f}x its batch 64)"
                for q, (rates, batch) in served.items()
            )
            how = "wrk, kept-alive" if client == "wrk" else f"{client} connections"
            print(f"ratchet serve, 8 clients x 1 text, {how}: PyTorch {torch_rate:.1f} texts/s "
                  f"({torch_rate / base['texts_per_s']:.2f}x ratchet.load batch 64), {exports}")  # fmt: skip
    print(json.dumps({"run": str(args.run), "threads": args.threads, "test_rows": len(texts),
                      "serve_texts_per_s": {"pytorch": served_torch, **{f"onnx {q}": r for q, (r, _) in served.items()}}
                      if args.serve else None,
                      "rows": [{k: v for k, v in r.items() if k != "pred"} for r in rows]}))  # fmt: skip


if __name__ == "__main__":
    main()
