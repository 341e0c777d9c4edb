"""A mean-pooling classification head for sentence-embedding checkpoints.

Sentence-transformers models such as the default all-MiniLM-L6-v2 were trained to be read
through the mean of their token states; their [CLS] state and BERT pooler were never trained
for that. ``AutoModelForSequenceClassification`` classifies from the pooler, so fine-tuning
such a checkpoint first has to teach a [CLS] summary from scratch (validation macro-F1 on
the drug reviews went 0.26, 0.11, 0.39, 0.42 by epoch). Reading the mean instead starts the
head on features the checkpoint was built to produce.

The head is used when the checkpoint's own sentence-transformers files (``modules.json``
with a ``Pooling`` module) say mean pooling; every other checkpoint keeps its Hugging Face
head. A saved model is a sentence-transformers folder: the encoder checkpoint in ``encoder/``,
mean pooling, and the classifier as a Dense layer (folder_layout.py); folders written before
that layout are the encoder checkpoint plus ``head.safetensors`` and still load.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers.modeling_outputs import SequenceClassifierOutput

HEAD_FILE = "head.safetensors"
MEAN = "mean"
# The files that make a folder a sentence-transformers model; copied along when the encoder is re-saved.
SENTENCE_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")


def sentence_pooling(path: str | Path) -> str | None:
    """ "mean" when ``path`` is a sentence-transformers folder whose Pooling module averages tokens, else None."""
    folder = Path(path)
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        pooling = next(m for m in modules if str(m.get("type", "")).endswith("Pooling"))
        config = json.loads((folder / pooling["path"] / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, StopIteration, KeyError, TypeError, AttributeError):
        return None
    return MEAN if config.get("pooling_mode_mean_tokens") else None


def copy_sentence_files(source: str | Path, target: Path) -> None:
    """Carry a sentence-transformers folder's module files over, so the re-saved encoder keeps its pooling."""
    import shutil

    source = Path(source)
    if sentence_pooling(source) is None:
        return
    for name in SENTENCE_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    for module in json.loads((source / "modules.json").read_text(encoding="utf-8")):
        sub = str(module.get("path", ""))
        if sub and (source / sub).is_dir():
            shutil.copytree(source / sub, target / sub, dirs_exist_ok=True)


class MeanPoolingClassifier(torch.nn.Module):
    """encoder -> mean over real tokens -> dropout -> linear; quacks like a Hugging Face classifier.

    It answers ``model(**inputs).logits``, ``.config.num_labels``, ``save_pretrained`` and the
    embedding-resize calls the rest of ratchet makes on a ``*ForSequenceClassification`` model.
    """

    def __init__(self, encoder: torch.nn.Module, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = encoder.config
        hidden = int(getattr(self.config, "hidden_size", 0) or self.config.d_model)
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(hidden, num_labels)
        std = float(getattr(self.config, "initializer_range", 0.02))
        torch.nn.init.normal_(self.classifier.weight, std=std)
        torch.nn.init.zeros_(self.classifier.bias)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **inputs: torch.Tensor,
    ) -> SequenceClassifierOutput:
        pooled = self.pool(input_ids=input_ids, attention_mask=attention_mask, **inputs)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None and getattr(self.config, "problem_type", None) == "multi_label_classification":
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float())
        elif labels is not None:
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def pool(
        self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None, **inputs: torch.Tensor
    ) -> torch.Tensor:
        """The sentence embedding the classifier reads: the encoder's mean over real tokens (the few-shot
        candidate trains and fits its head on exactly this)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **inputs)[0]
        if attention_mask is None:  # the collator drops an all-ones mask: every position is a real token
            return hidden.mean(dim=1)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    # --- the parts of the PreTrainedModel surface ratchet uses
    def get_input_embeddings(self) -> torch.nn.Module:
        return self.encoder.get_input_embeddings()

    def resize_token_embeddings(self, new_num_tokens: int, **kwargs) -> torch.nn.Module:
        return self.encoder.resize_token_embeddings(new_num_tokens, **kwargs)

    def save_pretrained(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        self.encoder.save_pretrained(folder)
        head = {f"classifier.{k}": v.detach().contiguous().cpu() for k, v in self.classifier.state_dict().items()}
        save_file(head, str(Path(folder) / HEAD_FILE))

    @classmethod
    def from_folder(cls, folder: str | Path, encoder: torch.nn.Module) -> MeanPoolingClassifier:
        from safetensors.torch import load_file

        from ratchet.models.folder_layout import head_file

        model = cls(encoder, int(encoder.config.num_labels))
        path, prefix = head_file(Path(folder))
        state = {k.removeprefix(prefix): v for k, v in load_file(str(path)).items()}
        model.classifier.load_state_dict(state)
        return model
