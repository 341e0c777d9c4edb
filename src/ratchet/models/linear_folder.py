"""The linear model's folder: data only, never a pickle, so loading a shared run folder runs no code.

- ``model.safetensors``: the arrays: ``idf.<column>.<block>`` per TF-IDF vectorizer (column 0
  is the text, 1 the text pair; block 0 word n-grams, 1 char n-grams), and the logistic
  regression's ``coef``, ``intercept``, ``classes``;
- ``linear.json``: the vocabularies (each a list of terms in column order: term i is feature i)
  and every setting that changes ``transform`` or ``predict_proba``, plus C, seed, n_labels, params;
- ``labels.json`` and ``ratchet.json`` (kind "linear").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.data.frames import labels_record
from ratchet.errors import RatchetError
from ratchet.fsutil import atomic_dir, atomic_write, write_json, write_text
from ratchet.models.folder_layout import refuse_auto_loading
from ratchet.models.linear import LinearParams, LinearTextModel

log = logging.getLogger("ratchet")

MODEL_FILE = "model.safetensors"
SPEC_FILE = "linear.json"
LEGACY_FILE = "model.joblib"
"""The pickle older ratchets wrote: refused with a RatchetError, never unpickled."""
FORMAT = 1
CHUNK_ROWS = 8192
# The TfidfVectorizer settings that change ``transform``; anything else (min_df, max_features, ...)
# only matters for fitting. ``input`` stays "content": a stored "filename" would make transform open files.
_VECTORIZER_KEYS = (
    "analyzer", "ngram_range", "lowercase", "token_pattern", "strip_accents", "stop_words", "binary",
    "norm", "use_idf", "smooth_idf", "sublinear_tf",
)  # fmt: skip


def save_linear(model: LinearTextModel, labels: list, out_dir: Path, meta: dict[str, Any]) -> None:
    """Write the folder atomically: model.safetensors + linear.json + labels.json + ratchet.json (kind "linear")."""
    from safetensors.numpy import save_file

    arrays, spec = _to_data(model)

    def build(tmp: Path) -> None:
        atomic_write(tmp / MODEL_FILE, lambda path: save_file(arrays, str(path), metadata={"format": str(FORMAT)}))
        # Compact: the vocabularies hold up to max_features terms per block, indentation would double the file.
        write_text(tmp / SPEC_FILE, json.dumps(spec, separators=(",", ":")) + "\n")
        write_json(tmp / "labels.json", labels_record(labels))
        task = {"task": "multilabel"} if model.multilabel else {}  # predictors decide label sets
        write_json(tmp / "ratchet.json", {**meta, "kind": "linear", "text_pair": len(model.vectorizers_) == 2, **task})
        refuse_auto_loading(tmp, "linear")

    atomic_dir(Path(out_dir), build)


def _to_data(model: LinearTextModel) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A fitted model -> (arrays for safetensors, JSON-able spec): everything predict_proba needs."""
    classifier = model.classifier_
    arrays = {
        "coef": np.ascontiguousarray(classifier.coef_),
        "intercept": np.ascontiguousarray(classifier.intercept_),
        "classes": np.ascontiguousarray(classifier.classes_, dtype=np.int64),
    }
    columns = []
    for c, vecs in enumerate(model.vectorizers_):
        blocks = []
        for b, vec in enumerate(vecs):
            blocks.append(_vectorizer_spec(vec))
            if vec.use_idf:
                arrays[f"idf.{c}.{b}"] = np.ascontiguousarray(vec.idf_)
        columns.append(blocks)
    p = model.params
    spec = {
        "format": FORMAT,
        "C": float(model.C),
        "seed": int(model.seed),
        "n_labels": int(model.n_labels_),
        **({"multilabel": True} if model.multilabel else {}),
        "params": {
            "word_ngrams": list(p.word_ngrams), "char_ngrams": list(p.char_ngrams), "max_features": p.max_features,
            "c_grid": list(p.c_grid), "class_weight": p.class_weight,
        },
        "columns": columns,
    }  # fmt: skip
    return arrays, spec


def _vectorizer_spec(vec: Any) -> dict[str, Any]:
    if vec.preprocessor is not None or vec.tokenizer is not None or not isinstance(vec.analyzer, str):
        raise RatchetError("a linear model with a custom analyzer cannot be saved as data: use the built-in analyzers")
    terms = [""] * len(vec.vocabulary_)
    for term, column in vec.vocabulary_.items():
        terms[int(column)] = term
    spec = {key: getattr(vec, key) for key in _VECTORIZER_KEYS}
    spec["ngram_range"] = list(vec.ngram_range)
    if spec["stop_words"] is not None and not isinstance(spec["stop_words"], str):
        spec["stop_words"] = sorted(spec["stop_words"])
    spec["dtype"] = np.dtype(vec.dtype).name
    spec["terms"] = terms
    return spec


@dataclass
class LinearPredictor:
    model: LinearTextModel
    labels: list
    meta: dict[str, Any]

    def predict_probs(
        self, texts: list[str], pairs: list[str] | None = None, on_rows: Callable[[int], None] | None = None
    ) -> np.ndarray:
        # Chunked like the transformer predictor: sparse matrices of 100k rows of char n-grams are large.
        chunks = []
        for start in range(0, len(texts), CHUNK_ROWS):
            stop = start + CHUNK_ROWS
            chunks.append(self.model.predict_proba(texts[start:stop], None if pairs is None else pairs[start:stop]))
            if on_rows is not None:
                on_rows(len(chunks[-1]))
        if not chunks:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return np.concatenate(chunks)


def load_linear_predictor(model_dir: str | Path) -> LinearPredictor:
    """A folder written by save_linear -> predictor with .labels, .meta and .predict_probs.

    Only safetensors and JSON are read: a ``model.joblib`` (a pickle, written by older ratchets or
    planted in a run folder) is never unpickled, since unpickling runs whatever code the file names.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from ratchet.models.load import damaged, read_folder_json

    model_dir = Path(model_dir)
    path = model_dir / MODEL_FILE
    if not path.is_file() and (model_dir / LEGACY_FILE).is_file():
        raise RatchetError(
            f"{model_dir} holds a pickled linear model ({LEGACY_FILE}) from an older ratchet, which is not loaded "
            "for safety: retrain it with ratchet run DATA --out RUN --overwrite"
        )
    if not path.is_file() or not (model_dir / "labels.json").is_file() or not (model_dir / SPEC_FILE).is_file():
        raise RatchetError(f"{model_dir} is not a linear ratchet model ({MODEL_FILE} missing): pass RUN/model")
    if (model_dir / LEGACY_FILE).is_file():
        log.warning("%s: ignoring %s (a pickle, never loaded); the model is read from %s", model_dir, LEGACY_FILE,
                    MODEL_FILE)  # fmt: skip
    try:
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise damaged(path, exc) from None
    spec = read_folder_json(model_dir / SPEC_FILE, "format", "columns")
    if spec["format"] != FORMAT:
        raise RatchetError(f"{model_dir / SPEC_FILE} has format {spec['format']!r}, not {FORMAT}: upgrade ratchet")
    try:
        model = _from_data(arrays, spec)
    except _BadArrays as exc:
        raise damaged(path, exc) from None
    except KeyError as exc:
        raise damaged(model_dir / SPEC_FILE, f"no field {exc}") from None
    except (TypeError, ValueError) as exc:  # a field of the wrong type or value
        raise damaged(model_dir / SPEC_FILE, exc) from None
    labels = read_folder_json(model_dir / "labels.json", "labels")["labels"]
    if not isinstance(labels, list) or len(labels) != model.n_labels_:
        raise damaged(model_dir / "labels.json", f"expected {model.n_labels_} labels")
    return LinearPredictor(model, labels, read_folder_json(model_dir / "ratchet.json"))


class _BadArrays(ValueError):
    """model.safetensors lacks an array or holds one of the wrong shape for linear.json."""


def _from_data(arrays: dict[str, np.ndarray], spec: dict[str, Any]) -> LinearTextModel:
    """The inverse of _to_data; checks shapes so a mismatched file fails here, not mid-prediction."""
    p = spec["params"]
    params = LinearParams(
        word_ngrams=_int_pair(p["word_ngrams"]), char_ngrams=_int_pair(p["char_ngrams"]),
        max_features=int(p["max_features"]), c_grid=tuple(float(c) for c in p["c_grid"]),
        class_weight=_optional(p["class_weight"], str),
    )  # fmt: skip
    model = LinearTextModel(params, C=float(spec["C"]), seed=int(spec["seed"]))
    model.n_labels_ = int(spec["n_labels"])
    columns = spec["columns"]
    if not isinstance(columns, list) or len(columns) not in (1, 2):
        raise ValueError("columns must list 1 or 2 text columns")
    model.vectorizers_ = [
        [_vectorizer(block, arrays.get(f"idf.{c}.{b}")) for b, block in enumerate(blocks)]
        for c, blocks in enumerate(columns)
    ]
    n_features = sum(len(block["terms"]) for blocks in columns for block in blocks)

    missing = [name for name in ("coef", "intercept", "classes") if name not in arrays]
    if missing:
        raise _BadArrays(f"no array {', '.join(missing)}")
    coef, intercept, classes = arrays["coef"], arrays["intercept"], arrays["classes"]
    if spec.get("multilabel"):
        return _one_vs_rest(model, coef, intercept, n_features)
    # sklearn keeps one row of coefficients for 2 classes (the second class's logit), one per class above.
    rows = 1 if len(classes) == 2 else len(classes)
    if coef.shape != (rows, n_features) or intercept.shape != (rows,) or classes.ndim != 1:
        raise _BadArrays(f"coef {coef.shape} / intercept {intercept.shape} do not fit {n_features} features")
    valid = np.issubdtype(classes.dtype, np.integer) and len(classes) >= 2 and np.all(np.diff(classes) > 0)
    if not valid or classes[0] < 0 or classes[-1] >= model.n_labels_:
        raise _BadArrays(f"classes {classes.tolist()} are not sorted label ids below {model.n_labels_}")
    classifier = model.new_classifier()
    classifier.coef_, classifier.intercept_, classifier.classes_ = coef, intercept, classes
    classifier.n_features_in_ = n_features
    model.classifier_ = classifier
    return model


def _one_vs_rest(model: LinearTextModel, coef: np.ndarray, intercept: np.ndarray, n_features: int) -> LinearTextModel:
    if coef.shape != (model.n_labels_, n_features) or intercept.shape != (model.n_labels_,):
        raise _BadArrays(f"coef {coef.shape} / intercept {intercept.shape} do not fit {n_features} features")
    classifier = model.new_classifier(multilabel=True)
    classifier.coef_, classifier.intercept_ = coef, intercept
    classifier.classes_ = np.arange(model.n_labels_, dtype=np.int64)
    model.classifier_ = classifier
    return model


def _vectorizer(spec: dict[str, Any], idf: np.ndarray | None) -> Any:
    """A TfidfVectorizer rebuilt from its vocabulary and idf: ``transform`` equals the fitted one's exactly."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    analyzer = spec["analyzer"]
    if analyzer not in ("word", "char", "char_wb") or spec["dtype"] not in ("float32", "float64"):
        raise ValueError(f"unknown analyzer {analyzer!r} or dtype {spec['dtype']!r}")
    terms = spec["terms"]
    if not isinstance(terms, list) or not terms or not all(isinstance(t, str) for t in terms):
        raise ValueError("terms must be a non-empty list of strings")
    if len(set(terms)) != len(terms):
        raise ValueError("terms repeat")
    stop_words = spec["stop_words"]
    if stop_words is not None and not isinstance(stop_words, str):
        stop_words = [str(w) for w in stop_words]
    vec = TfidfVectorizer(
        analyzer=analyzer, ngram_range=_int_pair(spec["ngram_range"]), lowercase=bool(spec["lowercase"]),
        token_pattern=_optional(spec["token_pattern"], str), strip_accents=_optional(spec["strip_accents"], str),
        stop_words=stop_words, binary=bool(spec["binary"]), norm=_optional(spec["norm"], str),
        use_idf=bool(spec["use_idf"]), smooth_idf=bool(spec["smooth_idf"]), sublinear_tf=bool(spec["sublinear_tf"]),
        dtype=np.dtype(spec["dtype"]).type, vocabulary=terms,
    )  # fmt: skip
    if vec.use_idf:
        if idf is None or idf.shape != (len(terms),):
            raise _BadArrays(f"idf does not match a vocabulary of {len(terms)} terms")
        vec.idf_ = idf  # builds the fitted TfidfTransformer; also turns `terms` into vocabulary_ (term -> index)
    return vec


def _int_pair(value: Any) -> tuple[int, int]:
    low, high = value
    return int(low), int(high)


def _optional(value: Any, kind: type) -> Any:
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__} or null, got {type(value).__name__}")
    return value
