"""Which steps handle label sets, and why the others are skipped on a multi-label run.

The pipeline asks before running each step once the split has marked the task multi-label
(2-D judged labels): a step listed here is skipped with its reason in the ledger instead of
running and treating a label set as one class (never silently wrong).
"""

from __future__ import annotations

UNSUPPORTED: dict[str, str] = {
    "select": "candidate selection compares single-label fine-tunes only",
    "search": "the hyperparameter search scores single-label trials only",
    "adapt": "domain adaptation is not judged for multi-label runs yet",
    "ensemble": "seed ensembles average single-label probabilities only",
    "selftrain": "pseudo-labels are single classes",
    "compress": "int8 and student models are judged on single-label probabilities only",
    "chunk": "training on windows is wired for one label per text only",
    "embed": "the embedding model's head is a softmax logistic regression",
    "refit_all": "refitting on the sealed rows is not wired for label sets yet",
}


def multilabel_unsupported(step: str) -> str | None:
    """The reason ``step`` is skipped on a multi-label run, or None when it handles label sets."""
    reason = UNSUPPORTED.get(step)
    return None if reason is None else f"not supported for multi-label runs yet: {reason}"
