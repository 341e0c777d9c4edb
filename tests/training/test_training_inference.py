import numpy as np
import pytest
import torch
from tiny_fixtures import FakeProgress

from ratchet.training.inference import predict_probs


@pytest.mark.parametrize("family", ["bert", "sbert", "gpt2", "t5"])
def test_predict_restores_input_order(task, family):
    t = task(family)
    model, valid = t["model"], t["valid"]
    model.eval()
    # tiny budget: many batches of mixed sizes, rows reordered by length inside; fp32 so that the
    # row-by-row reference below can be matched exactly (auto may pick bf16 on this CPU)
    probs = predict_probs(model, valid, device="cpu", max_tokens=64, batch_size=4, pad_id=t["pad_id"], bf16=False)
    assert probs.shape == (len(valid), 2) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    with torch.inference_mode():
        for i in range(len(valid)):
            ids = torch.from_numpy(valid.input_ids[i].astype(np.int64))[None]
            one = torch.softmax(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits, -1)[0].numpy()
            np.testing.assert_allclose(probs[i], one, atol=1e-5)


def test_predict_keeps_training_mode_and_reports_progress(task):
    t = task()
    model = t["model"]
    model.train()
    progress = FakeProgress()
    predict_probs(model, t["valid"], device="cpu", pad_id=t["pad_id"], progress=progress)
    assert model.training
    assert progress.total == progress.advanced == len(t["valid"])
