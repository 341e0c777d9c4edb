"""Each step's parameters: frozen dataclasses with attribute docstrings, validated on creation.

``RunConfig`` (ratchet.config) nests one of each; YAML is their serialized form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ratchet.errors import RatchetError


def check_share(key: str, value: float, *, low: float = 0.0, high: float = 1.0, high_open: bool = True) -> None:
    """Probability-like settings: a value outside [low, high) (or [low, high]) is refused, naming the key."""
    inside = low <= value < high if high_open else low <= value <= high
    if not inside:
        upper = f"below {high}" if high_open else f"at most {high}"
        raise RatchetError(f"{key}={value} is out of range: use a value from {low} and {upper}")


def check_at_least(key: str, value: float, minimum: float) -> None:
    if value < minimum:
        raise RatchetError(f"{key}={value} is out of range: use {minimum} or more")


@dataclass(frozen=True)
class DataParams:
    text_col: str | None = None
    """Column holding the text; auto-detected from text/sentence/review/content when None."""
    text_pair_col: str | None = None
    """Optional second text column for sentence-pair tasks."""
    label_col: str | None = None
    """Column holding the label; auto-detected from label/labels/sentiment/target/rating when None."""
    label_sep: str | None = None
    """Multi-label: the label column holds several labels joined by this separator (e.g. "|")."""
    label_cols: tuple[str, ...] | None = None
    """Multi-label: 0/1 indicator columns, one per label (the column names are the labels)."""
    valid_size: float = 0.15
    """Share of the labeled pool held out for validation (stratified)."""
    test_size: float = 0.2
    """Share held out as the sealed test when no ``--test`` file is given."""

    def __post_init__(self) -> None:
        if self.label_cols is not None and (self.label_col is not None or self.label_sep is not None):
            raise RatchetError("--label-cols replaces --label-col and --label-sep: pass one way of giving labels")
        for name in ("valid_size", "test_size"):
            value = getattr(self, name)
            if not 0.0 < value < 0.5:
                raise RatchetError(f"data.{name}={value} is out of range: use a share between 0 and 0.5")


@dataclass(frozen=True)
class CleanParams:
    fix_unicode: bool = True
    """Repair mojibake with ftfy, then NFC-normalize."""
    unescape_html: bool = True
    """Turn HTML entities (``&#039;``) into characters."""
    strip_wrapping_quotes: bool = True
    """Remove quote runs that wrap a whole text (``\"\"\"text\"\"\"``) when the text holds no other quote."""
    collapse_whitespace: bool = True
    """Turn every run of whitespace (newlines included) into one space and trim the ends."""
    merge_duplicates: bool = True
    """Merge exact duplicate texts (same text and pair); conflicting labels are resolved by majority."""
    near_duplicate_threshold: float = 0.9
    """Jaccard similarity (word shingles) above which two texts count as near-duplicates."""
    near_duplicates: bool = True
    """Find near-duplicate groups (reported, kept within one split) and near-copies of test texts
    (removed from train and valid, never from test)."""

    def __post_init__(self) -> None:
        # Below 0.5 LSH must compare a large share of all pairs: the search turns quadratic.
        if not 0.5 <= self.near_duplicate_threshold <= 1.0:
            raise RatchetError(
                f"clean.near_duplicate_threshold={self.near_duplicate_threshold} is out of range: use 0.5 to 1.0"
            )


@dataclass(frozen=True)
class TrainParams:
    epochs: float = 5.0
    """Maximum number of passes over the training split (early stopping may end sooner)."""
    min_steps: int = 150
    """Fewest optimizer steps a fit trains: a schedule whose epochs give fewer (small data) is stretched to
    this many steps, its evaluations spread over it as the configured epochs have them (training.schedule).
    0: the epochs alone decide. On 100 TREC texts (the development set) 5 epochs (35 steps) scored test
    macro-F1 0.541, 150 steps 0.714, 300 steps 0.716; 300 stretched the demo's folds (600 rows, 150 steps)
    too, 18 minutes of wall instead of 7 for +0.007 on its test, so the floor stays at 150."""
    learning_rate: float = 2e-4
    """Peak learning rate of AdamW after linear warmup. Small data sets give few steps: at 5e-5 the
    default MiniLM stayed at the majority class on the 510 drug-review training rows after 4 epochs;
    2e-4 learned (validation macro-F1 0.26 -> 0.40 over 5 epochs)."""
    batch_size: int = 16
    """Upper bound on sequences per batch."""
    max_tokens: int = 4096
    """Token budget per batch (sequences x padded length); batches are built from length buckets."""
    max_length: int = 256
    """Texts are truncated to this many tokens."""
    warmup_share: float = 0.1
    """Share of optimizer steps spent warming the learning rate up linearly from zero."""
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value (0 disables)."""
    grad_accum: int = 1
    """Optimizer step every N batches."""
    class_weighted: bool = True
    """Weight the loss by inverse class frequency (the target is macro-F1, so rare classes count)."""
    label_smoothing: float = 0.0
    dropout: float | None = None
    """Override the backbone's hidden dropout when set."""
    patience: int = 2
    """Stop after this many evaluations without a validation macro-F1 gain; the best checkpoint is restored."""
    evals_per_epoch: int = 1
    """Validation evaluations per epoch (early stopping granularity); a schedule stretched to min_steps keeps
    their number, ``epochs`` x this, spread over its steps."""
    checkpoint_every: int = 50
    """Save a resumable checkpoint every N optimizer steps (and at every evaluation)."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """auto: bf16 autocast where native (CUDA; CPUs with AVX512-BF16 or AMX: 1.43x faster than fp32 on 2
    cores, same validation macro-F1), else fp32. fp32 forces full precision everywhere."""
    compile: bool = False
    """Use torch.compile (pays off on GPU with bucketed shapes)."""
    frozen_layers: int = -1
    """Keep the embeddings and this many lower encoder layers at their pretrained weights, compute their
    output once per text for the whole run (every fold, seed and refit share it), and train only the layers
    above (BERT-style encoders; others train every layer). -1: two thirds of the layers of an encoder with
    six or more (4 of the default MiniLM's 6); 0: train every layer. On two cross-fitted folds of the drug
    reviews (240 held-out rows), 4 frozen layers scored macro-F1 0.488 in 228 s, every layer trained 0.473
    in 596 s, 3 frozen 0.463, 5 frozen 0.474."""
    log_every: int = 10
    """Gather loss and throughput from the device every N steps (no per-step host sync)."""

    def __post_init__(self) -> None:
        if self.epochs <= 0 or self.learning_rate <= 0 or self.batch_size < 1 or self.max_length < 8:
            raise RatchetError("train params out of range: epochs, learning_rate > 0; batch_size >= 1; max_length >= 8")
        if self.max_tokens < self.max_length:
            raise RatchetError(f"train.max_tokens={self.max_tokens} is below train.max_length: raise it")
        check_share("train.warmup_share", self.warmup_share)
        check_share("train.label_smoothing", self.label_smoothing)
        if self.dropout is not None:
            check_share("train.dropout", self.dropout)
        for name in ("weight_decay", "grad_clip"):
            check_at_least(f"train.{name}", getattr(self, name), 0.0)
        check_at_least("train.min_steps", self.min_steps, 0)
        for name in ("grad_accum", "patience", "evals_per_epoch", "checkpoint_every", "log_every"):
            check_at_least(f"train.{name}", getattr(self, name), 1)
        check_at_least("train.frozen_layers", self.frozen_layers, -1)


@dataclass(frozen=True)
class GateParams:
    metric: str = "macro_f1"
    """Validation metric the ratchet rule judges with."""
    multilabel_metric: str = "micro_f1"
    """The metric of multi-label runs instead of ``metric``: micro_f1, macro_f1, samples_f1, subset_accuracy,
    hamming_loss or log_loss."""
    min_gain: float = 0.0
    """A candidate is kept only if its gain over the incumbent exceeds this value..."""
    confidence: float = 0.8
    """...and the paired bootstrap gives at least this probability that the gain is positive."""
    n_bootstrap: int = 2000
    """Bootstrap resamples of the judged rows."""
    fold_test: Literal["required", "recorded"] = "required"
    """Cross-fitted judging: "required" also asks the corrected resampled t-test of the fold gains for
    p <= 1 - confidence (the row bootstrap alone kept another seed of the same fine-tune in 3 of 5 runs on
    TREC: it cannot see the variance of training); "recorded" only writes it beside the bootstrap's verdict."""
    folds: int | str = "auto"
    """Cross-fitted judging: "auto" (``crossfit_folds`` folds when the labeled rows outside the sealed test
    are fewer than ``crossfit_below``, else the holdout split), a number of folds (2 or more), or "holdout"."""
    crossfit_folds: int = 5
    """Folds of "auto" cross-fitting."""
    crossfit_below: int = 5000
    """"auto" cross-fits below this many train+valid rows; above, one holdout split has the power and costs k
    times less."""
    fold_workers: int | str = "auto"
    """Fold fits at once, each in a forked process with its share of the CPU threads: "auto" is 2 on a Linux CPU
    (two single-thread fits train about 1.2x faster than one two-thread fit) and 1 on an accelerator."""
    ship: Literal["refit", "folds"] = "refit"
    """Cross-fitted runs: "refit" ships the chosen recipe refit on every train+valid row; "folds" ships the k
    fold models as an ensemble (no refit; its only estimate is the sealed test, as no row is held out from it)."""

    def __post_init__(self) -> None:
        from ratchet.evaluation.metric_names import check_metric, check_multilabel_metric

        object.__setattr__(self, "metric", check_metric(self.metric))
        object.__setattr__(self, "multilabel_metric", check_multilabel_metric(self.multilabel_metric))
        # 0 keeps every gain above min_gain (a permissive gate, as benchmarks use); 1 is never reached.
        check_share("gate.confidence", self.confidence)
        check_share("gate.min_gain", self.min_gain, low=-1.0, high=1.0, high_open=False)
        check_at_least("gate.n_bootstrap", self.n_bootstrap, 100)
        if self.fold_test not in ("required", "recorded"):
            raise RatchetError(f"gate.fold_test={self.fold_test!r} is not understood: use required or recorded")
        if self.folds not in ("auto", "holdout") and not (isinstance(self.folds, int) and self.folds >= 1):
            raise RatchetError(f"gate.folds={self.folds!r} is not understood: use auto, holdout or a number of folds")
        check_at_least("gate.crossfit_folds", self.crossfit_folds, 2)
        if self.fold_workers != "auto" and not (isinstance(self.fold_workers, int) and self.fold_workers >= 1):
            raise RatchetError(f"gate.fold_workers={self.fold_workers!r} is not understood: use auto or a number >= 1")
        check_at_least("gate.crossfit_below", self.crossfit_below, 0)

    def fold_count(self, pool_rows: int) -> tuple[int, str]:
        """(folds, why): 1 for the holdout split, k >= 2 for cross-fitting ``pool_rows`` train+valid rows."""
        if self.folds == "holdout" or self.folds == 1:
            return 1, "gate.folds=holdout"
        if isinstance(self.folds, int):
            return self.folds, f"gate.folds={self.folds}"
        threshold = f"gate.crossfit_below={self.crossfit_below}"
        if pool_rows < self.crossfit_below:
            return self.crossfit_folds, f"{pool_rows} train+valid rows, fewer than {threshold}"
        return 1, f"{pool_rows} train+valid rows: one holdout split has the power ({threshold})"


@dataclass(frozen=True)
class RelabelParams:
    folds: int = 5
    """Folds for out-of-fold probabilities."""
    mode: Literal["fast", "thorough"] = "fast"
    """fast: frozen-encoder embeddings + linear model; thorough: fine-tuned folds (falls back to fast
    when the time budget cannot fit them)."""
    policy: Literal["drop", "relabel", "weight"] = "drop"
    """What to do with flagged training rows."""
    label_fixes: str | None = None
    """CSV of reviewed label issues (accept column), applied to training rows by the split step."""
    features: Literal["auto", "embeddings", "tfidf"] = "auto"
    """Features of the fast learner. embeddings: frozen-encoder embeddings (out-of-fold scores averaged
    with a TF-IDF model's); auto: the same unless embedding would overrun the time budget, then TF-IDF
    alone (what a CPU gets for 100k+ rows); tfidf: TF-IDF alone."""
    gate_metric: str = "neg_log_loss"
    """Metric the ratchet rule compares the gate learner's two fits (original vs cleaned training set) by.
    "run" uses the run's gate.metric. neg_log_loss reads every row's probabilities, not just its argmax."""

    def __post_init__(self) -> None:
        if self.gate_metric != "run":
            from ratchet.evaluation.metric_names import check_metric

            object.__setattr__(self, "gate_metric", check_metric(self.gate_metric))
        if self.folds < 2:
            raise RatchetError(f"relabel.folds={self.folds} must be at least 2: use 5")


@dataclass(frozen=True)
class SelectParams:
    eta: int = 2
    """Successive halving keeps 1/eta of candidates per rung."""
    include_default: bool = True
    """Add the default model to the --model candidates."""
    include_linear: bool = True
    """Add the TF-IDF baseline as a candidate: if no transformer beats it, it ships."""

    def __post_init__(self) -> None:
        if self.eta < 2:
            raise RatchetError(f"select.eta={self.eta} must be at least 2: use 2 or 3")


@dataclass(frozen=True)
class SearchParams:
    n_trials: int | None = None
    """Optuna trials, the configured parameters' trial included (the budget may stop the search
    sooner); None = the preset's: balanced 12, best 30."""
    storage: str | None = None
    """Optuna storage URL; an SQLite file in the run folder when None."""
    seeds: int | None = None
    """Seeds of the ensemble step (the shipped fine-tune counts as one); the ledger shows their spread.
    None = the preset's: balanced 2, best 3, fast with --ensemble 3."""
    ensemble: bool = False
    """Add the ensemble step to a preset that lacks it (fast): the seeds' averaged probabilities ship if the
    ratchet rule keeps them."""

    def __post_init__(self) -> None:
        if self.n_trials is not None and self.n_trials < 1:
            raise RatchetError(f"search.n_trials={self.n_trials} must be at least 1")
        if self.seeds is not None and self.seeds < 1:
            raise RatchetError(f"search.seeds={self.seeds} must be at least 1")
