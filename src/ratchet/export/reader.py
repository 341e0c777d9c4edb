"""Run a model exported by ``ratchet export`` with onnxruntime, numpy and tokenizers only.

This file is copied into every export folder as ``ratchet_onnx.py`` and imports nothing of
ratchet, so a service can run the model without installing ratchet or PyTorch::

    from ratchet_onnx import ExportedModel

    model = ExportedModel("export/")
    model.predict(["some text"])         # labels
    model.predict_proba(["some text"])   # calibrated probabilities, one column per model.labels

It reproduces ``ratchet predict``: the same text repair, each model's graph (or, for the TF-IDF
baseline, its arrays), ensemble weights, the temperature and the class biases of
``decision.json``. Texts are repaired as ratchet repairs them (wrapping quotes, HTML entities,
control characters and NFC, whitespace); mojibake repair needs ``ftfy`` and is skipped without it.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

FLOOR = 1e-12
BATCH_ROWS = 64


class ExportedModel:
    def __init__(self, folder: str | Path, providers: list[str] | None = None, threads: int | None = None) -> None:
        """``threads``: onnxruntime's intra-op threads (default: its own choice, one per core)."""
        self.folder = Path(folder)
        spec = json.loads((self.folder / "export.json").read_text(encoding="utf-8"))
        self.labels: list = spec["labels"]
        self.text_pair: bool = bool(spec.get("text_pair"))
        self.clean: dict[str, bool] = spec.get("clean", {})
        self.root = _node(self.folder, spec["model"], providers or ["CPUExecutionProvider"], threads)

    def predict_proba(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        texts = [clean_text(t, self.clean) for t in texts]
        pairs = None if pairs is None else [clean_text(t, self.clean) for t in pairs]
        return _calibrated(self.root, texts, pairs)

    def predict(self, texts: list[str], pairs: list[str] | None = None) -> list:
        probs = self.predict_proba(texts, pairs)
        bias = self.root["decision"].get("bias")
        scores = np.log(np.clip(probs, FLOOR, None)) + (0.0 if bias is None else np.asarray(bias))
        return [self.labels[i] for i in scores.argmax(axis=1)]


# -- the model tree --------------------------------------------------------------------------------
def _node(folder: Path, spec: dict[str, Any], providers: list[str], threads: int | None) -> dict[str, Any]:
    node = dict(spec)
    if spec["kind"] == "ensemble":
        node["members"] = [_node(folder, member, providers, threads) for member in spec["members"]]
    elif spec["kind"] == "onnx":
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        node["session"] = onnxruntime.InferenceSession(str(folder / spec["graph"]), options, providers=providers)
        tokenizer = Tokenizer.from_file(str(folder / spec["tokenizer"]))
        tokenizer.no_padding()  # padded below, per batch, with the model's pad id
        tokenizer.enable_truncation(int(spec["max_length"]))
        node["tokenizer"] = tokenizer
    elif spec["kind"] == "linear":
        arrays = np.load(folder / spec["arrays"], allow_pickle=False)
        node["arrays"] = {name: arrays[name] for name in arrays.files}
        node["blocks"] = json.loads((folder / spec["vocabularies"]).read_text(encoding="utf-8"))
        for column in node["blocks"]:
            for block in column:
                block["index"] = {term: i for i, term in enumerate(block["terms"])}
    else:
        raise ValueError(f"unknown model kind {spec['kind']!r} in export.json: export it again with this ratchet")
    return node


def _calibrated(node: dict[str, Any], texts: list[str], pairs: list[str] | None) -> np.ndarray:
    kind = node["kind"]
    if kind == "ensemble":
        members = zip(node["weights"], node["members"], strict=True)
        probs = sum(w * _calibrated(m, texts, pairs).astype(np.float64) for w, m in members)
    elif kind == "onnx":
        probs = _run_graph(node, texts, pairs)
    else:
        probs = _linear(node, texts, pairs)
    temperature = float(node["decision"].get("temperature", 1.0))
    probs = np.asarray(probs, dtype=np.float32)
    if temperature == 1.0 or not len(probs):
        return probs
    return _softmax(np.log(np.clip(probs, FLOOR, None)) / temperature)


def _run_graph(node: dict[str, Any], texts: list[str], pairs: list[str] | None) -> np.ndarray:
    """Rows sorted by length and batched, so padding stays small; probabilities in the input order."""
    tokenizer, session = node["tokenizer"], node["session"]
    batch = texts if pairs is None else list(zip(texts, pairs, strict=True))
    inputs = tokenizer.encode_batch(batch)
    out = np.zeros((len(texts), node["classes"]), dtype=np.float32)
    order = np.argsort([len(e.ids) for e in inputs], kind="stable")
    for start in range(0, len(order), BATCH_ROWS):
        rows = order[start : start + BATCH_ROWS]
        width = max(len(inputs[i].ids) for i in rows)
        ids = np.full((len(rows), width), node["pad_id"], dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            n = len(inputs[i].ids)
            ids[r, :n], mask[r, :n] = inputs[i].ids, 1
            if pairs is not None:
                types[r, :n] = inputs[i].type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        out[rows] = session.run(None, {name: feed[name] for name in node["inputs"]})[0]
    return out


# -- the TF-IDF + logistic regression baseline, from its arrays ----------------------------------------
_WHITE_SPACES = re.compile(r"\s\s+")


def _linear(node: dict[str, Any], texts: list[str], pairs: list[str] | None) -> np.ndarray:
    columns = [texts] if pairs is None else [texts, pairs]
    arrays = node["arrays"]
    coef, intercept, classes = arrays["coef"], arrays["intercept"], arrays["classes"]
    logits = np.tile(intercept.astype(np.float64), (len(texts), 1))
    offset = 0  # features are the blocks side by side: column 0's word and char blocks, then column 1's
    for c, (column, blocks) in enumerate(zip(columns, node["blocks"], strict=True)):
        for b, block in enumerate(blocks):
            idf = arrays.get(f"idf.{c}.{b}")
            for row, text in enumerate(column):
                index, value = _tfidf(text, block, idf)
                if len(index):  # sparse: only the row's own terms touch the coefficients
                    logits[row] += coef[:, offset + index] @ value
            offset += len(block["index"])
    out = np.zeros((len(texts), node["classes"]), dtype=np.float32)
    if coef.shape[0] == 1:  # scikit-learn keeps one row of coefficients for two classes
        p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
        out[:, classes[0]], out[:, classes[1]] = 1 - p, p
    else:
        out[:, classes] = _softmax(logits)
    return out


def _tfidf(text: str, block: dict[str, Any], idf: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's TfidfVectorizer.transform of one text, as (feature indices, values)."""
    if block.get("stop_words") is not None or block.get("strip_accents") is not None:
        raise NotImplementedError("stop words and accent stripping are not implemented by this reader")
    vocabulary = block["index"]
    text = text.lower() if block["lowercase"] else text
    grams = _analyze(text, block["analyzer"], block["token_pattern"], block["ngram_range"])
    counts = Counter(g for g in grams if g in vocabulary)
    index = np.fromiter((vocabulary[g] for g in counts), dtype=np.int64, count=len(counts))
    tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    if block["binary"]:
        tf = np.minimum(tf, 1.0)
    value = 1.0 + np.log(tf) if block["sublinear_tf"] else tf
    if idf is not None:
        value = value * idf[index]
    if block["norm"] == "l2" and len(value):
        value = value / max(float(np.sqrt((value**2).sum())), 1e-300)
    elif block["norm"] == "l1" and len(value):
        value = value / max(float(np.abs(value).sum()), 1e-300)
    return index, value


def _analyze(text: str, analyzer: str, token_pattern: str, ngram_range: list[int]) -> list[str]:
    low, high = ngram_range
    if analyzer == "word":
        tokens = re.findall(token_pattern, text)
        grams = []
        for n in range(low, high + 1):
            grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        return grams
    text = _WHITE_SPACES.sub(" ", text)
    if analyzer == "char":
        return [text[i : i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1)]
    grams = []
    for word in text.split():  # char_wb: n-grams inside word boundaries, padded with one space
        word = f" {word} "
        for n in range(low, high + 1):
            offset = 0
            grams.append(word[offset : offset + n])
            while offset + n < len(word):
                offset += 1
                grams.append(word[offset : offset + n])
            if offset == 0:  # a word shorter than n is counted once
                break
    return grams


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


# -- the text repair ratchet applies before every model ---------------------------------------------
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_SPACE = re.compile(r"\s+")


def clean_text(text: Any, clean: dict[str, bool]) -> str:
    if text is None or (isinstance(text, float) and text != text):
        return ""
    text = str(text)
    if clean.get("strip_wrapping_quotes", True):
        stripped = text.strip()
        if len(stripped) >= 2 and stripped[0] == '"' and stripped[-1] == '"':
            k = min(len(stripped) - len(stripped.lstrip('"')), len(stripped) - len(stripped.rstrip('"')))
            inner = stripped[k : len(stripped) - k]
            text = inner if '"' not in inner else text
    if clean.get("unescape_html", True):
        for _ in range(3):
            decoded = _ENTITY.sub(lambda m: html.unescape(m.group(0)), text) if "&" in text else text
            if decoded == text:
                break
            text = decoded
    if clean.get("fix_unicode", True) and not text.isascii():
        try:
            import ftfy

            text = ftfy.fix_text(text, ftfy.TextFixerConfig(unescape_html=False, uncurl_quotes=False,
                                                            fix_character_width=False, fix_line_breaks=False,
                                                            normalization="NFC", explain=False))  # fmt: skip
        except ImportError:
            pass
        text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text)
    if clean.get("collapse_whitespace", True):
        text = _SPACE.sub(" ", text).strip()
    return text
