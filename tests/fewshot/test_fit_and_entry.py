"""When the few-shot candidate enters, and one fit of it: learns, ships in the usual folder, predicts the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ratchet.data.frames import Split
from ratchet.fewshot.entry import decide_entry
from ratchet.fewshot.fit import embed, fit_fewshot, mean_pooling_backbone
from ratchet.fewshot.params import FewShotParams
from ratchet.finetuning.finetune import TaskData
from ratchet.models.tiny import toy_dataset

# A tiny encoder has no pretrained prior: it needs more rows and a higher learning rate than the real one.
SMALL = FewShotParams(pairs_per_row=20, max_pairs=600, learning_rate=1e-2, max_length=32, frozen_layers=0)


def _entry(params: FewShotParams, counts: list[int], backbones: list[str] | None = None, pairs: bool = False):
    labels = np.repeat(np.arange(len(counts)), counts)
    return decide_entry(params, labels, len(counts), backbones or ["enc"], text_pairs=pairs,
                        mean_pooling=lambda name: name == "enc")  # fmt: skip


def test_the_candidate_enters_only_when_the_smallest_and_the_median_class_are_under_their_thresholds() -> None:
    auto = FewShotParams()
    entered = _entry(auto, [60, 39, 63])
    assert entered.name == "fewshot:enc"
    assert "39 training rows, fewer than fewshot.enter_below=40, and the median class 60" in entered.reason
    assert _entry(auto, [60, 40, 63]).name is None  # 40 is not fewer than 40
    # One rare class among ample ones is imbalance, not few-shot data.
    imbalanced = _entry(auto, [500, 5, 900])
    assert imbalanced.name is None and "median class has 500 training rows" in imbalanced.reason
    assert _entry(auto, [5, 30, 64, 900]).name == "fewshot:enc"  # median (30 + 64) / 2 = 47
    assert _entry(auto, [5, 64, 64, 900]).name is None  # median 64 is not fewer than 64
    assert _entry(FewShotParams(median_below=1000), [500, 5, 900]).name == "fewshot:enc"
    assert _entry(FewShotParams(enter_below=10), [20, 30]).name is None
    assert _entry(FewShotParams(enter="never"), [3, 3]).name is None
    assert _entry(FewShotParams(enter="always"), [5000, 5000]).name == "fewshot:enc"
    # A class with no training row at all is the smallest class (0 rows).
    assert _entry(auto, [100, 0]).name == "fewshot:enc"


def test_it_needs_single_texts_and_a_mean_pooling_backbone_and_takes_the_first_one() -> None:
    assert "sentence-pair" in _entry(FewShotParams(), [5, 5], pairs=True).reason
    refused = _entry(FewShotParams(), [5, 5], backbones=["cls-model"])
    assert refused.name is None and "mean-pooling" in refused.reason
    assert _entry(FewShotParams(), [5, 5], backbones=["cls-model", "enc"]).backbone == "enc"


def test_only_sentence_encoders_read_through_the_mean_are_candidates(tiny_dirs) -> None:
    assert mean_pooling_backbone(str(tiny_dirs["sbert"])) and mean_pooling_backbone("default")
    assert not mean_pooling_backbone(str(tiny_dirs["bert"]))
    assert not mean_pooling_backbone("/no/such/folder")


def _task(n_train: int, n_valid: int) -> TaskData:
    def split(n: int, seed: int) -> Split:
        texts, labels = toy_dataset(n, seed=seed)
        return Split(texts, None, labels, None)

    return TaskData(split(n_train, 1), split(n_valid, 2), ["bad", "good"])


def test_a_fit_learns_the_task_and_its_head_is_the_regression_on_its_embeddings(tiny_dirs) -> None:
    from sklearn.linear_model import LogisticRegression

    from ratchet.training.encode import encode

    data = _task(60, 60)
    fit = fit_fewshot(str(tiny_dirs["sbert"]), data, SMALL, device="cpu", seed=0)
    assert fit.info["pairs"] == 600 and fit.info["positive_pairs"] == 300  # capped: 2 x 20 x 60 = 2400 drawable
    accuracy = float((fit.valid_probs.argmax(1) == data.valid.label_ids).mean())
    assert accuracy > 0.85  # the cue word decides
    # The shipped head is exactly the logistic regression refit on the tuned encoder's embeddings.
    train_enc = encode(fit.tokenizer, data.train.texts, None, SMALL.max_length)
    valid_enc = encode(fit.tokenizer, data.valid.texts, None, SMALL.max_length)
    embeddings = embed(fit.model, train_enc, torch.device("cpu"), fit.tokenizer.pad_token_id)
    regression = LogisticRegression(C=SMALL.head_c, max_iter=2000, class_weight="balanced").fit(
        embeddings, data.train.label_ids
    )
    valid_embeddings = embed(fit.model, valid_enc, torch.device("cpu"), fit.tokenizer.pad_token_id)
    np.testing.assert_allclose(fit.valid_probs, regression.predict_proba(valid_embeddings), atol=1e-4)


def test_frozen_lower_layers_stay_pretrained_and_the_top_ones_move(tiny_dirs) -> None:
    from ratchet.models.load import load_for_classification

    pretrained, _ = load_for_classification(str(tiny_dirs["sbert"]), ["bad", "good"], head="mean")
    params = FewShotParams(pairs_per_row=4, max_pairs=100, learning_rate=1e-3, max_length=32, frozen_layers=1)
    fit = fit_fewshot(str(tiny_dirs["sbert"]), _task(20, 4), params, device="cpu", seed=0)
    before, after = pretrained.encoder.encoder.layer, fit.model.encoder.encoder.layer
    assert torch.equal(before[0].output.dense.weight, after[0].output.dense.weight)
    assert not torch.equal(before[-1].output.dense.weight, after[-1].output.dense.weight)


def test_the_saved_model_predicts_what_the_fit_judged_through_load_predictor(tiny_dirs, tmp_path) -> None:
    from ratchet.fewshot.crossfit import fewshot_meta
    from ratchet.fsutil import read_json
    from ratchet.models.load import save_classifier
    from ratchet.predictor import load_predictor

    data = _task(24, 30)
    fit = fit_fewshot(str(tiny_dirs["sbert"]), data, SMALL, device="cpu", seed=0)
    out = tmp_path / "model"
    save_classifier(fit.model, fit.tokenizer, data.labels, out, fewshot_meta("tiny", SMALL, 0))
    meta = read_json(out / "ratchet.json")
    assert (meta["head"], meta["method"], meta["max_length"]) == ("mean", "fewshot", 32)
    assert (out / "modules.json").is_file()  # the usual sentence-transformers folder, no format of its own
    predictor = load_predictor(out)
    probs = predictor.predict_probs(data.valid.texts, None)
    np.testing.assert_allclose(probs, fit.valid_probs, atol=1e-5)


@pytest.mark.parametrize(
    "bad", [{"enter": "sometimes"}, {"max_pairs": 0}, {"median_below": 0}, {"head_c": 0.0}, {"frozen_layers": -2}]
)
def test_bad_settings_are_one_line_errors(bad) -> None:
    from ratchet.errors import RatchetError

    with pytest.raises(RatchetError, match="fewshot"):
        FewShotParams(**bad)
