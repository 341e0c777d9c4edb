"""How a shipped model folder meets the Hugging Face loading habits: right, or a loud refusal.

A model with the mean-pooling head (pooled.py) is written as a sentence-transformers model::

    encoder/       the fine-tuned encoder and its tokenizer (a Hugging Face checkpoint)
                   + sentence_bert_config.json (the run's max_length)
    pooling/       sentence-transformers Pooling: the mean over real tokens
    classifier/    sentence-transformers Dense, hidden -> classes, no activation: the logits
    modules.json   encoder -> pooling -> classifier

so ``SentenceTransformer(folder).encode(texts)`` returns the classifier's logits (softmax: its
probabilities; ``ratchet.load`` also applies decision.json). Every folder whose top level is not
a checkpoint ``AutoModelForSequenceClassification`` reads correctly (this one, and the ensemble,
linear and embedding kinds) gets a ``config.json`` with a model type transformers does not
know, whose name says how to load the folder: before it, the Auto classes loaded the encoder
with a random classifier and a warning only (0.14 accuracy on the demo). A model with the
Hugging Face head stays a plain checkpoint that those classes load as trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ratchet.fsutil import write_json

ENCODER_DIR = "encoder"
MEMBERS = "members"
"""Where a folder of several models (the ensemble and routed kinds) keeps them."""
POOLING_DIR = "pooling"
CLASSIFIER_DIR = "classifier"
CLASSIFIER_FILE = "model.safetensors"
REFUSAL_MODEL_TYPE = "ratchet: load this folder with ratchet.load(path), see its README.md"

README = """# A ratchet model folder ({kind})

Load it with ratchet (predictions as in `ratchet predict`, with the run's text cleaning,
calibration and class decisions applied):

```python
import ratchet

model = ratchet.load("{example}")
model.predict(["some text"])        # labels
model.predict_proba(["some text"])  # one column per label in model.classes_
```

or from the shell: `ratchet predict RUN input.csv --out predictions.csv`.
{extra}
`transformers.AutoModelForSequenceClassification` cannot read this folder and says so (its
`config.json` names this loader); it never loads it with a random classifier.
"""

SENTENCE_EXTRA = """
The classifier is also a sentence-transformers model whose output is the logits:

```python
import torch
from sentence_transformers import SentenceTransformer

logits = SentenceTransformer("{example}").encode(["some text"], convert_to_tensor=True)
probs = torch.softmax(logits, -1)  # the fine-tune's own probabilities, before decision.json
```

Label order: `labels.json`. The encoder alone is a Hugging Face checkpoint in `encoder/`.
"""


def refuse_auto_loading(folder: Path, kind: str) -> None:
    """config.json that makes transformers' Auto classes fail with a message naming ratchet.load, and README.md."""
    write_json(folder / "config.json", {"model_type": REFUSAL_MODEL_TYPE, "ratchet_kind": kind})
    extra = SENTENCE_EXTRA.format(example="RUN/model") if (folder / "modules.json").is_file() else ""
    (folder / "README.md").write_text(README.format(kind=kind, example="RUN/model", extra=extra), encoding="utf-8")


def write_mean_classifier(model: Any, tokenizer: Any, folder: Path, max_length: int | None) -> None:
    """The MeanPoolingClassifier ``model`` as the sentence-transformers folder described above."""
    from safetensors.torch import save_file

    encoder = folder / ENCODER_DIR
    model.encoder.save_pretrained(encoder)
    tokenizer.save_pretrained(encoder)
    if max_length:
        write_json(encoder / "sentence_bert_config.json", {"max_seq_length": int(max_length), "do_lower_case": False})
    hidden, classes = int(model.classifier.in_features), int(model.classifier.out_features)
    (folder / POOLING_DIR).mkdir()
    write_json(
        folder / POOLING_DIR / "config.json",
        {"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False,
         "pooling_mode_max_tokens": False},
    )  # fmt: skip
    (folder / CLASSIFIER_DIR).mkdir()
    write_json(
        folder / CLASSIFIER_DIR / "config.json",
        {"in_features": hidden, "out_features": classes, "bias": True,
         "activation_function": "torch.nn.modules.linear.Identity"},
    )  # fmt: skip
    state = {f"linear.{k}": v.detach().contiguous().cpu() for k, v in model.classifier.state_dict().items()}
    save_file(state, str(folder / CLASSIFIER_DIR / CLASSIFIER_FILE))
    modules = [
        {"idx": 0, "name": "0", "path": ENCODER_DIR, "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": POOLING_DIR, "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": CLASSIFIER_DIR, "type": "sentence_transformers.models.Dense"},
    ]
    write_json(folder / "modules.json", modules)
    refuse_auto_loading(folder, "transformer with a mean-pooling head")


def encoder_dir(folder: Path) -> Path:
    """Where a mean-head folder keeps its encoder: encoder/ (or, written before that layout, the folder itself)."""
    return folder / ENCODER_DIR if (folder / ENCODER_DIR / "config.json").is_file() else folder


def head_file(folder: Path) -> tuple[Path, str]:
    """The classifier's weights and their key prefix: classifier/model.safetensors, or the older head.safetensors."""
    from ratchet.models.pooled import HEAD_FILE

    new = folder / CLASSIFIER_DIR / CLASSIFIER_FILE
    return (new, "linear.") if new.is_file() else (folder / HEAD_FILE, "classifier.")


def save_member_folder(out_dir: Path, members: dict[str, Path], labels_from: Path, meta: dict[str, Any]) -> None:
    """A model folder made of complete model folders (the ensemble and routed kinds): ``members/<name>/`` for each
    (hard links where possible), ``labels_from``'s labels.json, ``meta`` as ratchet.json and a config.json that
    refuses Auto loading, written atomically."""
    import shutil

    from ratchet.fsutil import atomic_dir
    from ratchet.shipping import _link_or_copy

    def build(tmp: Path) -> None:
        for name, member in members.items():
            shutil.copytree(member, tmp / MEMBERS / name, copy_function=_link_or_copy)
        shutil.copy2(Path(labels_from) / "labels.json", tmp / "labels.json")
        write_json(tmp / "ratchet.json", meta)
        refuse_auto_loading(tmp, str(meta["kind"]))

    atomic_dir(Path(out_dir), build)
