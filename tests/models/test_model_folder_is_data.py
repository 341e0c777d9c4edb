"""A model folder and a training checkpoint are data, never code.

``ratchet predict RUN`` and ``ratchet run --resume`` read files from a folder someone may have
handed over: a pickle there would run whatever code it names. These tests plant such payloads
(and damaged files) and check that nothing is unpickled and every failure is one RatchetError line.
"""

from __future__ import annotations

import json
import logging
import pickle
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ratchet_testing import synthetic_rows

import ratchet
from ratchet.errors import RatchetError
from ratchet.models import linear_folder as linear
from ratchet.models.linear import LinearTextModel
from ratchet.models.linear_folder import LEGACY_FILE, MODEL_FILE, SPEC_FILE, save_linear
from ratchet.predictor import load_predictor
from ratchet.training import checkpoint as ckpt
from ratchet.training.optim import build_optimizer, build_scheduler

LABELS = ["negative", "neutral", "positive"]


class Payload:
    """Unpickling this object calls ``open(marker, "w")``: the marker file proves code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def assert_one_line_error(exc_info: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(exc_info.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, message


def test_the_payload_runs_code_when_unpickled(tmp_path: Path) -> None:
    """The control: without the safeguards under test, these payloads do create their marker."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()
    marker.unlink()
    torch.save({"loop": Payload(marker)}, tmp_path / "state.pt")
    torch.load(tmp_path / "state.pt", weights_only=False)
    assert marker.exists()


# -- the linear model ---------------------------------------------------------------------------
def split(n: int, seed: int, classes: tuple[str, ...] = tuple(LABELS)) -> tuple[list[str], list[str], np.ndarray]:
    rows = [r for r in synthetic_rows(n, seed=seed) if r["sentiment"] in classes]
    texts = [r["review"] for r in rows]
    pairs = [" ".join(reversed(t.split())) for t in texts]  # a second column with its own vocabulary
    return texts, pairs, np.array([LABELS.index(r["sentiment"]) for r in rows])


def fitted(classes: tuple[str, ...], with_pairs: bool) -> LinearTextModel:
    texts, pairs, y = split(90, seed=11, classes=classes)
    return LinearTextModel(C=2.0).fit(texts, y, len(LABELS), pairs=pairs if with_pairs else None)


@pytest.mark.parametrize("with_pairs", [False, True], ids=["text", "text-pair"])
@pytest.mark.parametrize("classes", [("negative", "positive"), tuple(LABELS)], ids=["2-class", "3-class"])
def test_linear_round_trip_is_exact_and_holds_no_pickle(tmp_path: Path, classes, with_pairs) -> None:
    model = fitted(classes, with_pairs)
    save_linear(model, LABELS, tmp_path / "model", {"backbone": "linear"})
    folder = tmp_path / "model"
    assert (folder / MODEL_FILE).is_file() and not (folder / LEGACY_FILE).exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [MODEL_FILE, SPEC_FILE, "labels.json", "ratchet.json", "config.json", "README.md"]
    )
    for path in folder.iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"
    spec = json.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))
    assert len(spec["columns"]) == (2 if with_pairs else 1)
    assert [block["analyzer"] for block in spec["columns"][0]] == ["word", "char_wb"]

    loaded = linear.load_linear_predictor(folder).model
    texts, pairs, _ = split(40, seed=12)  # unseen texts, every label
    pairs_or_none = pairs if with_pairs else None
    # the rebuilt vectorizers give exactly the fitted ones' matrix
    original_x, loaded_x = model.features(texts, pairs_or_none), loaded.features(texts, pairs_or_none)
    assert original_x.shape == loaded_x.shape and (original_x != loaded_x).nnz == 0
    # the probabilities equal sklearn's own predict_proba on the original model
    expected = model.classifier_.predict_proba(original_x)
    probs = load_predictor(folder).predict_probs(texts, pairs_or_none)
    assert probs.shape == (len(texts), len(LABELS)) and probs.dtype == np.float32
    classes_ids = [LABELS.index(c) for c in classes]
    np.testing.assert_allclose(probs[:, classes_ids], expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(probs, model.predict_proba(texts, pairs_or_none))
    absent = [i for i in range(len(LABELS)) if i not in classes_ids]
    assert np.all(probs[:, absent] == 0)  # a label absent from training keeps probability 0
    assert loaded.C == model.C and loaded.n_labels_ == model.n_labels_ and loaded.params == model.params


def test_a_lone_pickled_linear_model_is_refused_not_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / LEGACY_FILE).write_bytes(pickle.dumps(Payload(marker)))
    (folder / "labels.json").write_text(json.dumps({"labels": LABELS, "kind": "str"}))
    (folder / "ratchet.json").write_text(json.dumps({"kind": "linear"}))
    with pytest.raises(RatchetError) as exc_info:
        linear.load_linear_predictor(folder)
    assert_one_line_error(exc_info, "pickled linear model", "not loaded for safety", "retrain")
    with pytest.raises(RatchetError, match="pickled linear model"):
        load_predictor(folder)
    assert not marker.exists()


def test_a_pickle_next_to_a_real_linear_model_is_ignored(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    model = fitted(tuple(LABELS), with_pairs=False)
    save_linear(model, LABELS, tmp_path / "model", {"backbone": "linear"})
    (tmp_path / "model" / LEGACY_FILE).write_bytes(pickle.dumps(Payload(marker)))
    texts, _, _ = split(10, seed=13)
    np.testing.assert_array_equal(load_predictor(tmp_path / "model").predict_probs(texts), model.predict_proba(texts))
    assert not marker.exists()


@pytest.fixture
def linear_folder(tmp_path: Path) -> Path:
    save_linear(fitted(tuple(LABELS), with_pairs=True), LABELS, tmp_path / "model", {"backbone": "linear"})
    return tmp_path / "model"


@pytest.mark.parametrize("keep", [0.5, 0.02, 0.0])
def test_a_truncated_linear_safetensors_is_a_one_line_error(linear_folder: Path, keep: float) -> None:
    path = linear_folder / MODEL_FILE
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(RatchetError) as exc_info:
        load_predictor(linear_folder)
    assert_one_line_error(exc_info, f"{MODEL_FILE} is damaged", "re-run training or restore the file")


@pytest.mark.parametrize(
    "damage",
    [
        lambda spec: "{not json",
        lambda spec: json.dumps({k: v for k, v in spec.items() if k != "columns"}),
        lambda spec: json.dumps({**spec, "params": {}}),
        lambda spec: json.dumps({**spec, "columns": [[{**spec["columns"][0][0], "analyzer": 3}]]}),
        lambda spec: json.dumps({**spec, "columns": [[{**spec["columns"][0][0], "terms": ["a", "a"]}]]}),
    ],
    ids=["garbled", "no-columns", "no-params", "bad-analyzer", "repeated-terms"],
)
def test_a_broken_linear_json_is_a_one_line_error(linear_folder: Path, damage) -> None:
    path = linear_folder / SPEC_FILE
    path.write_text(damage(json.loads(path.read_text(encoding="utf-8"))), encoding="utf-8")
    with pytest.raises(RatchetError) as exc_info:
        load_predictor(linear_folder)
    assert_one_line_error(exc_info, "is damaged", "re-run training or restore the file")


def test_a_vocabulary_that_does_not_fit_the_arrays_is_a_one_line_error(linear_folder: Path) -> None:
    path = linear_folder / SPEC_FILE
    spec = json.loads(path.read_text(encoding="utf-8"))
    spec["columns"][0][0]["terms"] = spec["columns"][0][0]["terms"][:-1]
    path.write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(RatchetError) as exc_info:
        linear.load_linear_predictor(linear_folder)
    assert_one_line_error(exc_info, f"{MODEL_FILE} is damaged", "idf")


def test_a_broken_labels_or_ratchet_json_is_a_one_line_error(linear_folder: Path) -> None:
    (linear_folder / "labels.json").write_text('{"labels": ["negative"', encoding="utf-8")
    with pytest.raises(RatchetError) as exc_info:
        load_predictor(linear_folder)
    assert_one_line_error(exc_info, "labels.json is damaged")
    (linear_folder / "ratchet.json").write_text("[1, 2", encoding="utf-8")
    with pytest.raises(RatchetError) as exc_info:
        load_predictor(linear_folder)
    assert_one_line_error(exc_info, "ratchet.json is damaged")


# -- transformer folders ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_classifiers(tiny_dirs, tmp_path_factory) -> dict[str, Path]:
    """One ratchet model folder per head: "bert" (the Hugging Face head) and "sbert" (mean pooling)."""
    from ratchet.models.load import load_for_classification, save_classifier

    root = tmp_path_factory.mktemp("saved")
    folders = {}
    for family in ("bert", "sbert"):
        torch.manual_seed(0)
        model, tokenizer = load_for_classification(str(tiny_dirs[family]), ["a", "b"])
        save_classifier(model, tokenizer, ["a", "b"], root / family, {"max_length": 32, "text_pair": False})
        folders[family] = root / family
    return folders


@pytest.fixture
def classifier_copy(saved_classifiers, tmp_path: Path):
    def copy(family: str) -> Path:
        target = tmp_path / family
        shutil.copytree(saved_classifiers[family], target)
        return target

    return copy


@pytest.mark.parametrize(
    ("family", "name"),
    [("bert", "model.safetensors"), ("sbert", "classifier/model.safetensors"), ("sbert", "encoder/model.safetensors")],
)
def test_a_truncated_transformer_safetensors_is_a_one_line_error(classifier_copy, family: str, name: str) -> None:
    folder = classifier_copy(family)
    path = folder / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RatchetError) as exc_info:
        load_predictor(folder)
    assert_one_line_error(exc_info, f"{path} is damaged", "re-run training or restore the file")


@pytest.mark.parametrize("name", ["labels.json", "ratchet.json"])
def test_a_broken_json_in_a_transformer_folder_is_a_one_line_error(classifier_copy, name: str) -> None:
    folder = classifier_copy("bert")
    (folder / name).write_text('{"labels": [', encoding="utf-8")
    from ratchet.models.load import load_classifier

    for load in (load_classifier, load_predictor):
        with pytest.raises(RatchetError) as exc_info:
            load(folder)
        assert_one_line_error(exc_info, f"{name} is damaged")


def test_a_pickled_pytorch_model_bin_is_never_unpickled(classifier_copy, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    beside = classifier_copy("bert")  # next to the real model.safetensors: the safetensors is what loads
    torch.save({"weight": Payload(marker)}, beside / "pytorch_model.bin")
    assert load_predictor(beside).predict_probs(["great drug"]).shape == (1, 2)
    alone = classifier_copy("sbert") / "encoder"  # instead of it (the mean-head model's encoder): refused
    (alone / "model.safetensors").unlink()
    torch.save({"weight": Payload(marker)}, alone / "pytorch_model.bin")
    alone = alone.parent
    with pytest.raises(RatchetError) as exc_info:
        load_predictor(alone)
    assert_one_line_error(exc_info, "cannot be loaded", "re-run training or restore the folder")
    assert not marker.exists()


# -- training checkpoints -----------------------------------------------------------------------
def _training_objects():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    optimizer = build_optimizer(model, 1e-2, 0.01, torch.device("cpu"))
    scheduler = build_scheduler(optimizer, 10, 2)
    model(torch.randn(5, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    return model, optimizer, scheduler


def test_a_checkpoint_loads_weights_only_and_restores_numpy_and_rng_state(tmp_path: Path) -> None:
    model, optimizer, scheduler = _training_objects()
    probs = np.random.default_rng(0).random((6, 3)).astype(np.float32)
    loop = {"fingerprint": "f", "step": 3, "best_probs": probs, "best_score": np.float64(0.25), "history": [{"a": 1.5}]}
    np.random.seed(5)
    random.seed(5)
    torch.manual_seed(5)
    ckpt.save_state(tmp_path, model, optimizer, scheduler, loop)
    expected = (np.random.random(3), [random.random() for _ in range(3)], torch.rand(3))

    torch.load(tmp_path / ckpt.STATE, map_location="cpu", weights_only=True)  # the plain safe loader reads it
    saved = ckpt.load_state(tmp_path)
    assert saved is not None
    assert isinstance(saved["loop"]["best_probs"], np.ndarray) and saved["loop"]["best_probs"].dtype == np.float32
    np.testing.assert_array_equal(saved["loop"]["best_probs"], probs)
    assert saved["loop"]["best_score"] == 0.25 and isinstance(saved["loop"]["best_score"], np.float64)
    assert saved["loop"]["history"] == [{"a": 1.5}] and saved["loop"]["step"] == 3
    _, fresh_optimizer, fresh_scheduler = _training_objects()
    fresh_optimizer.load_state_dict(saved["optimizer"])
    fresh_scheduler.load_state_dict(saved["scheduler"])
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()
    np.random.seed(99)
    random.seed(99)
    torch.manual_seed(99)
    ckpt.restore_rng_states(saved["rng"])
    np.testing.assert_array_equal(np.random.random(3), expected[0])
    assert [random.random() for _ in range(3)] == expected[1]
    assert torch.equal(torch.rand(3), expected[2])


def test_a_crafted_checkpoint_is_not_unpickled_and_counts_as_none(tmp_path: Path, caplog) -> None:
    marker = tmp_path / "pwned"
    model, optimizer, scheduler = _training_objects()
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict(), "rng": {}, "loop": {"x": Payload(marker)}}  # fmt: skip
    torch.save(payload, tmp_path / ckpt.STATE)
    with caplog.at_level(logging.WARNING, logger="ratchet"):
        assert ckpt.load_state(tmp_path) is None
    assert not marker.exists()
    assert "ignoring damaged checkpoint" in caplog.text


@pytest.mark.parametrize("damage", ["truncated", "garbage", "not-a-state"])
def test_a_damaged_checkpoint_counts_as_none_with_a_warning(tmp_path: Path, caplog, damage: str) -> None:
    model, optimizer, scheduler = _training_objects()
    ckpt.save_state(tmp_path, model, optimizer, scheduler, {"fingerprint": "f", "step": 1})
    path = tmp_path / ckpt.STATE
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-200])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    else:
        torch.save([1, 2, 3], path)
    with caplog.at_level(logging.WARNING, logger="ratchet"):
        assert ckpt.load_state(tmp_path) is None
    assert "training starts from scratch" in caplog.text


# -- the source itself --------------------------------------------------------------------------
def _calls(text: str, name: str) -> list[str]:
    """The argument text of every ``name(...)`` call in ``text`` (balanced parentheses)."""
    found = []
    for match in re.finditer(re.escape(name) + r"\(", text):
        depth, end = 1, match.end()
        while depth and end < len(text):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        found.append(text[match.end() : end - 1])
    return found


def test_the_source_never_unpickles() -> None:
    sources = sorted(Path(ratchet.__file__).parent.rglob("*.py"))
    assert len(sources) > 20
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for banned in ("joblib.load", "pickle.load", "import joblib", "from joblib", "trust_remote_code=True"):
            assert banned not in text, f"{path}: {banned}"
        assert "weights_only=False" not in text, path
        for args in _calls(text, "torch.load"):
            assert "weights_only=True" in args, f"{path}: torch.load({args})"
