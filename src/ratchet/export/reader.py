"""Run a model exported by ``ratchet export`` with onnxruntime, numpy and tokenizers only.

This file is copied into every export folder as ``ratchet_onnx.py`` and imports nothing of
ratchet, so a service can run the model without installing ratchet or PyTorch::

    from ratchet_onnx import ExportedModel

    model = ExportedModel("export/")
    model.predict(["some text"])         # labels (a multi-label model: one list of labels per text)
    model.predict_proba(["some text"])   # calibrated probabilities, one column per model.labels

It reproduces ``ratchet predict``: the same text repair, each model's graph (or, for the TF-IDF
baseline, its arrays), ensemble weights, the temperature and the class biases of
``decision.json``. A multi-label model (``model.multilabel``) has independent sigmoid probabilities,
its temperature scales each label's logit, and a label is predicted where its probability reaches
its threshold (``model.thresholds``). Texts are repaired as ratchet repairs them (wrapping quotes, HTML entities,
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
BATCH_COST = 16
"""What one more onnxruntime call costs, in padded tokens' worth of work. Lower than PyTorch's 64 (ratchet's
CPU_BATCH_COST_TOKENS): a call costs little more than its tokens. Measured on 2 cores, texts/s at 64 texts a
call, 16 against 64: int8 tweets (33 tokens) 181 against 164 on one thread and 351 against 314 on two; int8
TREC 490 against 425; fp32 tweets 104 against 100; int8 demo reviews (two threads) 106 against 97."""


class ExportedModel:
    def __init__(self, folder: str | Path, providers: list[str] | None = None, threads: int | None = None) -> None:
        """``threads``: onnxruntime's intra-op threads (default: its own choice, one per core)."""
        self.folder = Path(folder)
        spec = json.loads((self.folder / "export.json").read_text(encoding="utf-8"))
        self.labels: list = spec["labels"]
        self.text_pair: bool = bool(spec.get("text_pair"))
        self.clean: dict[str, bool] = spec.get("clean", {})
        self.multilabel: bool = spec.get("task") == "multilabel"
        self.thresholds: list[float] | None = spec.get("thresholds") if self.multilabel else None
        self.quantize: str = spec.get("quantize", "none")  # "int8": the graphs' weights are int8
        self.root = _node(self.folder, spec["model"], providers or ["CPUExecutionProvider"], threads)

    def predict_proba(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        texts = [clean_text(t, self.clean) for t in texts]
        pairs = None if pairs is None else [clean_text(t, self.clean) for t in pairs]
        return _calibrated(self.root, texts, pairs)

    def predict(self, texts: list[str], pairs: list[str] | None = None) -> list:
        probs = self.predict_proba(texts, pairs)
        if self.multilabel:  # label sets, in label order; empty where no label reaches its threshold
            chosen = probs >= np.asarray(self.thresholds, dtype=np.float64)
            return [[self.labels[j] for j in np.flatnonzero(row)] for row in chosen]
        bias = self.root["decision"].get("bias")
        scores = np.log(np.clip(probs, FLOOR, None)) + (0.0 if bias is None else np.asarray(bias))
        return [self.labels[i] for i in scores.argmax(axis=1)]


# -- the model tree --------------------------------------------------------------------------------
def _node(folder: Path, spec: dict[str, Any], providers: list[str], threads: int | None) -> dict[str, Any]:
    node = dict(spec)
    if spec["kind"] in ("ensemble", "routed"):
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
        if spec.get("windowing"):  # whole texts, cut into windows below (ratchet's chunk step)
            tokenizer.no_truncation()
        else:
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
    elif kind == "routed":
        probs = _routed(node, texts, pairs)
    elif kind == "onnx":
        probs = _run_graph(node, texts, pairs)
    else:
        probs = _linear(node, texts, pairs)
    temperature = float(node["decision"].get("temperature", 1.0))
    probs = np.asarray(probs, dtype=np.float32)
    if temperature == 1.0 or not len(probs):
        return probs
    if node["decision"].get("multilabel"):  # sigmoid(logit p / T), label by label
        p = np.clip(probs.astype(np.float64), FLOOR, 1 - FLOOR)
        return _sigmoid(np.log(p / (1 - p)) / temperature)
    return _softmax(np.log(np.clip(probs, FLOOR, None)) / temperature)


def _run_graph(node: dict[str, Any], texts: list[str], pairs: list[str] | None) -> np.ndarray:
    """Rows sorted by length and batched, so padding stays small; probabilities in the input order."""
    tokenizer = node["tokenizer"]
    batch = texts if pairs is None else list(zip(texts, pairs, strict=True))
    encodings = tokenizer.encode_batch(batch)
    rows = [(e.ids, e.type_ids) for e in encodings]
    windowing = node.get("windowing")
    if not windowing:
        return _run_rows(node, rows, pairs is not None)
    doc, content, windows = [], [], []
    for i, e in enumerate(encodings):
        for ids, types, n in _windows(e, int(node["max_length"]), windowing, pairs is not None):
            windows.append((ids, types))
            doc.append(i)
            content.append(n)
    probs = _run_rows(node, windows, pairs is not None)
    return _pool(probs, np.asarray(doc, dtype=np.int64), len(texts), windowing["aggregation"], np.asarray(content))


def _run_rows(node: dict[str, Any], inputs: list[tuple[list[int], list[int]]], pairs: bool) -> np.ndarray:
    session = node["session"]
    out = np.zeros((len(inputs), node["classes"]), dtype=np.float32)
    for rows in _batches(np.array([len(ids) for ids, _ in inputs], dtype=np.int64)):
        width = max(len(inputs[i][0]) for i in rows)
        ids = np.full((len(rows), width), node["pad_id"], dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            n = len(inputs[i][0])
            ids[r, :n], mask[r, :n] = inputs[i][0], 1
            if pairs:
                types[r, :n] = inputs[i][1]
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        out[rows] = session.run(None, {name: feed[name] for name in node["inputs"]})[0]
    return out


def _batches(lengths: np.ndarray) -> list[np.ndarray]:
    """The split of the length-sorted rows that costs least, a batch costing BATCH_COST padded tokens plus its
    rows x its longest row, at most BATCH_ROWS rows each: short texts are never padded to the length of long
    ones, however few rows come in (ratchet's own inference_batches, copied so this file needs only numpy)."""
    order = np.argsort(lengths, kind="stable")
    widths = lengths[order]
    best = np.zeros(len(order) + 1)
    start_of = np.zeros(len(order) + 1, dtype=np.int64)
    for end in range(1, len(order) + 1):
        starts = np.arange(max(0, end - BATCH_ROWS), end)
        costs = best[starts] + BATCH_COST + (end - starts) * int(widths[end - 1])
        pick = int(np.argmin(costs))
        best[end], start_of[end] = costs[pick], starts[pick]
    batches, end = [], len(order)
    while end > 0:
        batches.append(order[start_of[end] : end])
        end = int(start_of[end])
    return batches[::-1]


def _routed(node: dict[str, Any], texts: list[str], pairs: list[str] | None) -> np.ndarray:
    """Texts of at most ``window`` tokens (the windowed member's tokenizer, special tokens included) go to the
    first member, longer ones to the second, the windowed one; with ``long_weight`` below 1 the longer ones get
    that weight x the second's probabilities + the rest x the first's (ratchet/models/routed.py)."""
    short, long = node["members"]
    weight = float(node.get("long_weight", 1.0))
    batch = texts if pairs is None else list(zip(texts, pairs, strict=True))
    is_long = np.array([len(e.ids) > int(node["window"]) for e in long["tokenizer"].encode_batch(batch)], dtype=bool)

    def read(member: dict[str, Any], rows: np.ndarray) -> np.ndarray:
        return _calibrated(member, [texts[i] for i in rows], None if pairs is None else [pairs[i] for i in rows])

    out = np.zeros((len(texts), node["classes"]), dtype=np.float32)
    short_rows = np.flatnonzero(~is_long) if weight == 1.0 else np.arange(len(texts))  # mixing: it reads all
    long_rows = np.flatnonzero(is_long)
    if len(short_rows):
        out[short_rows] = read(short, short_rows)
    if len(long_rows):
        probs = read(long, long_rows)
        out[long_rows] = probs if weight == 1.0 else weight * probs + (1.0 - weight) * out[long_rows]
    return out


# -- long texts in windows (ratchet's chunk step: ratchet/chunking/windows.py and aggregate.py) -------------
def _spans(n: int, room: int, stride: int) -> list[tuple[int, int]]:
    """[start, stop) spans of at most ``room`` tokens, ``stride`` apart (0: half the room), covering 0..n."""
    if n <= room:
        return [(0, n)]
    step = max(1, min(stride, room) if stride > 0 else room // 2)
    return [(s, s + room) for s in [*range(0, n - room, step), n - room]]


def _pair_spans(na: int, nb: int, room: int, stride: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    if na + nb <= room:
        return [((0, na), (0, nb))]
    half = room // 2
    if nb <= half:
        return [(span, (0, nb)) for span in _spans(na, room - nb, stride)]
    if na <= half:
        return [((0, na), span) for span in _spans(nb, room - na, stride)]
    first, second = _spans(na, half, stride), _spans(nb, room - half, stride)
    n = max(len(first), len(second))
    return [(first[round(i * (len(first) - 1) / max(n - 1, 1))], second[round(i * (len(second) - 1) / max(n - 1, 1))])
            for i in range(n)]  # fmt: skip


def _head_tail(n: int, room: int, share: float) -> list[tuple[int, int]]:
    """The whole segment when it fits, else its first round(room x share) tokens and its last ones."""
    if n <= room:
        return [(0, n)]
    head = min(room, max(0, round(room * share)))
    return [span for span in ((0, head), (n - (room - head), n)) if span[1] > span[0]]


def _head_tail_layout(na: int, nb: int, room: int, share: float, pair: bool) -> list:
    if not pair:
        return [(_head_tail(na, room, share), [])]
    if na + nb <= room:
        return [([(0, na)], [(0, nb)])]
    half = room // 2
    if nb <= half:
        return [(_head_tail(na, room - nb, share), [(0, nb)])]
    if na <= half:
        return [([(0, na)], _head_tail(nb, room - na, share))]
    return [(_head_tail(na, half, share), _head_tail(nb, room - half, share))]


def _windows(encoding: Any, max_length: int, windowing: dict[str, Any], pair: bool) -> list:
    """(ids, type ids, content tokens) of each window (or the one head+tail row: ``cut``): every special token,
    spans of each segment's tokens."""
    segment = [-1 if s is None else s for s in encoding.sequence_ids]
    index, seen = [], [0, 0]
    for s in segment:
        index.append(-1 if s < 0 else seen[s])
        if s >= 0:
            seen[s] += 1
    room, stride = max(max_length - segment.count(-1), 1), int(windowing["stride"])
    cut = windowing.get("cut", "windows")
    if cut not in ("windows", "head_tail"):
        raise ValueError(f"unknown windowing cut {cut!r} in export.json: export the model again with this ratchet")
    if cut == "head_tail":
        layouts = _head_tail_layout(seen[0], seen[1], room, float(windowing["head_share"]), pair)
    elif pair:
        layouts = [([a], [b]) for a, b in _pair_spans(seen[0], seen[1], room, stride)]
    else:
        layouts = [([a], []) for a in _spans(seen[0], room, stride)]
    out = []
    for layout in layouts:
        keep = [k for k, (s, j) in enumerate(zip(segment, index, strict=True))
                if s < 0 or any(a <= j < b for a, b in layout[s])]  # fmt: skip
        sizes = sum(b - a for part in layout for a, b in part)
        out.append(([encoding.ids[k] for k in keep], [encoding.type_ids[k] for k in keep], sizes))
    return out


def _pool(probs: np.ndarray, doc: np.ndarray, n_docs: int, how: str, content: np.ndarray) -> np.ndarray:
    """One row per text from its windows' probabilities: mean, max, tokens- or confidence-weighted mean."""
    probs = probs.astype(np.float64)
    if how == "max":
        pooled = np.full((n_docs, probs.shape[1]), -np.inf)
        np.maximum.at(pooled, doc, probs)
        return (pooled / pooled.sum(axis=1, keepdims=True)).astype(np.float32)
    weights = {"mean": np.ones(len(probs)), "tokens": np.maximum(content.astype(np.float64), 1.0),
               "confidence": probs.max(axis=1) if len(probs) else np.ones(0)}[how]  # fmt: skip
    sums = np.zeros((n_docs, probs.shape[1]))
    np.add.at(sums, doc, np.log(np.maximum(probs, FLOOR)) * weights[:, None])
    total = np.zeros(n_docs)
    np.add.at(total, doc, weights)
    return _softmax(sums / np.maximum(total, FLOOR)[:, None])


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
    if node.get("one_vs_rest"):  # label sets: one binary logistic regression per label
        return _sigmoid(logits)
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


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


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
