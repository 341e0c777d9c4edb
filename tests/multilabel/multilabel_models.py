"""Tiny multi-label model folders whose answers are known: texts whose labels are their cue words.

Shared by the export, serve, explain and compare tests of multi-label models. Each cue word turns on one
label; filler words carry none, so a trained model's label sets (and the words that explain them) are known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = ["politics", "sports", "tech"]
CUES = {"politics": "senate", "sports": "football", "tech": "laptop"}
FILLER = ["the", "a", "of", "and", "to", "in", "is", "it", "that", "was", "for", "on", "with", "as", "by", "at"]


def cue_rows(n: int, seed: int, min_labels: int = 0) -> tuple[list[str], np.ndarray]:
    """``n`` texts of filler words plus the cue word of each of their labels (``min_labels`` to two labels per
    text), and the (n, 3) 0/1 label matrix in LABELS order."""
    rng = np.random.default_rng(seed)
    texts, sets = [], np.zeros((n, len(LABELS)), dtype=np.int64)
    for row in range(n):
        chosen = rng.choice(len(LABELS), size=int(rng.integers(min_labels, 3)), replace=False)
        sets[row, chosen] = 1
        words = [*rng.choice(FILLER, size=int(rng.integers(3, 8))).tolist(), *(CUES[LABELS[j]] for j in chosen)]
        rng.shuffle(words)
        texts.append(" ".join(words))
    return texts, sets


def sharp_sigmoid_folder(base: Path, folder: Path, decision=None) -> Path:
    """An untrained multi-label (sigmoid-head) classifier of ``base``, its head scaled so the probabilities spread
    far from 0.5 (parity tests see every label decided both ways), saved with ``decision`` (a Decision)."""
    import torch

    from ratchet.models.load import load_for_classification, save_classifier

    torch.manual_seed(0)
    model, tokenizer = load_for_classification(str(base), LABELS, multilabel=True)
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 2 and param.shape[0] == len(LABELS):
                param.mul_(40.0)
    save_classifier(model, tokenizer, LABELS, folder, {"max_length": 24})
    if decision is not None:
        decision.save(folder)
    return folder


def trained_sigmoid_folder(root: Path, epochs: int = 200, seed: int = 0) -> Path:
    """A tiny BERT (its tokenizer built from the cue texts) fine-tuned with binary cross-entropy on cue_rows:
    it learns that each cue word turns on its label. Full-batch AdamW."""
    import torch

    from ratchet.models.load import load_for_classification, save_classifier
    from ratchet.models.tiny import build_tiny_model

    # 240 rows: on 120 the 200 full-batch steps ended in a state that 1 and 2 threads' rounding sent apart (IG then
    # credited "football" with politics in one of them); on 240 both thread counts give the same model.
    texts, sets = cue_rows(240, seed=seed)
    base = build_tiny_model("bert", texts, root / "tiny-bert", seed=seed)
    torch.manual_seed(seed)
    model, tokenizer = load_for_classification(str(base), LABELS, multilabel=True)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    targets = torch.tensor(sets, dtype=torch.float32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        optimizer.zero_grad()
        logits = model(**batch).logits
        torch.nn.functional.binary_cross_entropy_with_logits(logits, targets).backward()
        optimizer.step()
    model.eval()
    folder = root / "trained"
    save_classifier(model, tokenizer, LABELS, folder, {"max_length": 32})
    return folder


def one_vs_rest_folder(folder: Path, decision=None) -> Path:
    """The TF-IDF one-vs-rest baseline trained on cue_rows, saved as ratchet saves it."""
    from ratchet.models.linear import LinearTextModel
    from ratchet.models.linear_folder import save_linear

    texts, sets = cue_rows(150, seed=3)
    save_linear(LinearTextModel().fit(texts, sets, len(LABELS)), LABELS, folder, {})
    if decision is not None:
        decision.save(folder)
    return folder
