"""Label-error search for the gated ``relabel`` step (``ratchet.steps.relabel``).

``features`` turns texts into what the cheap learner reads (frozen-encoder embeddings
or TF-IDF), ``oof`` scores every training row out of fold (linear model or fine-tuned
folds), ``issues`` flags and ranks rows with cleanlab and applies a policy, and
``fixes`` reads a person's reviewed ``label_issues.csv`` back (``--label-fixes``).
"""

from ratchet.relabel.fixes import LabelFix, apply_label_fixes, read_label_fixes, reviewed_fingerprints
from ratchet.relabel.issues import LabelIssues, apply_policy, find_issues, issues_table
from ratchet.relabel.oof import finetune_oof, fit_predict, fold_ids, linear_oof

__all__ = [
    "LabelFix",
    "LabelIssues",
    "apply_label_fixes",
    "apply_policy",
    "find_issues",
    "finetune_oof",
    "fit_predict",
    "fold_ids",
    "issues_table",
    "linear_oof",
    "read_label_fixes",
    "reviewed_fingerprints",
]
