"""The README.md of an export folder: what is in it and how to run it without ratchet."""

from __future__ import annotations

from typing import Any


def _describe(node: dict[str, Any], depth: int = 0) -> list[str]:
    pad = "  " * depth
    decision = node.get("decision", {})
    calibration = f"temperature {decision.get('temperature', 1.0):.3g}"
    if decision.get("bias") is not None:
        calibration += ", class biases"
    if decision.get("thresholds") is not None:
        calibration += ", per-label thresholds"
    if node["kind"] == "ensemble":
        lines = [f"{pad}- ensemble, weights {', '.join(f'{w:.2f}' for w in node['weights'])} ({calibration})"]
        for member in node["members"]:
            lines += _describe(member, depth + 1)
        return lines
    if node["kind"] == "routed":
        weight = float(node.get("long_weight", 1.0))
        longer = "longer ones to the second" if weight == 1.0 else (
            f"longer ones to both, weighted {weight:.2f} (second) / {1 - weight:.2f} (first)")  # fmt: skip
        lines = [f"{pad}- routed: texts of at most {node['window']} tokens (the second member's tokenizer, special "
                 f"tokens included) to the first member, {longer} ({calibration})"]  # fmt: skip
        for member in node["members"]:
            lines += _describe(member, depth + 1)
        return lines
    if node["kind"] == "onnx":
        windows = ""
        if node.get("windowing"):
            w = node["windowing"]
            step = f"{w['stride']} tokens apart" if w["stride"] else "overlapping by half"
            windows = f"; long texts in windows of max_length tokens, {step}, pooled by {w['aggregation']}"
            if w.get("cut") == "head_tail":
                windows = f"; long texts cut to their head ({w['head_share']:.0%} of max_length) and tail"
        fused = "; attention in onnxruntime's fused kernels (contrib ops)" if node.get("fused") else ""
        return [f"{pad}- `{node['graph']}`: ONNX graph, inputs {', '.join(node['inputs'])}, tokenizer "
                f"`{node['tokenizer']}`, max_length {node['max_length']}{windows}{fused} ({calibration})"]  # fmt: skip
    regression = "one-vs-rest logistic regressions" if node.get("one_vs_rest") else "logistic regression"
    return [f"{pad}- `{node['arrays']}` + `{node['vocabularies']}`: TF-IDF + {regression} as arrays "
            f"({calibration})"]  # fmt: skip


def export_readme(spec: dict[str, Any], summary: Any) -> str:
    tree = "\n".join(_describe(spec["model"]))
    multilabel = spec.get("task") == "multilabel"
    output = "one sigmoid per label (independent probabilities)" if multilabel else "the model's softmax"
    graph = summary.graphs[0] if summary.graphs else None
    raw = ""
    if graph is not None:
        first = _first_graph(spec["model"])
        raw = f"""
## One graph with onnxruntime alone

Each graph takes int64 `{", ".join(first["inputs"])}` of shape (batch, sequence) and returns
`probabilities` (batch, {first["classes"]}), {output} before calibration:

```python
import numpy as np, onnxruntime
from tokenizers import Tokenizer

tokenizer = Tokenizer.from_file("{first["tokenizer"]}")
tokenizer.enable_truncation({first["max_length"]})
tokenizer.enable_padding(pad_id={first["pad_id"]})
enc = tokenizer.encode_batch(["some text", "another one"])
feed = {{"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64)}}
if "token_type_ids" in {first["inputs"]!r}:
    feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
session = onnxruntime.InferenceSession("{graph}", providers=["CPUExecutionProvider"])
probabilities = session.run(None, feed)[0]
```
"""
        if first.get("windowing"):
            raw = _windowed_snippet(first, graph)
    usage = _multilabel_usage(spec) if multilabel else _single_label_usage()
    task = " Task: multi-label (each text gets a set of labels, possibly empty)." if multilabel else ""
    return f"""# A ratchet model, exported

Labels (column order): {", ".join(map(str, spec["labels"]))}. Quantization: {spec["quantize"]}.{task}

{tree}

## Predictions as `ratchet predict` makes them
{usage}{raw}"""


def _single_label_usage() -> str:
    return """
`ratchet_onnx.py` needs `onnxruntime`, `numpy` and `tokenizers` (not ratchet, not PyTorch):

```python
from ratchet_onnx import ExportedModel

model = ExportedModel(".")
model.predict(["some text"])        # labels, with the class biases applied
model.predict_proba(["some text"])  # calibrated probabilities, columns in labels.json order
```

It repairs texts as ratchet does (wrapping quotes, HTML entities, control characters, NFC,
whitespace; mojibake only with `ftfy` installed), runs every graph, reads the TF-IDF arrays,
weighs ensemble members and applies each node's temperature (softmax(log p / T)) and, for the
decision, the class biases (argmax(log p + b)) from `export.json`.
"""


def _multilabel_usage(spec: dict[str, Any]) -> str:
    pairs = ", ".join(f"{label}: {t:g}" for label, t in zip(spec["labels"], spec["thresholds"], strict=True))
    return f"""
`ratchet_onnx.py` needs `onnxruntime`, `numpy` and `tokenizers` (not ratchet, not PyTorch):

```python
from ratchet_onnx import ExportedModel

model = ExportedModel(".")
model.predict(["some text"])        # one list of labels per text, e.g. [["sports", "tech"]] ([] when none)
model.predict_proba(["some text"])  # calibrated sigmoid probabilities, columns in labels.json order
model.thresholds                    # a label is predicted where its probability reaches its threshold
```

The probabilities are independent (one sigmoid per label; a row need not sum to 1). It repairs
texts as ratchet does (wrapping quotes, HTML entities, control characters, NFC, whitespace;
mojibake only with `ftfy` installed), runs every graph, reads the TF-IDF arrays (one-vs-rest:
one logistic regression per label), weighs ensemble members and applies each node's temperature
to each label's logit (sigmoid(logit p / T)). Thresholds ({pairs}) are in `export.json`.
"""


def _first_graph(node: dict[str, Any]) -> dict[str, Any]:
    if node["kind"] == "onnx":
        return node
    for member in node.get("members", []):
        found = _first_graph(member)
        if found:
            return found
    return {}


POOL = {
    "mean": "logits = np.log(p).mean(axis=0)  # mean: the windows' mean logits",
    "tokens": "w = np.array(sizes, float); logits = (np.log(p) * w[:, None]).sum(0) / w.sum()  # by token count",
    "confidence": "w = p.max(axis=1); logits = (np.log(p) * w[:, None]).sum(0) / w.sum()  # by top probability",
    "max": "logits = np.log(p.max(axis=0))  # max: each class at its most confident window",
}


def _windowed_snippet(first: dict[str, Any], graph: str) -> str:
    """The onnxruntime reference for a chunk model: one text cut into windows, window probabilities pooled."""
    w = first["windowing"]
    if w.get("cut") == "head_tail":
        return _head_tail_snippet(first, graph)
    return f"""
## One graph with onnxruntime alone

This model reads long texts in windows (ratchet's chunk step): each text is cut into windows of
{first["max_length"]} tokens (special tokens included), {w["stride"] or "half a window"} tokens apart, the last one
ending at the text's end; the graph predicts every window, and the windows are pooled by
`{w["aggregation"]}`. For one text (text pairs: see `_windows` in `ratchet_onnx.py`):

{_snippet_prelude(first, graph, "STRIDE", w["stride"])}    step = max(1, min(STRIDE, room) if STRIDE else room // 2)
    starts = [0] if len(content) <= room else [*range(0, len(content) - room, step), len(content) - room]
    rows = [[e.ids[k] for k in sorted(special + content[s : s + room])] for s in starts]
    sizes = [len(content[s : s + room]) for s in starts]
    width = max(map(len, rows))
    ids = np.array([r + [PAD] * (width - len(r)) for r in rows], dtype=np.int64)
    mask = np.array([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=np.int64)
    feed = {{"input_ids": ids, "attention_mask": mask}}
    if "token_type_ids" in {first["inputs"]!r}:
        feed["token_type_ids"] = np.zeros_like(ids)
    p = session.run(None, feed)[0].astype(np.float64)  # one row per window
    {POOL[w["aggregation"]]}
    e = np.exp(logits - logits.max())
    return e / e.sum()  # the model's softmax before calibration, as for a short text
```
"""


def _head_tail_snippet(first: dict[str, Any], graph: str) -> str:
    """The onnxruntime reference for a head+tail model: one row per text, its first and last tokens."""
    share = first["windowing"]["head_share"]
    return f"""
## One graph with onnxruntime alone

This model reads a long text's head and tail (ratchet's chunk step, `chunk.cut=head_tail`): a text longer
than {first["max_length"]} tokens (special tokens included) keeps its first {share:.0%} of the room and its
last tokens for the rest, in one row. For one text (text pairs: see `_windows` in `ratchet_onnx.py`):

{_snippet_prelude(first, graph, "HEAD_SHARE", share)}    if len(content) > room:
        head = min(room, round(room * HEAD_SHARE))
        content = content[:head] + content[len(content) - (room - head):]
    ids = np.array([[e.ids[k] for k in sorted(special + content)]], dtype=np.int64)
    feed = {{"input_ids": ids, "attention_mask": np.ones_like(ids)}}
    if "token_type_ids" in {first["inputs"]!r}:
        feed["token_type_ids"] = np.zeros_like(ids)
    return session.run(None, feed)[0][0]  # the model's softmax before calibration
```
"""


def _snippet_prelude(first: dict[str, Any], graph: str, name: str, value: Any) -> str:
    """The onnxruntime snippets' shared opening: imports, constants (the cut's own ``name`` = ``value``), tokenizer
    and session, and a text's special and content token positions with the room left for content."""
    return f"""```python
import numpy as np, onnxruntime
from tokenizers import Tokenizer

MAX_LENGTH, {name}, PAD = {first["max_length"]}, {value}, {first["pad_id"]}
tokenizer = Tokenizer.from_file("{first["tokenizer"]}")
tokenizer.no_truncation()
session = onnxruntime.InferenceSession("{graph}", providers=["CPUExecutionProvider"])

def probabilities(text):
    e = tokenizer.encode(text)
    special = [k for k, s in enumerate(e.sequence_ids) if s is None]
    content = [k for k, s in enumerate(e.sequence_ids) if s is not None]
    room = MAX_LENGTH - len(special)
"""
