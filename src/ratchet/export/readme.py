"""The README.md of an export folder: what is in it and how to run it without ratchet."""

from __future__ import annotations

from typing import Any


def _describe(node: dict[str, Any], depth: int = 0) -> list[str]:
    pad = "  " * depth
    decision = node.get("decision", {})
    calibration = f"temperature {decision.get('temperature', 1.0):.3g}"
    if decision.get("bias") is not None:
        calibration += ", class biases"
    if node["kind"] == "ensemble":
        lines = [f"{pad}- ensemble, weights {', '.join(f'{w:.2f}' for w in node['weights'])} ({calibration})"]
        for member in node["members"]:
            lines += _describe(member, depth + 1)
        return lines
    if node["kind"] == "onnx":
        return [f"{pad}- `{node['graph']}`: ONNX graph, inputs {', '.join(node['inputs'])}, tokenizer "
                f"`{node['tokenizer']}`, max_length {node['max_length']} ({calibration})"]  # fmt: skip
    return [f"{pad}- `{node['arrays']}` + `{node['vocabularies']}`: TF-IDF + logistic regression as arrays "
            f"({calibration})"]  # fmt: skip


def export_readme(spec: dict[str, Any], summary: Any) -> str:
    tree = "\n".join(_describe(spec["model"]))
    graph = summary.graphs[0] if summary.graphs else None
    raw = ""
    if graph is not None:
        first = _first_graph(spec["model"])
        raw = f"""
## One graph with onnxruntime alone

Each graph takes int64 `{", ".join(first["inputs"])}` of shape (batch, sequence) and returns
`probabilities` (batch, {first["classes"]}), the model's softmax before calibration:

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
    return f"""# A ratchet model, exported

Labels (column order): {", ".join(map(str, spec["labels"]))}. Quantization: {spec["quantize"]}.

{tree}

## Predictions as `ratchet predict` makes them

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
{raw}"""


def _first_graph(node: dict[str, Any]) -> dict[str, Any]:
    if node["kind"] == "onnx":
        return node
    for member in node.get("members", []):
        found = _first_graph(member)
        if found:
            return found
    return {}
